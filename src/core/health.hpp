#pragma once
// A webhook's health at a glance: attempts per interval split by what they did to their
// delivery, and their latency as a fixed histogram (so hourly counters add up and
// percentiles come from any sum of hours). Pure.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/domain.hpp"

namespace hookd::health {

//! Upper bounds (inclusive, ms) of the latency buckets; one more bucket holds the rest.
//! Part of the on-disk format (the columns l0..l15 of the hourly counters): never change.
inline constexpr std::array<std::int64_t, 15> kLatencyBoundsMs = {5,   10,  20,   35,   50,   75,    100,  150,
                                                                  250, 500, 1000, 2500, 5000, 10000, 20000};
inline constexpr std::size_t kLatencyBuckets = kLatencyBoundsMs.size() + 1;
//! Where the last bucket ends for estimates: the longest timeout a webhook can have.
inline constexpr std::int64_t kLatencyCeilingMs = 60'000;
using LatencyHistogram = std::array<std::int64_t, kLatencyBuckets>;

//! The bucket of a duration.
[[nodiscard]] std::size_t LatencyBucket(std::int64_t duration_ms);

//! The q-quantile (0 < q ≤ 1) estimated from a histogram: the bucket holding the
//! ceil(q·n)-th duration, interpolated linearly inside it. nullopt when empty. The error
//! is at most that bucket's width.
[[nodiscard]] std::optional<std::int64_t> Percentile(const LatencyHistogram& h, double q);

//! What an attempt did to its delivery.
enum class AttemptKind : std::uint8_t {
    kSucceeded,  //!< 2xx: the delivery succeeded
    kRetried,    //!< failed, another attempt is scheduled
    kFailed,     //!< failed, and the delivery with it (no attempts left, or a test message)
};

//! Attempts over some time: counts by kind and the latency of those that got an answer.
struct Counts {
    std::int64_t succeeded = 0;
    std::int64_t retried = 0;
    std::int64_t failed = 0;
    LatencyHistogram latency{};  //!< attempts with an HTTP answer or a timeout

    [[nodiscard]] std::int64_t attempts() const { return succeeded + retried + failed; }
    void Add(const Counts& other);
    //! Counts one attempt. `answered`: it got an HTTP status or timed out (its duration
    //! then says how fast the receiver is; a refused connection says nothing about it).
    void Record(AttemptKind kind, std::int64_t duration_ms, bool answered);
    //! succeeded / attempts; nullopt without attempts.
    [[nodiscard]] std::optional<double> SuccessRatio() const;
};

//! The kind of an attempt from the delivery state its outcome leaves.
[[nodiscard]] AttemptKind KindOf(DeliveryState state_after);
//! Whether an attempt's duration measures the receiver (see Counts::Record).
[[nodiscard]] bool Answered(const Attempt& a);

inline constexpr TimeMs kHourMs = 3'600'000;
//! The start of the UTC hour holding `t`.
[[nodiscard]] constexpr TimeMs HourOf(TimeMs t) { return t - ((t % kHourMs) + kHourMs) % kHourMs; }

//! Counts of one webhook in one hour, as the store keeps them.
struct Hour {
    TimeMs start = 0;  //!< HourOf(...)
    Counts counts;
};

//! A window cut into equal intervals ending with the one holding `now`: 24 h is 24 × 1 h,
//! 7 d is 28 × 6 h. Intervals are aligned to multiples of their length since the epoch.
struct Window {
    TimeMs interval_ms = kHourMs;
    int intervals = 24;
    [[nodiscard]] TimeMs Start(TimeMs now) const;  //!< start of the first interval
};
inline constexpr Window kDay{kHourMs, 24};
inline constexpr Window kWeek{6 * kHourMs, 28};

//! Sums `hours` into the window's intervals (index 0 = oldest); hours outside are ignored.
[[nodiscard]] std::vector<Counts> Bucket(std::span<const Hour> hours, const Window& window, TimeMs now);

}  // namespace hookd::health
