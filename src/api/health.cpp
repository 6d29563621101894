// Handlers for webhook health: attempts per interval and latency, from the store's hourly
// counters (core/health.hpp).
#include "api/api_internal.hpp"
#include "core/health.hpp"

namespace hookd::api {

namespace json = boost::json;

namespace {

struct NamedWindow {
    std::string_view name;
    health::Window window;
};

// ?window=24h (default) or 7d; nullopt for anything else.
std::optional<NamedWindow> ParseWindow(const std::optional<std::string>& q) {
    if (!q || q->empty() || *q == "24h") return NamedWindow{"24h", health::kDay};
    if (*q == "7d") return NamedWindow{"7d", health::kWeek};
    return std::nullopt;
}

json::value MsOrNull(std::optional<std::int64_t> v) { return v ? json::value(*v) : json::value(nullptr); }

json::object CountsJson(const health::Counts& c) {
    const auto ratio = c.SuccessRatio();
    return json::object{{"succeeded", c.succeeded},
                        {"retried", c.retried},
                        {"failed", c.failed},
                        {"attempts", c.attempts()},
                        {"successRatio", ratio ? json::value(*ratio) : json::value(nullptr)},
                        {"p50Ms", MsOrNull(health::Percentile(c.latency, 0.50))},
                        {"p95Ms", MsOrNull(health::Percentile(c.latency, 0.95))}};
}

json::object HealthJson(const store::WebhookHealth& h, const NamedWindow& w, TimeMs now) {
    const TimeMs start = w.window.Start(now);
    const auto intervals = health::Bucket(h.hours, w.window, now);
    health::Counts total;
    json::array list;
    for (std::size_t i = 0; i < intervals.size(); ++i) {
        total.Add(intervals[i]);
        json::object o = CountsJson(intervals[i]);
        o.emplace("start", FormatTime(start + static_cast<TimeMs>(i) * w.window.interval_ms));
        list.push_back(std::move(o));
    }
    return json::object{
        {"webhookId", h.webhook_id.str()},
        {"window", w.name},
        {"intervalSeconds", w.window.interval_ms / 1000},
        {"from", FormatTime(start)},
        {"until", FormatTime(start + static_cast<TimeMs>(w.window.intervals) * w.window.interval_ms)},
        {"failingSince", TimeOrNull(h.failing_since)},
        {"totals", CountsJson(total)},
        {"intervals", std::move(list)},
    };
}

}  // namespace

HttpResponse Api::GetWebhookHealth(Ctx& ctx) {
    auto w = ParseWindow(ctx.Query("window"));
    if (!w) return Problem(400, "Bad request", "bad query parameter", {{"window", "must be 24h or 7d"}});
    const TimeMs now = clock_.Now();
    auto h = store_.GetHealth(ctx.Param("site"), WebhookId(ctx.Param("id")), w->window.Start(now));
    if (!h) return ProblemFrom(h.error());
    return Json(200, HealthJson(h->front(), *w, now));
}

HttpResponse Api::ListWebhookHealth(Ctx& ctx) {
    auto w = ParseWindow(ctx.Query("window"));
    if (!w) return Problem(400, "Bad request", "bad query parameter", {{"window", "must be 24h or 7d"}});
    const TimeMs now = clock_.Now();
    auto list = store_.GetHealth(ctx.Param("site"), std::nullopt, w->window.Start(now));
    if (!list) return ProblemFrom(list.error());
    json::array data;
    for (const auto& h : *list) data.push_back(HealthJson(h, *w, now));
    return Json(200, json::object{{"data", std::move(data)}});
}

}  // namespace hookd::api
