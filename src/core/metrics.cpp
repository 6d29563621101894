#include "core/metrics.hpp"

#include <cstdio>

namespace hookd {

namespace {

// A label value in the text format: backslash, double quote and newline escaped.
std::string LabelValue(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace

void Metrics::AttemptFinished(std::string_view site, std::string_view webhook, bool ok, double seconds,
                              int final_state) {
    (ok ? attempts_ok_ : attempts_failed_)++;
    if (final_state == 1) deliveries_succeeded_++;
    if (final_state == 2) deliveries_failed_++;
    for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
        if (seconds <= kLatencyBuckets[i]) latency_buckets_[i]++;
    }
    latency_count_++;
    latency_sum_us_ += static_cast<std::uint64_t>(seconds * 1e6);
    if (!ok) {
        std::lock_guard lock(webhook_mu_);
        auto key = std::make_pair(std::string(site), std::string(webhook));
        if (auto it = webhook_failures_.find(key); it != webhook_failures_.end()) {
            ++it->second;
        } else if (webhook_failures_.size() < kMaxWebhookSeries) {
            webhook_failures_.emplace(std::move(key), 1);
        }
    }
}

std::string Metrics::Render(const StoreGauges& store) const {
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
    add("# HELP hookd_build_info The running hookd's version (always 1).\n# TYPE hookd_build_info gauge\n");
    add("hookd_build_info{version=\"%s\"} 1\n", HOOKD_VERSION);
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
    add("# HELP hookd_webhook_attempt_failures_total Failed HTTP attempts, by site and webhook.\n"
        "# TYPE hookd_webhook_attempt_failures_total counter\n");
    {
        std::lock_guard lock(webhook_mu_);
        for (const auto& [key, n] : webhook_failures_) {
            out += "hookd_webhook_attempt_failures_total{site=\"" + LabelValue(key.first) + "\",webhook=\"" +
                   LabelValue(key.second) + "\"} " + std::to_string(n) + "\n";
        }
    }
    add("# HELP hookd_webhooks_disabled_total Webhooks this node disabled, by reason.\n"
        "# TYPE hookd_webhooks_disabled_total counter\n");
    add("hookd_webhooks_disabled_total{reason=\"gone\"} %llu\n", static_cast<unsigned long long>(disabled_gone_.load()));
    add("hookd_webhooks_disabled_total{reason=\"failing\"} %llu\n",
        static_cast<unsigned long long>(disabled_failing_.load()));
    add("# HELP hookd_store_up Whether the store answered this scrape (1) or not (0).\n# TYPE hookd_store_up gauge\n");
    add("hookd_store_up %d\n", store.up ? 1 : 0);
    add("# HELP hookd_queue_depth Pending deliveries.\n# TYPE hookd_queue_depth gauge\n");
    add("hookd_queue_depth %lld\n", static_cast<long long>(store.pending));
    add("# HELP hookd_oldest_unattempted_age_seconds Age of the oldest pending delivery of an enabled webhook "
        "not attempted yet.\n# TYPE hookd_oldest_unattempted_age_seconds gauge\n");
    // Unknown when the store did not answer: no sample then (hookd_store_up says why).
    if (store.up) add("hookd_oldest_unattempted_age_seconds %.3f\n", store.oldest_unattempted_age_s.value_or(0.0));
    add("# HELP hookd_in_flight HTTP requests in flight.\n# TYPE hookd_in_flight gauge\n");
    add("hookd_in_flight %lld\n", static_cast<long long>(in_flight_.load()));
    return out;
}

}  // namespace hookd
