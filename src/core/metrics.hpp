#pragma once
// Process-wide counters rendered as Prometheus text at /metrics. Thread-safe (atomics).
#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace hookd {

class Metrics final {
public:
    static constexpr std::array<double, 12> kLatencyBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                               0.1,   0.25,   0.5,   1.0,  2.5,   10.0};
    void EventsAccepted(std::uint64_t n) { events_accepted_ += n; }
    void DeliveriesCreated(std::uint64_t n) { deliveries_created_ += n; }
    //! One attempt finished: `ok` for 2xx; `final_state` 0 none, 1 succeeded, 2 failed.
    void AttemptFinished(bool ok, double seconds, int final_state);
    void SetInFlight(std::int64_t n) { in_flight_ = n; }

    //! Prometheus text exposition; `queue_depth` is the number of pending deliveries.
    [[nodiscard]] std::string Render(std::int64_t queue_depth) const;

private:
    std::atomic<std::uint64_t> events_accepted_{0};
    std::atomic<std::uint64_t> deliveries_created_{0};
    std::atomic<std::uint64_t> attempts_ok_{0};
    std::atomic<std::uint64_t> attempts_failed_{0};
    std::atomic<std::uint64_t> deliveries_succeeded_{0};
    std::atomic<std::uint64_t> deliveries_failed_{0};
    std::atomic<std::int64_t> in_flight_{0};
    std::array<std::atomic<std::uint64_t>, kLatencyBuckets.size()> latency_buckets_{};
    std::atomic<std::uint64_t> latency_count_{0};
    std::atomic<std::uint64_t> latency_sum_us_{0};
};

}  // namespace hookd
