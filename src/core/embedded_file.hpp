#pragma once
#include <string_view>
#include <vector>

namespace hookd {

//! A file compiled into the binary by cmake/Embed.cmake.
struct EmbeddedFile {
    std::string_view path;  //!< relative to the embedded folder, e.g. "index.html"
    std::string_view data;
};

}  // namespace hookd
