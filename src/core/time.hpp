#pragma once
// Time as integer milliseconds since the Unix epoch, UTC.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hookd {

using TimeMs = std::int64_t;
using DurationMs = std::int64_t;

//! The source of "now"; injected so retry timing can be tested exactly.
class Clock {
public:
    virtual ~Clock() = default;
    [[nodiscard]] virtual TimeMs Now() const = 0;
};

//! Wall clock (system_clock).
class SystemClock final : public Clock {
public:
    [[nodiscard]] TimeMs Now() const override;
};

//! RFC 3339 UTC with milliseconds: 2026-11-28T15:50:24.123Z
[[nodiscard]] std::string FormatTime(TimeMs t);
//! Parses RFC 3339 (Z or ±hh:mm offset, optional fraction). nullopt when malformed.
[[nodiscard]] std::optional<TimeMs> ParseTime(std::string_view s);
//! Parses "15s", "2m", "1h", "500ms", "0s". nullopt when malformed.
[[nodiscard]] std::optional<DurationMs> ParseDuration(std::string_view s);
//! Formats a duration the way ParseDuration reads it ("5s", "2m", "1h").
[[nodiscard]] std::string FormatDuration(DurationMs d);

}  // namespace hookd
