#include "cli/default_catalogue.hpp"

#include "core/embedded_file.hpp"

namespace hookd::cli::catalogue_assets {
const std::vector<hookd::EmbeddedFile>& Files();
}

namespace hookd::cli {
std::string_view DefaultCatalogueJson() { return catalogue_assets::Files().front().data; }
}  // namespace hookd::cli
