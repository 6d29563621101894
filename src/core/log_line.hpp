#pragma once
// One log record as a JSON object on one line (`hookd serve --log-format json`). Pure:
// no I/O, no logging library; src/cli/logging.cpp feeds it spdlog's records.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/time.hpp"

namespace hookd {

//! {"time":"<RFC 3339 UTC, ms>","level":"<level>","message":"<message>",...,"thread":<tid>}
//! plus, when the message names them, "site" (after the word `site ` or in a path
//! `/sites/<site>`), "webhook" (a wh_ id), "delivery" (dlv_), "event" (evt_) and "token"
//! (a tok_ id: the token's id, never its secret). The first of each kind is taken. Strings
//! are JSON-escaped (control characters as \uXXXX); the line has no trailing newline.
[[nodiscard]] std::string JsonLogLine(TimeMs time, std::string_view level, std::string_view message,
                                      std::uint64_t thread_id);

}  // namespace hookd
