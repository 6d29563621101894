// Handlers for webhooks, deliveries and events.
#include <spdlog/spdlog.h>

#include <chrono>
#include <limits>

#include "api/api_internal.hpp"
#include "core/crypto.hpp"
#include "core/trace_context.hpp"
#include "core/wire.hpp"
#include "delivery/receiver_check.hpp"

namespace hookd::api {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxBatch = 1000;
constexpr std::size_t kMaxSecret = 256;

std::string NewSecret() { return crypto::Base64UrlEncode(crypto::RandomBytes(24)); }

//! A request's W3C trace context: its valid `traceparent` (and `tracestate`, kept only beside
//! one), or a new trace; an invalid header is ignored, as the spec says.
struct RequestTrace {
    std::string traceparent;
    std::optional<std::string> tracestate;
};
RequestTrace TraceOf(const HttpRequest& req) {
    if (auto tp = trace::Parse(req.Header("traceparent"))) {
        return {trace::Format(*tp), trace::CheckTraceState(req.Header("tracestate"))};
    }
    return {trace::Format(trace::NewTrace()), std::nullopt};
}

std::optional<std::int64_t> AsInt(const json::value& v) {
    if (v.is_int64()) return v.as_int64();
    if (v.is_uint64() && v.as_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return static_cast<std::int64_t>(v.as_uint64());
    }
    if (v.is_double()) {
        const double d = v.as_double();
        // Range first: converting an out-of-range double is undefined behaviour.
        if (d >= -9e15 && d <= 9e15 && d == static_cast<double>(static_cast<std::int64_t>(d))) {
            return static_cast<std::int64_t>(d);
        }
    }
    return std::nullopt;
}

// Applies the fields of `body` to `w`; `create` requires the mandatory fields.
// Returns the field errors (empty when valid). Sets *generated_secret when hookd made one.
std::vector<FieldError> ApplyWebhookFields(const json::object& body, Webhook& w, bool create,
                                           const Catalogue& catalogue, const AddressPolicy& policy,
                                           std::optional<std::string>* generated_secret) {
    std::vector<FieldError> errors;
    std::optional<bool> send_everything;
    const json::value* entities = nullptr;
    for (const auto& [key, v] : body) {
        const std::string k(key);
        if (k == "payloadUrl") {
            if (!v.is_string()) {
                errors.push_back({k, "must be a string"});
                continue;
            }
            std::string url(v.as_string());
            if (auto msg = wire::CheckPayloadUrl(url)) {
                errors.push_back({k, *msg});
                continue;
            }
            if (auto ip = ParseLiteralHost(wire::HostOf(url)); ip && !policy.Allows(*ip)) {
                errors.push_back({k, "refers to a private, loopback or reserved address (" + ToString(*ip) +
                                         "), which hookd refuses"});
                continue;
            }
            w.payload_url = std::move(url);
        } else if (k == "secret") {
            if (v.is_null() && create) continue;
            if (!v.is_string()) {
                errors.push_back({k, "must be a string"});
                continue;
            }
            std::string s(v.as_string());
            if (!create && (s.empty() || s == kMaskedSecret)) continue;  // keep the current secret
            if (s.empty() || s.size() > kMaxSecret) {
                errors.push_back({k, "must be 1 to 256 characters"});
                continue;
            }
            w.secret = std::move(s);
            w.old_secret.reset();
            w.old_secret_until = 0;
        } else if (k == "events") {
            if (!v.is_array() || v.as_array().empty()) {
                errors.push_back({k, "must be a non-empty list of CREATE, UPDATE, DELETE, ARCHIVE"});
                continue;
            }
            EventMask mask = 0;
            std::size_t i = 0;
            for (const auto& e : v.as_array()) {
                auto t = e.is_string() ? ParseEventType(e.as_string()) : std::nullopt;
                if (!t) {
                    errors.push_back({"events[" + std::to_string(i) + "]",
                                      "must be one of CREATE, UPDATE, DELETE, ARCHIVE"});
                } else {
                    mask |= Bit(*t);
                }
                ++i;
            }
            w.events = mask;
        } else if (k == "method") {
            auto m = v.is_string() ? ParseMethod(v.as_string()) : std::nullopt;
            if (!m) {
                errors.push_back({k, "must be GET or POST"});
            } else {
                w.method = *m;
            }
        } else if (k == "sendEverything") {
            if (!v.is_bool()) {
                errors.push_back({k, "must be true or false"});
            } else {
                send_everything = v.as_bool();
            }
        } else if (k == "entities") {
            entities = &v;
        } else if (k == "description") {
            if (v.is_null()) {
                w.description.clear();
            } else if (!v.is_string() || v.as_string().size() > 1000) {
                errors.push_back({k, "must be a string of at most 1000 characters"});
            } else {
                w.description = v.as_string().c_str();
            }
        } else if (k == "enabled") {
            if (!v.is_bool()) {
                errors.push_back({k, "must be true or false"});
            } else {
                w.enabled = v.as_bool();
            }
        } else if (k == "ordering") {
            auto o = v.is_string() ? ParseOrdering(v.as_string()) : std::nullopt;
            if (!o) {
                errors.push_back({k, "must be \"none\" or \"entity\""});
            } else {
                w.ordering = *o;
            }
        } else if (k == "timeoutMs") {
            auto n = AsInt(v);
            if (!n || *n < 1000 || *n > 60000) {
                errors.push_back({k, "must be an integer from 1000 to 60000"});
            } else {
                w.timeout_ms = static_cast<std::int32_t>(*n);
            }
        } else if (k == "maxInFlight") {
            auto n = AsInt(v);
            if (!n || *n < 1 || *n > 1000) {
                errors.push_back({k, "must be an integer from 1 to 1000"});
            } else {
                w.max_in_flight = static_cast<std::int32_t>(*n);
            }
        } else if (k == "rateLimitPerSecond") {
            if (v.is_null()) {
                w.rate_limit_per_second.reset();
                continue;
            }
            auto n = AsInt(v);
            if (!n || *n < 1 || *n > 100000) {
                errors.push_back({k, "must be null or an integer from 1 to 100000"});
            } else {
                w.rate_limit_per_second = static_cast<std::int32_t>(*n);
            }
        } else if (k == "id" || k == "site" || k == "createdAt" || k == "updatedAt" || k == "disabledReason" ||
                   k == "disabledAt") {
            // Read-only fields, tolerated so a client can send back what it read.
        } else {
            errors.push_back({k, "unknown field"});
        }
    }
    if (send_everything) w.send_everything = *send_everything;
    if (entities) {
        if (!entities->is_array()) {
            errors.push_back({"entities", "must be a list of catalogue entity names"});
        } else {
            std::vector<std::string> names;
            std::size_t i = 0;
            for (const auto& e : entities->as_array()) {
                const std::string_view canonical = e.is_string() ? catalogue.Canonical(e.as_string()) : "";
                if (canonical.empty()) {
                    errors.push_back({"entities[" + std::to_string(i) + "]",
                                      e.is_string() ? "unknown entity '" + std::string(e.as_string()) + "'"
                                                    : "must be a string"});
                } else if (std::find(names.begin(), names.end(), canonical) == names.end()) {
                    names.emplace_back(canonical);
                }
                ++i;
            }
            w.entities = std::move(names);
        }
    }
    if (create) {
        if (!body.contains("payloadUrl")) errors.push_back({"payloadUrl", "is required"});
        if (!body.contains("events")) errors.push_back({"events", "is required"});
        if (!body.contains("secret") || body.at("secret").is_null()) {
            w.secret = NewSecret();
            *generated_secret = w.secret;
        }
    }
    if (w.send_everything) {
        w.entities.clear();
    } else if (w.entities.empty() && std::none_of(errors.begin(), errors.end(), [](const FieldError& e) {
                   return e.field.rfind("entities", 0) == 0;
               })) {
        errors.push_back({"entities", "must list at least one data point when sendEverything is false"});
    }
    return errors;
}

// The names of the fields a request changed; a secret's value is never logged.
std::string ChangedFields(const json::object& body) {
    json::array fields;
    for (const auto& [k, v] : body) fields.emplace_back(k);
    return json::serialize(json::object{{"fields", std::move(fields)}});
}

std::optional<TimeMs> ParseTimeField(const json::object& o, std::string_view key, std::vector<FieldError>& errors) {
    const auto* v = o.if_contains(key);
    if (!v || v->is_null()) return std::nullopt;
    std::optional<TimeMs> t = v->is_string() ? ParseTime(v->as_string()) : std::nullopt;
    if (!t) errors.push_back({std::string(key), "must be an RFC 3339 time such as 2026-01-31T00:00:00Z"});
    return t;
}

// One change event from JSON; errors are prefixed with `where` ("" or "events[3].").
std::optional<ChangeEvent> ParseEvent(const json::value& v, const std::string& where, const Catalogue& catalogue,
                                      std::vector<FieldError>& errors) {
    if (!v.is_object()) {
        errors.push_back({where.empty() ? "body" : where.substr(0, where.size() - 1), "must be an object"});
        return std::nullopt;
    }
    const auto& o = v.as_object();
    ChangeEvent e;
    bool ok = true;
    const auto* ev = o.if_contains("event");
    auto type = ev && ev->is_string() ? ParseEventType(ev->as_string()) : std::nullopt;
    if (!type) {
        errors.push_back({where + "event", ev ? "must be one of CREATE, UPDATE, DELETE, ARCHIVE" : "is required"});
        ok = false;
    } else {
        e.type = *type;
    }
    const auto* en = o.if_contains("entity");
    const std::string_view canonical = en && en->is_string() ? catalogue.Canonical(en->as_string()) : "";
    if (canonical.empty()) {
        errors.push_back({where + "entity", en ? (en->is_string() ? "unknown entity '" +
                                                                        std::string(en->as_string()) + "'"
                                                                  : "must be a catalogue entity name")
                                               : "is required"});
        ok = false;
    } else {
        e.entity = std::string(canonical);
    }
    const auto* id = o.if_contains("entityId");
    if (!id) {
        errors.push_back({where + "entityId", "is required"});
        ok = false;
    } else if (id->is_uint64()) {
        e.entity_id = EntityId{std::to_string(id->as_uint64()), true};
    } else if (id->is_int64() && id->as_int64() >= 0) {
        e.entity_id = EntityId{std::to_string(id->as_int64()), true};
    } else if (id->is_string() && IsValidEntityIdString(id->as_string())) {
        e.entity_id = EntityId{std::string(id->as_string()), false};
    } else {
        errors.push_back({where + "entityId",
                          "must be a non-negative 64-bit integer or a string of [A-Za-z0-9._~-]{1,128}"});
        ok = false;
    }
    if (!ok) return std::nullopt;
    return e;
}

}  // namespace

// ------------------------------------------------------------------ webhooks

HttpResponse Api::CreateWebhook(Ctx& ctx) {
    auto body = ParseObject(ctx.req, false);
    if (!body) return Problem(400, "Bad request", body.error().message, body.error().fields);
    Webhook w;
    w.site = ctx.Param("site");
    std::optional<std::string> generated;
    auto errors = ApplyWebhookFields(*body, w, true, catalogue_, options_.policy, &generated);
    if (!errors.empty()) return Problem(422, "Validation failed", "the webhook is not valid", errors);
    w.id = NewTypedId<WebhookId>(kWebhookPrefix);
    w.created_at = w.updated_at = clock_.Now();
    if (!w.enabled) {
        w.disabled_reason = "disabled by an admin";
        w.disabled_at = w.created_at;
    }
    if (auto r = store_.CreateWebhook(w); !r) return ProblemFrom(r.error());
    Audit(ctx, w.site, "webhook.create", w.id.str(),
          json::serialize(json::object{{"payloadUrl", w.payload_url}, {"method", ToString(w.method)}}));
    json::object o = ToJson(w);
    if (generated) o["secret"] = *generated;  // shown once
    return Json(201, o);
}

HttpResponse Api::ListWebhooks(Ctx& ctx) {
    auto page = ParsePage(ctx, [](std::string_view c) { return IsWellFormedId(c, kWebhookPrefix); });
    if (!page) return BadQuery(page.error());
    auto list = store_.ListWebhooks(ctx.Param("site"), *page);
    if (!list) return ProblemFrom(list.error());
    return ListJson(*list, [](const Webhook& w) { return ToJson(w); });
}

HttpResponse Api::GetWebhook(Ctx& ctx) {
    auto w = store_.GetWebhook(ctx.Param("site"), WebhookId(ctx.Param("id")));
    if (!w) return ProblemFrom(w.error());
    return Json(200, ToJson(*w));
}

HttpResponse Api::PatchWebhook(Ctx& ctx) {
    auto body = ParseObject(ctx.req, false);
    if (!body) return Problem(400, "Bad request", body.error().message, body.error().fields);
    // Read, apply the fields the request names, write if nothing changed the webhook in
    // between (its version); else read again: a concurrent auto-disable or 410 is kept
    // unless this request itself sets "enabled".
    Result<Webhook> w = Fail(Error::Conflict("the webhook kept changing; try again"));
    bool was_enabled = false;
    for (int attempt = 0; attempt < 5; ++attempt) {
        w = store_.GetWebhook(ctx.Param("site"), WebhookId(ctx.Param("id")));
        if (!w) return ProblemFrom(w.error());
        was_enabled = w->enabled;
        auto errors = ApplyWebhookFields(*body, *w, false, catalogue_, options_.policy, nullptr);
        if (!errors.empty()) return Problem(422, "Validation failed", "the webhook is not valid", errors);
        w->updated_at = clock_.Now();
        if (w->enabled && !was_enabled) {
            w->disabled_reason.reset();
            w->disabled_at.reset();
        } else if (!w->enabled && was_enabled) {
            w->disabled_reason = "disabled by an admin";
            w->disabled_at = w->updated_at;
        }
        auto r = store_.UpdateWebhook(*w);
        if (r) break;
        if (r.error().code != ErrorCode::kConflict || attempt == 4) return ProblemFrom(r.error());
    }
    ++w->version;
    Audit(ctx, w->site, "webhook.update", w->id.str(), ChangedFields(*body));
    dispatcher_.InvalidateWebhook(w->id);
    if (w->enabled && !was_enabled) dispatcher_.Wake();
    return Json(200, ToJson(*w));
}

HttpResponse Api::DeleteWebhook(Ctx& ctx) {
    const WebhookId id(ctx.Param("id"));
    if (auto r = store_.DeleteWebhook(ctx.Param("site"), id, clock_.Now()); !r) return ProblemFrom(r.error());
    Audit(ctx, ctx.Param("site"), "webhook.delete", id.str(), "");
    dispatcher_.InvalidateWebhook(id);
    return NoContent();
}

HttpResponse Api::TestWebhook(Ctx& ctx) {
    auto body = ParseObject(ctx.req, true);
    if (!body) return Problem(400, "Bad request", body.error().message, body.error().fields);
    auto w = store_.GetWebhook(ctx.Param("site"), WebhookId(ctx.Param("id")));
    if (!w) return ProblemFrom(w.error());
    // Defaults: the webhook's first event type and entity, id "test".
    json::object ev = *body;
    if (!ev.contains("event")) {
        for (EventType t : kAllEventTypes) {
            if (w->events & Bit(t)) {
                ev["event"] = ToString(t);
                break;
            }
        }
    }
    if (!ev.contains("entity")) {
        ev["entity"] = !w->entities.empty() ? w->entities.front()
                       : catalogue_.Canonical("Agreement").empty() ? catalogue_.entries().front().name
                                                                    : std::string("Agreement");
    }
    if (!ev.contains("entityId")) ev["entityId"] = "test";
    std::vector<FieldError> errors;
    auto e = ParseEvent(ev, "", catalogue_, errors);
    if (!e) return Problem(422, "Validation failed", "the test message is not valid", errors);
    auto claimed = store_.CreateTestDelivery(*w, e->type, e->entity, e->entity_id, clock_.Now());
    if (!claimed) return ProblemFrom(claimed.error());
    // The caller's trace (or a new one) for this message only: a test delivery has no stored event.
    RequestTrace tc = TraceOf(ctx.req);
    const std::string traceparent = tc.traceparent;
    claimed->delivery.traceparent = std::move(tc.traceparent);
    claimed->delivery.tracestate = std::move(tc.tracestate);
    Audit(ctx, w->site, "webhook.test", w->id.str(),
          json::serialize(json::object{{"deliveryId", claimed->delivery.id.str()}}));
    auto future = dispatcher_.SendTest(*w, std::move(*claimed));
    if (future.wait_for(std::chrono::milliseconds(w->timeout_ms + 10'000)) != std::future_status::ready) {
        return Problem(503, "Service unavailable", "the test message did not complete in time");
    }
    auto result = future.get();
    if (!result) return ProblemFrom(result.error());
    json::object o = ToJson(result->attempt);
    o["deliveryId"] = result->delivery_id.str();
    o["traceparent"] = traceparent;
    return Json(200, o);
}

HttpResponse Api::CheckWebhook(Ctx& ctx) {
    auto body = ParseObject(ctx.req, true);
    if (!body) return Problem(400, "Bad request", body.error().message, body.error().fields);
    if (!body->empty()) {
        std::vector<FieldError> errors;
        for (const auto& [k, v] : *body) errors.push_back({std::string(k), "unknown field"});
        return Problem(422, "Validation failed", "the check takes no options", errors);
    }
    auto w = store_.GetWebhook(ctx.Param("site"), WebhookId(ctx.Param("id")));
    if (!w) return ProblemFrom(w.error());
    // Each check holds a handler thread for up to about two of the webhook's timeouts.
    struct Slot {
        std::atomic<int>& n;
        ~Slot() { --n; }
    } slot{checks_running_};
    if (++checks_running_ > options_.max_receiver_checks) {
        return Problem(429, "Too many requests", "other receiver checks are running; try again in a few seconds");
    }
    const TimeMs now = clock_.Now();
    delivery::ReceiverCheckOptions o;
    o.url = w->payload_url;
    for (std::string_view s : w->SigningSecrets(now)) o.secrets.emplace_back(s);
    o.method = w->method;
    // What the webhook would carry: its first event type and entity, id "test" (as a test message).
    for (EventType t : kAllEventTypes) {
        if (w->events & Bit(t)) {
            o.event = t;
            break;
        }
    }
    o.entity = !w->entities.empty() ? w->entities.front()
               : catalogue_.Canonical("Agreement").empty() ? catalogue_.entries().front().name
                                                            : std::string("Agreement");
    o.timeout_ms = w->timeout_ms;
    o.policy = options_.policy;
    o.ca_file = options_.ca_file;
    auto results = delivery::RunReceiverCheck(o, now / 1000);
    if (!results) return ProblemFrom(results.error());
    json::object report = CheckReportJson(o.url, o.method, *results);
    Audit(ctx, w->site, "webhook.check", w->id.str(), json::serialize(json::object{{"passed", report.at("passed")}}));
    report.emplace("webhookId", w->id.str());
    return Json(200, report);
}

HttpResponse Api::RotateSecret(Ctx& ctx) {
    auto body = ParseObject(ctx.req, true);
    if (!body) return Problem(400, "Bad request", body.error().message, body.error().fields);
    auto w = store_.GetWebhook(ctx.Param("site"), WebhookId(ctx.Param("id")));
    if (!w) return ProblemFrom(w.error());
    std::vector<FieldError> errors;
    std::optional<std::string> secret;
    DurationMs grace = options_.default_grace_ms;
    for (const auto& [k, v] : *body) {
        if (k == "secret") {
            if (v.is_null()) continue;
            if (!v.is_string() || v.as_string().empty() || v.as_string().size() > kMaxSecret) {
                errors.push_back({"secret", "must be 1 to 256 characters"});
            } else {
                secret = std::string(v.as_string());
            }
        } else if (k == "graceSeconds") {
            auto n = AsInt(v);
            if (!n || *n < 0 || *n > 7 * 86400) {
                errors.push_back({"graceSeconds", "must be an integer from 0 to 604800"});
            } else {
                grace = *n * 1000;
            }
        } else {
            errors.push_back({std::string(k), "unknown field"});
        }
    }
    if (!errors.empty()) return Problem(422, "Validation failed", "the rotation is not valid", errors);
    const bool generated = !secret;
    if (!secret) secret = NewSecret();
    const TimeMs now = clock_.Now();
    for (int attempt = 0;; ++attempt) {  // as in PatchWebhook: only from the current version
        w->old_secret = w->secret;
        w->old_secret_until = now + grace;
        w->secret = *secret;
        w->updated_at = now;
        auto r = store_.UpdateWebhook(*w);
        if (r) break;
        if (r.error().code != ErrorCode::kConflict || attempt == 4) return ProblemFrom(r.error());
        w = store_.GetWebhook(ctx.Param("site"), WebhookId(ctx.Param("id")));
        if (!w) return ProblemFrom(w.error());
    }
    Audit(ctx, w->site, "webhook.rotate_secret", w->id.str(),
          json::serialize(json::object{{"graceSeconds", grace / 1000}, {"generated", generated}}));
    dispatcher_.InvalidateWebhook(w->id);
    json::object o = ToJson(*w);
    if (generated) o["secret"] = *secret;
    o["previousSecretExpiresAt"] = FormatTime(w->old_secret_until);
    return Json(200, o);
}

HttpResponse Api::Replay(Ctx& ctx) {
    auto body = ParseObject(ctx.req, false);
    if (!body) return Problem(400, "Bad request", body.error().message, body.error().fields);
    const WebhookId id(ctx.Param("id"));
    if (auto w = store_.GetWebhook(ctx.Param("site"), id); !w) return ProblemFrom(w.error());
    std::vector<FieldError> errors;
    store::DeliveryFilter f;
    for (const auto& [k, v] : *body) {
        if (k != "since" && k != "until" && k != "state") errors.push_back({std::string(k), "unknown field"});
    }
    f.since = ParseTimeField(*body, "since", errors);
    f.until = ParseTimeField(*body, "until", errors);
    if (!body->contains("since")) errors.push_back({"since", "is required"});
    if (const auto* s = body->if_contains("state"); s && !s->is_null()) {
        auto st = s->is_string() ? ParseDeliveryState(s->as_string()) : std::nullopt;
        if (!st || *st == DeliveryState::kPending) {
            errors.push_back({"state", "must be \"failed\", \"succeeded\", \"cancelled\" or null"});
        } else {
            f.state = st;
        }
    }
    if (f.since && f.until && *f.until <= *f.since) errors.push_back({"until", "must be after since"});
    if (!errors.empty()) return Problem(422, "Validation failed", "the replay is not valid", errors);
    auto n = store_.Replay(ctx.Param("site"), id, f, clock_.Now());
    if (!n) return ProblemFrom(n.error());
    json::object detail{{"since", TimeOrNull(f.since)}, {"until", TimeOrNull(f.until)}, {"enqueued", *n}};
    detail["state"] = f.state ? json::value(ToString(*f.state)) : json::value(nullptr);
    Audit(ctx, ctx.Param("site"), "webhook.replay", id.str(), json::serialize(detail));
    if (*n > 0) dispatcher_.Wake();
    return Json(202, json::object{{"enqueued", *n}});
}

// ------------------------------------------------------------------ deliveries

HttpResponse Api::ListDeliveries(Ctx& ctx) {
    const WebhookId id(ctx.Param("id"));
    if (auto w = store_.GetWebhook(ctx.Param("site"), id); !w) return ProblemFrom(w.error());
    auto page = ParsePage(ctx, [](std::string_view c) { return IsWellFormedId(c, kDeliveryPrefix); });
    if (!page) return BadQuery(page.error());
    store::DeliveryFilter f;
    std::vector<FieldError> errors;
    if (auto s = ctx.Query("state"); s && !s->empty()) {
        f.state = ParseDeliveryState(*s);
        if (!f.state) errors.push_back({"state", "must be pending, succeeded, failed or cancelled"});
    }
    for (const char* key : {"since", "until"}) {
        if (auto t = ctx.Query(key); t && !t->empty()) {
            auto parsed = ParseTime(*t);
            if (!parsed) errors.push_back({key, "must be an RFC 3339 time"});
            (std::string_view(key) == "since" ? f.since : f.until) = parsed;
        }
    }
    if (!errors.empty()) return Problem(400, "Bad request", "bad query parameter", errors);
    auto list = store_.ListDeliveries(ctx.Param("site"), id, f, *page);
    if (!list) return ProblemFrom(list.error());
    return ListJson(*list, [](const Delivery& d) { return ToJson(d, false); });
}

HttpResponse Api::GetDelivery(Ctx& ctx) {
    auto d = store_.GetDelivery(ctx.Param("site"), DeliveryId(ctx.Param("did")));
    if (!d) return ProblemFrom(d.error());
    if (ctx.params.count("id") && d->webhook_id.str() != ctx.Param("id")) {
        return Problem(404, "Not found", "delivery " + ctx.Param("did") + " not found");
    }
    return Json(200, ToJson(*d, true));
}

HttpResponse Api::RetryDelivery(Ctx& ctx) {
    const DeliveryId did(ctx.Param("did"));
    auto existing = store_.GetDelivery(ctx.Param("site"), did);
    if (!existing) return ProblemFrom(existing.error());
    if (ctx.params.count("id") && existing->webhook_id.str() != ctx.Param("id")) {
        return Problem(404, "Not found", "delivery " + ctx.Param("did") + " not found");
    }
    // A delivery outlives its webhook (it is cancelled, not deleted): retrying it then is a conflict.
    if (auto w = store_.GetWebhook(ctx.Param("site"), existing->webhook_id); !w) {
        if (w.error().code == ErrorCode::kNotFound) return Problem(409, "Conflict", "the delivery's webhook was deleted");
        return ProblemFrom(w.error());
    }
    auto d = store_.RetryDelivery(ctx.Param("site"), did, clock_.Now());
    if (!d) return ProblemFrom(d.error());
    Audit(ctx, ctx.Param("site"), "delivery.retry", did.str(), "");
    dispatcher_.Wake();
    return Json(202, ToJson(*d, false));
}

// ------------------------------------------------------------------ events

HttpResponse Api::PostEvents(Ctx& ctx) {
    auto body = ParseObject(ctx.req, false);
    if (!body) return Problem(400, "Bad request", body.error().message, body.error().fields);
    std::optional<std::string> key;
    if (auto k = ctx.req.Header("idempotency-key"); !k.empty()) {
        if (k.size() > 255) {
            return Problem(422, "Validation failed", "Idempotency-Key is too long",
                           {{"Idempotency-Key", "must be at most 255 characters"}});
        }
        key = std::string(k);
    }
    std::vector<ChangeEvent> events;
    std::vector<FieldError> errors;
    if (const auto* list = body->if_contains("events")) {
        if (!list->is_array() || list->as_array().empty()) {
            errors.push_back({"events", "must be a non-empty list of events"});
        } else if (list->as_array().size() > kMaxBatch) {
            errors.push_back({"events", "at most 1000 events per request"});
        } else {
            events.reserve(list->as_array().size());
            std::size_t i = 0;
            for (const auto& v : list->as_array()) {
                auto e = ParseEvent(v, "events[" + std::to_string(i) + "].", catalogue_, errors);
                if (e) events.push_back(std::move(*e));
                ++i;
            }
        }
    } else {
        auto e = ParseEvent(*body, "", catalogue_, errors);
        if (e) events.push_back(std::move(*e));
    }
    if (!errors.empty()) {
        std::string detail = "the batch was rejected: " + errors.front().field + " " + errors.front().message;
        return Problem(422, "Validation failed", detail, errors);
    }
    // W3C trace context: the request's, or a new trace; one for every event of the request.
    const RequestTrace tc = TraceOf(ctx.req);
    for (ChangeEvent& e : events) {
        e.traceparent = tc.traceparent;
        e.tracestate = tc.tracestate;
    }
    const std::size_t n = events.size();
    auto r = store_.Ingest(ctx.Param("site"), std::move(events), std::move(key), clock_.Now());
    if (!r) return ProblemFrom(r.error());
    if (!r->replayed) {
        metrics_.EventsAccepted(n);
        metrics_.DeliveriesCreated(r->deliveries);
        if (r->deliveries > 0) dispatcher_.Wake();
    }
    json::array ids;
    for (const auto& id : r->ids) ids.emplace_back(id.str());
    json::object o{{"accepted", ids.size()}, {"ids", std::move(ids)}};
    HttpResponse res = Json(202, o);
    if (r->replayed) res.headers.emplace_back("Idempotent-Replayed", "true");
    return res;
}

}  // namespace hookd::api
