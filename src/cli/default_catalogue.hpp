#pragma once
#include <string_view>

namespace hookd::cli {
//! The default 140-entity catalogue (data/catalog.json, embedded at build time).
std::string_view DefaultCatalogueJson();
}  // namespace hookd::cli
