#include "api/json_io.hpp"

#include <charconv>

#include "core/text.hpp"

namespace hookd::api {

namespace json = boost::json;

json::value TimeOrNull(std::optional<TimeMs> t) {
    if (!t) return nullptr;
    return json::value(FormatTime(*t));
}

json::object ToJson(const store::Site& s) {
    return {{"id", s.id}, {"name", s.name}, {"createdAt", FormatTime(s.created_at)}};
}

json::object ToJson(const store::Token& t) {
    json::object o{{"id", t.id.str()},
                   {"role", store::ToString(t.role)},
                   {"name", t.name},
                   {"createdAt", FormatTime(t.created_at)}};
    o["site"] = t.site ? json::value(*t.site) : json::value(nullptr);
    return o;
}

json::object ToJson(const Webhook& w) {
    json::array events;
    for (EventType t : kAllEventTypes) {
        if (w.events & Bit(t)) events.emplace_back(ToString(t));
    }
    json::array entities;
    if (!w.send_everything) {
        for (const auto& e : w.entities) entities.emplace_back(e);
    }
    json::object o;
    o["id"] = w.id.str();
    o["site"] = w.site;
    o["payloadUrl"] = w.payload_url;
    o["secret"] = kMaskedSecret;
    o["events"] = std::move(events);
    o["method"] = ToString(w.method);
    o["sendEverything"] = w.send_everything;
    o["entities"] = std::move(entities);
    o["description"] = w.description;
    o["enabled"] = w.enabled;
    o["ordering"] = ToString(w.ordering);
    o["timeoutMs"] = w.timeout_ms;
    o["maxInFlight"] = w.max_in_flight;
    o["rateLimitPerSecond"] = w.rate_limit_per_second ? json::value(*w.rate_limit_per_second) : json::value(nullptr);
    o["disabledReason"] = w.disabled_reason ? json::value(*w.disabled_reason) : json::value(nullptr);
    o["disabledAt"] = TimeOrNull(w.disabled_at);
    o["createdAt"] = FormatTime(w.created_at);
    o["updatedAt"] = FormatTime(w.updated_at);
    return o;
}

json::value ToJson(const EntityId& id) {
    if (id.is_number) {
        std::uint64_t v = 0;
        std::from_chars(id.text.data(), id.text.data() + id.text.size(), v);
        return json::value(v);
    }
    return json::value(id.text);
}

json::object ToJson(const Attempt& a) {
    json::object o;
    o["number"] = a.number;
    o["startedAt"] = FormatTime(a.started_at);
    o["durationMs"] = a.duration_ms;
    o["status"] = a.status ? json::value(*a.status) : json::value(nullptr);
    o["error"] = a.error == AttemptError::kNone ? json::value(nullptr) : json::value(ToString(a.error));
    o["responseSnippet"] = a.response_snippet;
    return o;
}

json::object CheckReportJson(std::string_view url, HttpMethod method,
                             const std::vector<delivery::CheckResult>& checks) {
    json::array list;
    for (const auto& c : checks) {
        list.push_back(json::object{{"name", c.name}, {"result", delivery::ToString(c.verdict)}, {"detail", c.detail}});
    }
    return json::object{{"url", url},
                        {"method", ToString(method)},
                        {"passed", delivery::NoFailures(checks)},
                        {"checks", std::move(list)}};
}

json::object ToJson(const Delivery& d, bool with_attempts) {
    json::object o;
    o["id"] = d.id.str();
    o["webhookId"] = d.webhook_id.str();
    o["eventId"] = d.event_id.str();
    o["event"] = ToString(d.type);
    o["entity"] = d.entity;
    o["entityId"] = ToJson(d.entity_id);
    o["state"] = ToString(d.state);
    o["attemptCount"] = d.attempt_count;
    o["nextAttemptAt"] = TimeOrNull(d.state == DeliveryState::kPending ? d.next_attempt_at : std::nullopt);
    o["createdAt"] = FormatTime(d.created_at);
    o["updatedAt"] = FormatTime(d.updated_at);
    o["lastStatus"] = d.last_status ? json::value(*d.last_status) : json::value(nullptr);
    o["lastError"] = d.last_error == AttemptError::kNone ? json::value(nullptr) : json::value(ToString(d.last_error));
    o["test"] = d.test;
    o["traceparent"] = d.traceparent ? json::value(*d.traceparent) : json::value(nullptr);
    o["tracestate"] = d.tracestate ? json::value(*d.tracestate) : json::value(nullptr);
    if (with_attempts) {
        json::array attempts;
        for (const auto& a : d.attempts) attempts.push_back(ToJson(a));
        o["attempts"] = std::move(attempts);
    }
    return o;
}

HttpResponse Json(int status, const json::value& v) {
    HttpResponse r;
    r.status = status;
    r.body = json::serialize(v);
    return r;
}

HttpResponse NoContent() {
    HttpResponse r;
    r.status = 204;
    r.content_type.clear();
    return r;
}

HttpResponse Problem(int status, std::string_view title, std::string_view detail,
                     const std::vector<FieldError>& errors) {
    std::string kind;
    switch (status) {
        case 400: kind = "bad-request"; break;
        case 401: kind = "unauthorized"; break;
        case 403: kind = "forbidden"; break;
        case 404: kind = "not-found"; break;
        case 405: kind = "method-not-allowed"; break;
        case 409: kind = "conflict"; break;
        case 413: kind = "payload-too-large"; break;
        case 422: kind = "validation"; break;
        case 429: kind = "rate-limited"; break;
        case 431: kind = "headers-too-large"; break;
        case 503: kind = "unavailable"; break;
        default: kind = "internal"; break;
    }
    json::object o;
    o["type"] = "https://hookd.dev/problems/" + kind;
    o["title"] = title;
    o["status"] = status;
    o["detail"] = ValidUtf8(detail, 2048);
    if (!errors.empty()) {
        json::array list;
        for (const auto& e : errors) {
            list.push_back(json::object{{"field", ValidUtf8(e.field, 256)}, {"message", ValidUtf8(e.message, 1024)}});
        }
        o["errors"] = std::move(list);
    }
    HttpResponse r = Json(status, o);
    r.content_type = "application/problem+json";
    if (status == 503 || status == 429) r.headers.emplace_back("Retry-After", "1");
    return r;
}

HttpResponse ProblemFrom(const Error& e) {
    switch (e.code) {
        case ErrorCode::kInvalid: return Problem(422, "Validation failed", e.message, e.fields);
        case ErrorCode::kNotFound: return Problem(404, "Not found", e.message);
        case ErrorCode::kConflict: return Problem(409, "Conflict", e.message);
        case ErrorCode::kForbidden: return Problem(403, "Forbidden", e.message);
        case ErrorCode::kUnavailable: return Problem(503, "Service unavailable", e.message);
        case ErrorCode::kInternal: break;
    }
    return Problem(500, "Internal server error", e.message);
}

}  // namespace hookd::api
