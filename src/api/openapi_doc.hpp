#pragma once
#include <string_view>

namespace hookd::api {
//! The OpenAPI 3.1 document (src/api/openapi.json, embedded at build time).
std::string_view OpenApiDocument();
}  // namespace hookd::api
