#include "core/metrics.hpp"

#include <cstdio>

namespace hookd {

void Metrics::AttemptFinished(bool ok, double seconds, int final_state) {
    (ok ? attempts_ok_ : attempts_failed_)++;
    if (final_state == 1) deliveries_succeeded_++;
    if (final_state == 2) deliveries_failed_++;
    for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
        if (seconds <= kLatencyBuckets[i]) latency_buckets_[i]++;
    }
    latency_count_++;
    latency_sum_us_ += static_cast<std::uint64_t>(seconds * 1e6);
}

std::string Metrics::Render(std::int64_t queue_depth) const {
    std::string out;
    char line[256];
    auto add = [&](const char* fmt, auto... args) {
        if constexpr (sizeof...(args) == 0) {
            out += fmt;
        } else {
            std::snprintf(line, sizeof line, fmt, args...);
            out += line;
        }
    };
    add("# HELP hookd_events_accepted_total Change events durably accepted.\n# TYPE hookd_events_accepted_total counter\n");
    add("hookd_events_accepted_total %llu\n", static_cast<unsigned long long>(events_accepted_.load()));
    add("# HELP hookd_deliveries_created_total Deliveries created for matching webhooks.\n"
        "# TYPE hookd_deliveries_created_total counter\n");
    add("hookd_deliveries_created_total %llu\n", static_cast<unsigned long long>(deliveries_created_.load()));
    add("# HELP hookd_deliveries_total Deliveries that reached a final state, by outcome.\n"
        "# TYPE hookd_deliveries_total counter\n");
    add("hookd_deliveries_total{outcome=\"succeeded\"} %llu\n",
        static_cast<unsigned long long>(deliveries_succeeded_.load()));
    add("hookd_deliveries_total{outcome=\"failed\"} %llu\n", static_cast<unsigned long long>(deliveries_failed_.load()));
    add("# HELP hookd_attempts_total HTTP attempts, by result.\n# TYPE hookd_attempts_total counter\n");
    add("hookd_attempts_total{result=\"success\"} %llu\n", static_cast<unsigned long long>(attempts_ok_.load()));
    add("hookd_attempts_total{result=\"failure\"} %llu\n", static_cast<unsigned long long>(attempts_failed_.load()));
    add("# HELP hookd_attempt_duration_seconds Duration of HTTP attempts.\n"
        "# TYPE hookd_attempt_duration_seconds histogram\n");
    for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
        add("hookd_attempt_duration_seconds_bucket{le=\"%g\"} %llu\n", kLatencyBuckets[i],
            static_cast<unsigned long long>(latency_buckets_[i].load()));
    }
    add("hookd_attempt_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
        static_cast<unsigned long long>(latency_count_.load()));
    add("hookd_attempt_duration_seconds_sum %.6f\n", static_cast<double>(latency_sum_us_.load()) / 1e6);
    add("hookd_attempt_duration_seconds_count %llu\n", static_cast<unsigned long long>(latency_count_.load()));
    add("# HELP hookd_queue_depth Pending deliveries.\n# TYPE hookd_queue_depth gauge\n");
    add("hookd_queue_depth %lld\n", static_cast<long long>(queue_depth));
    add("# HELP hookd_in_flight HTTP requests in flight.\n# TYPE hookd_in_flight gauge\n");
    add("hookd_in_flight %lld\n", static_cast<long long>(in_flight_.load()));
    return out;
}

}  // namespace hookd
