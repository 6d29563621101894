#pragma once
// Process-wide counters rendered as Prometheus text at /metrics. Thread-safe (atomics, and
// a mutex for the per-webhook failure counters). Every metric is listed with its meaning in
// docs/operations-reference.md; ops/prometheus and ops/grafana use them.
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace hookd {

//! Why the dispatcher disabled a webhook (label `reason` of hookd_webhooks_disabled_total).
enum class DisableReason { kGone, kFailing };

//! What /metrics reads from the store at each scrape.
struct StoreGauges {
    bool up = false;            //!< the store answered
    std::int64_t pending = -1;  //!< deliveries in state pending; -1 when the store did not answer
    //! Age of the oldest pending delivery of an enabled webhook that has not had its first
    //! attempt yet; nullopt when there is none (rendered as 0).
    std::optional<double> oldest_unattempted_age_s;
};

class Metrics final {
public:
    static constexpr std::array<double, 12> kLatencyBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                               0.1,   0.25,   0.5,   1.0,  2.5,   10.0};
    //! Per-webhook failure series kept at most; failures of further webhooks are not
    //! broken down (they still count in hookd_attempts_total).
    static constexpr std::size_t kMaxWebhookSeries = 10'000;

    void EventsAccepted(std::uint64_t n) { events_accepted_ += n; }
    void DeliveriesCreated(std::uint64_t n) { deliveries_created_ += n; }
    //! One attempt of webhook `webhook` (of `site`) finished: `ok` for 2xx; `final_state`
    //! 0 none, 1 succeeded, 2 failed.
    void AttemptFinished(std::string_view site, std::string_view webhook, bool ok, double seconds, int final_state);
    void SetInFlight(std::int64_t n) { in_flight_ = n; }
    //! The dispatcher disabled a webhook (410 Gone, or every delivery failed too long).
    void WebhookDisabled(DisableReason reason) {
        (reason == DisableReason::kGone ? disabled_gone_ : disabled_failing_)++;
    }

    //! Prometheus text exposition (version 0.0.4).
    [[nodiscard]] std::string Render(const StoreGauges& store) const;

private:
    std::atomic<std::uint64_t> events_accepted_{0};
    std::atomic<std::uint64_t> deliveries_created_{0};
    std::atomic<std::uint64_t> attempts_ok_{0};
    std::atomic<std::uint64_t> attempts_failed_{0};
    std::atomic<std::uint64_t> deliveries_succeeded_{0};
    std::atomic<std::uint64_t> deliveries_failed_{0};
    std::atomic<std::uint64_t> disabled_gone_{0};
    std::atomic<std::uint64_t> disabled_failing_{0};
    std::atomic<std::int64_t> in_flight_{0};
    std::array<std::atomic<std::uint64_t>, kLatencyBuckets.size()> latency_buckets_{};
    std::atomic<std::uint64_t> latency_count_{0};
    std::atomic<std::uint64_t> latency_sum_us_{0};
    mutable std::mutex webhook_mu_;
    std::map<std::pair<std::string, std::string>, std::uint64_t> webhook_failures_;  //!< (site, webhook) → count
};

}  // namespace hookd
