#pragma once
// Text that is safe to store and show: valid UTF-8, bounded.
#include <string>
#include <string_view>
#include <vector>

namespace hookd {

//! Valid UTF-8 from arbitrary bytes (invalid sequences become U+FFFD), cut at `max`
//! bytes without splitting a character.
[[nodiscard]] std::string ValidUtf8(std::string_view bytes, std::size_t max);

//! The non-empty '/'-separated segments of a URL path, as they are (not decoded).
[[nodiscard]] std::vector<std::string_view> PathSegments(std::string_view path);

}  // namespace hookd
