#include "api/openapi_doc.hpp"

#include "core/embedded_file.hpp"

namespace hookd::api::openapi_assets {
const std::vector<hookd::EmbeddedFile>& Files();
}

namespace hookd::api {
std::string_view OpenApiDocument() { return openapi_assets::Files().front().data; }
}  // namespace hookd::api
