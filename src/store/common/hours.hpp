#pragma once
// The hourly attempt counters both stores keep (table webhook_hours): what one Complete
// call adds to them, and how a row reads back.
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/health.hpp"
#include "store/store.hpp"

namespace hookd::store::common {

//! (webhook id, hour start) → what the outcomes add; ordered, so rows are written (and
//! locked) in one order by every writer.
using HourDeltas = std::map<std::pair<std::string, TimeMs>, health::Counts>;

//! The counters `applied` (outcomes that passed the fence) add, by webhook and the hour
//! each attempt started in.
[[nodiscard]] HourDeltas CountHours(std::span<const Outcome* const> applied);

//! Columns of webhook_hours after webhook_id and hour, in table order.
inline constexpr std::size_t kHourColumns = 3 + health::kLatencyBuckets;
//! {"succeeded", "retried", "failed", "l0", ..., "l15"}.
[[nodiscard]] std::vector<std::string> HourColumns();
//! "succeeded, retried, failed, l0, ..., l15".
[[nodiscard]] std::string HourColumnList();

//! Columns from `first`: succeeded, retried, failed, l0..l15.
template <typename Row>
health::Counts ReadHourCounts(const Row& r, int first) {
    health::Counts c;
    c.succeeded = r.Int(first);
    c.retried = r.Int(first + 1);
    c.failed = r.Int(first + 2);
    for (std::size_t i = 0; i < health::kLatencyBuckets; ++i) c.latency[i] = r.Int(first + 3 + static_cast<int>(i));
    return c;
}

//! Rows of: webhook id, failing_since, hour (NULL: no counters), then the counters; ordered
//! by webhook id and hour (a LEFT JOIN of webhooks and webhook_hours).
template <typename Next>
std::vector<WebhookHealth> ReadHealth(Next&& next_row) {
    std::vector<WebhookHealth> out;
    next_row([&](const auto& r) {
        std::string id = r.Text(0);
        if (out.empty() || out.back().webhook_id.str() != id) {
            out.push_back(WebhookHealth{WebhookId(std::move(id)), r.OptInt(1), {}});
        }
        if (auto hour = r.OptInt(2)) out.back().hours.push_back(health::Hour{*hour, ReadHourCounts(r, 3)});
    });
    return out;
}

}  // namespace hookd::store::common
