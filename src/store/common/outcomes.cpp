#include "store/common/outcomes.hpp"

#include <algorithm>
#include <unordered_map>

namespace hookd::store::common {

std::vector<WebhookVerdict> DecideWebhooks(std::span<const Outcome* const> applied) {
    struct Acc {
        bool last_ok = false;
        bool any_ok = false;
        std::optional<TimeMs> first_failure;  // since the last success
        DurationMs after = 0;
        std::optional<std::string> reason;
    };
    std::vector<std::string> order;
    std::unordered_map<std::string, Acc> by_hook;
    for (const Outcome* o : applied) {
        auto [it, fresh] = by_hook.try_emplace(o->webhook_id.str());
        if (fresh) order.push_back(o->webhook_id.str());
        Acc& h = it->second;
        const bool ok = o->state == DeliveryState::kSucceeded;
        h.last_ok = ok;
        if (ok) {
            h.any_ok = true;
            h.first_failure.reset();
        } else {
            if (!h.first_failure) h.first_failure = o->attempt.started_at;
            h.after = std::max(h.after, o->auto_disable_after_ms);
        }
        if (o->disable_webhook_reason) h.reason = o->disable_webhook_reason;
    }
    std::vector<WebhookVerdict> out;
    out.reserve(order.size());
    for (auto& id : order) {
        Acc& h = by_hook[id];
        WebhookVerdict v;
        v.id = WebhookId(id);
        if (h.last_ok) {
            v.clock = WebhookVerdict::Clock::kClear;
        } else {
            v.clock = h.any_ok ? WebhookVerdict::Clock::kRestart : WebhookVerdict::Clock::kStart;
            v.since = *h.first_failure;
            v.auto_disable_after_ms = h.after;
        }
        v.disable_reason = std::move(h.reason);
        out.push_back(std::move(v));
    }
    return out;
}

std::string AutoDisableReason(DurationMs after) { return "every delivery failed for " + FormatDuration(after); }

}  // namespace hookd::store::common
