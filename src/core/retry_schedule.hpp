#pragma once
// The retry schedule as data: delays before attempt 1, 2, … ; its length is the
// number of attempts. Default: 0s,5s,30s,2m,10m,30m,1h,3h,6h,12h,24h.
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/time.hpp"

namespace hookd {

//! A source of uniform doubles in [0, 1); injected so jitter is testable.
using RandomSource = std::function<double()>;
[[nodiscard]] RandomSource DefaultRandomSource();

class RetrySchedule final {
public:
    static constexpr double kDefaultJitter = 0.1;  //!< ±10 %
    static constexpr DurationMs kMaxRetryAfter = 3'600'000;  //!< Retry-After is honoured up to 1 h

    static RetrySchedule Default();
    //! "0s,1s,2s" → three attempts. Errors on an empty list or a bad duration.
    static Result<RetrySchedule> Parse(std::string_view text);
    explicit RetrySchedule(std::vector<DurationMs> delays, double jitter = kDefaultJitter)
        : delays_(std::move(delays)), jitter_(jitter) {}

    //! The delay before the next attempt after `attempts_done` attempts failed, with
    //! jitter; nullopt when the schedule is exhausted (the delivery fails).
    //! `retry_after` (from a 429/503) raises the delay, capped at kMaxRetryAfter.
    [[nodiscard]] std::optional<DurationMs> NextDelay(int attempts_done, const RandomSource& random,
                                                      std::optional<DurationMs> retry_after = std::nullopt) const;
    [[nodiscard]] std::size_t attempts() const { return delays_.size(); }
    [[nodiscard]] const std::vector<DurationMs>& delays() const { return delays_; }

private:
    std::vector<DurationMs> delays_;
    double jitter_;
};

}  // namespace hookd
