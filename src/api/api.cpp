#include "api/api.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

#include "api/api_internal.hpp"
#include "api/openapi_doc.hpp"
#include "core/crypto.hpp"
#include "core/text.hpp"

namespace hookd::api {

namespace json = boost::json;

namespace {

std::string QueryDecode(std::string_view s);

// Path segments, each percent-decoded (so an encoded '/' stays inside its segment).
std::vector<std::string> SplitPath(std::string_view path) {
    std::vector<std::string> out;
    for (std::string_view raw : PathSegments(path)) {
        std::string segment = QueryDecode(raw);
        std::replace(segment.begin(), segment.end(), '\0', '?');
        out.push_back(std::move(segment));
    }
    return out;
}

std::string QueryDecode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out.push_back(' ');
        } else if (s[i] == '%' && i + 2 < s.size()) {
            int v = 0;
            auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
            if (ec == std::errc() && p == s.data() + i + 3) {
                out.push_back(static_cast<char>(v));
                i += 2;
            } else {
                out.push_back(s[i]);
            }
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

std::unordered_map<std::string, std::string> ParseQuery(std::string_view q) {
    std::unordered_map<std::string, std::string> out;
    std::size_t pos = 0;
    while (pos < q.size()) {
        std::size_t end = q.find('&', pos);
        if (end == std::string_view::npos) end = q.size();
        const auto part = q.substr(pos, end - pos);
        const auto eq = part.find('=');
        if (!part.empty()) {
            out[QueryDecode(part.substr(0, eq))] = eq == std::string_view::npos ? "" : QueryDecode(part.substr(eq + 1));
        }
        pos = end + 1;
    }
    return out;
}

}  // namespace

Result<json::object> ParseObject(const HttpRequest& req, bool empty_ok) {
    std::string_view body = req.body;
    while (!body.empty() && std::isspace(static_cast<unsigned char>(body.front()))) body.remove_prefix(1);
    if (body.empty()) {
        if (empty_ok) return json::object{};
        return Fail(Error{ErrorCode::kInvalid, "the request body must be a JSON object", {}});
    }
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec) return Fail(Error{ErrorCode::kInvalid, "malformed JSON: " + ec.message(), {{"body", "malformed JSON"}}});
    if (!v.is_object()) return Fail(Error{ErrorCode::kInvalid, "the request body must be a JSON object", {}});
    return std::move(v.as_object());
}

Result<store::PageRequest> ParsePage(const Api::Ctx& ctx, CursorCheck valid_cursor) {
    store::PageRequest page;
    if (auto l = ctx.Query("limit")) {
        int v = 0;
        auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), v);
        if (ec != std::errc() || p != l->data() + l->size() || v < 1 || v > 1000) {
            return Fail(Error::Invalid("bad query parameter", {{"limit", "must be an integer from 1 to 1000"}}));
        }
        page.limit = v;
    }
    if (auto c = ctx.Query("cursor"); c && !c->empty()) {
        if (!valid_cursor(*c)) {
            return Fail(Error::Invalid("bad query parameter",
                                       {{"cursor", "is not a cursor of this list (use the nextCursor of the previous page)"}}));
        }
        page.cursor = *c;
    }
    return page;
}

HttpResponse BadQuery(const Error& e) { return Problem(400, "Bad request", e.message, e.fields); }

Api::Api(store::Store& store, delivery::Dispatcher& dispatcher, const Catalogue& catalogue, Metrics& metrics,
         const Clock& clock, ApiOptions options)
    : store_(store),
      dispatcher_(dispatcher),
      catalogue_(catalogue),
      metrics_(metrics),
      clock_(clock),
      options_(std::move(options)) {
    if (options_.operator_token && !options_.operator_token->empty()) {
        operator_hash_ = crypto::Sha256Hex(*options_.operator_token);
    }
    AddRoutes();
}

Api::~Api() = default;

void Api::AddRoutes() {
    auto add = [this](std::string method, std::string pattern, Access access, HttpResponse (Api::*fn)(Ctx&)) {
        auto r = std::make_unique<Route>();
        r->method = std::move(method);
        r->segments = SplitPath(pattern);
        r->pattern = std::move(pattern);
        r->access = access;
        r->fn = [fn](Api& api, Ctx& ctx) { return (api.*fn)(ctx); };
        routes_.push_back(std::move(r));
    };
    add("GET", "/healthz", Access::kPublic, &Api::Health);
    add("GET", "/readyz", Access::kPublic, &Api::Ready);
    add("GET", "/metrics", Access::kPublic, &Api::MetricsText);
    add("GET", "/v1/openapi.json", Access::kPublic, &Api::OpenApi);
    add("GET", "/v1/me", Access::kAny, &Api::Me);
    add("GET", "/v1/catalog", Access::kAny, &Api::CatalogueJson);
    add("GET", "/v1/capture", Access::kOperator, &Api::CaptureState);
    add("POST", "/v1/sites", Access::kOperator, &Api::CreateSite);
    add("GET", "/v1/sites", Access::kOperator, &Api::ListSites);
    add("GET", "/v1/sites/{site}", Access::kOperator, &Api::GetSite);
    add("POST", "/v1/sites/{site}/tokens", Access::kOperator, &Api::CreateToken);
    add("GET", "/v1/sites/{site}/tokens", Access::kOperator, &Api::ListTokens);
    add("DELETE", "/v1/sites/{site}/tokens/{id}", Access::kOperator, &Api::RevokeToken);
    add("GET", "/v1/sites/{site}/webhooks", Access::kAdmin, &Api::ListWebhooks);
    add("POST", "/v1/sites/{site}/webhooks", Access::kAdmin, &Api::CreateWebhook);
    add("GET", "/v1/sites/{site}/webhooks/{id}", Access::kAdmin, &Api::GetWebhook);
    add("PATCH", "/v1/sites/{site}/webhooks/{id}", Access::kAdmin, &Api::PatchWebhook);
    add("DELETE", "/v1/sites/{site}/webhooks/{id}", Access::kAdmin, &Api::DeleteWebhook);
    add("POST", "/v1/sites/{site}/webhooks/{id}/test", Access::kAdmin, &Api::TestWebhook);
    add("POST", "/v1/sites/{site}/webhooks/{id}/check", Access::kAdmin, &Api::CheckWebhook);
    add("POST", "/v1/sites/{site}/webhooks/{id}/rotate-secret", Access::kAdmin, &Api::RotateSecret);
    add("POST", "/v1/sites/{site}/webhooks/{id}/replay", Access::kAdmin, &Api::Replay);
    add("GET", "/v1/sites/{site}/webhooks/{id}/health", Access::kAdmin, &Api::GetWebhookHealth);
    add("GET", "/v1/sites/{site}/health", Access::kAdmin, &Api::ListWebhookHealth);
    add("GET", "/v1/sites/{site}/webhooks/{id}/deliveries", Access::kAdmin, &Api::ListDeliveries);
    add("GET", "/v1/sites/{site}/webhooks/{id}/deliveries/{did}", Access::kAdmin, &Api::GetDelivery);
    add("POST", "/v1/sites/{site}/webhooks/{id}/deliveries/{did}/retry", Access::kAdmin, &Api::RetryDelivery);
    add("GET", "/v1/sites/{site}/deliveries/{did}", Access::kAdmin, &Api::GetDelivery);
    add("POST", "/v1/sites/{site}/deliveries/{did}/retry", Access::kAdmin, &Api::RetryDelivery);
    add("POST", "/v1/sites/{site}/events", Access::kPublisher, &Api::PostEvents);
    add("GET", "/v1/sites/{site}/audit", Access::kAdmin, &Api::ListAudit);
}

std::vector<std::string> Api::RouteList() const {
    std::vector<std::string> out;
    for (const auto& r : routes_) out.push_back(r->method + " " + r->pattern);
    return out;
}

std::optional<HttpResponse> Api::RateLimit(const std::string& key) {
    if (options_.rate_per_second <= 0) return std::nullopt;
    const TimeMs now = clock_.Now();
    std::lock_guard lock(rate_mu_);
    auto [it, fresh] = buckets_.try_emplace(key, Bucket{options_.rate_burst, now});
    Bucket& b = it->second;
    if (!fresh) {
        b.tokens = std::min(options_.rate_burst,
                            b.tokens + options_.rate_per_second * static_cast<double>(now - b.at) / 1000.0);
        b.at = now;
    }
    if (b.tokens < 1.0) {
        HttpResponse r = Problem(429, "Too many requests", "this token's request rate limit was exceeded");
        return r;
    }
    b.tokens -= 1.0;
    return std::nullopt;
}

HttpResponse Api::Handle(const HttpRequest& req) {
    const auto segments = SplitPath(req.path);
    const bool is_api = (!segments.empty() && segments[0] == "v1") ||
                        (segments.size() == 1 && (segments[0] == "healthz" || segments[0] == "readyz" ||
                                                  segments[0] == "metrics"));
    if (!is_api && fallback_) return fallback_(req);

    Route* match = nullptr;
    std::string allow;  // methods of the routes whose path matched
    std::unordered_map<std::string, std::string> params;
    for (auto& r : routes_) {
        if (r->segments.size() != segments.size()) continue;
        std::unordered_map<std::string, std::string> p;
        bool ok = true;
        for (std::size_t i = 0; i < segments.size() && ok; ++i) {
            const auto& s = r->segments[i];
            if (s.size() > 2 && s.front() == '{' && s.back() == '}') {
                p[s.substr(1, s.size() - 2)] = segments[i];
            } else {
                ok = s == segments[i];
            }
        }
        if (!ok) continue;
        allow += (allow.empty() ? "" : ", ") + r->method + (r->method == "GET" ? ", HEAD" : "");
        if (r->method == req.method || (req.method == "HEAD" && r->method == "GET")) {
            match = r.get();
            params = std::move(p);
            break;
        }
    }
    if (!match) {
        if (!allow.empty()) {
            HttpResponse r = Problem(405, "Method not allowed", req.method + " is not supported on " + req.path);
            r.headers.emplace_back("Allow", allow);
            return r;
        }
        return Problem(404, "Not found", "no route for " + req.path);
    }

    Ctx ctx{req, {}, std::move(params), ParseQuery(req.query)};
    if (match->access != Access::kPublic) {
        std::string_view auth = req.Header("authorization");
        constexpr std::string_view kBearer = "bearer ";
        if (auth.size() <= kBearer.size() || strncasecmp(auth.data(), kBearer.data(), kBearer.size()) != 0) {
            HttpResponse r = Problem(401, "Unauthorized", "a bearer token is required");
            r.headers.emplace_back("WWW-Authenticate", "Bearer");
            return r;
        }
        std::string_view token = auth.substr(kBearer.size());
        while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
        while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
        const std::string hash = crypto::Sha256Hex(token);
        if (!operator_hash_.empty() && crypto::ConstantTimeEquals(hash, operator_hash_)) {
            ctx.who = Principal{store::Role::kOperator, std::nullopt, std::nullopt};
        } else {
            auto t = store_.FindToken(hash);
            if (!t) {
                if (t.error().code != ErrorCode::kNotFound) return ProblemFrom(t.error());
                HttpResponse r = Problem(401, "Unauthorized", "the token is unknown or revoked");
                r.headers.emplace_back("WWW-Authenticate", "Bearer error=\"invalid_token\"");
                return r;
            }
            ctx.who = Principal{t->role, t->site, t->id};
        }
        if (auto limited = RateLimit(ctx.who.token_id ? ctx.who.token_id->str() : "operator")) return *limited;
        const auto need = match->access;
        if (need == Access::kOperator && ctx.who.role != store::Role::kOperator) {
            return Problem(403, "Forbidden", "this route needs an operator token");
        }
        if (need == Access::kAdmin || need == Access::kPublisher) {
            const auto role = need == Access::kAdmin ? store::Role::kAdmin : store::Role::kPublisher;
            if (ctx.who.role != role) {
                return Problem(403, "Forbidden", role == store::Role::kAdmin ? "this route needs an admin token"
                                                                             : "this route needs a publisher token");
            }
            if (!ctx.who.site || *ctx.who.site != ctx.Param("site")) {
                return Problem(403, "Forbidden", "this token is not valid for site " + ctx.Param("site"));
            }
        }
    }
    HttpResponse res = match->fn(*this, ctx);
    if (req.method == "HEAD") res.body.clear();
    return res;
}

void Api::Audit(const Ctx& ctx, const SiteId& site, std::string action, std::string target, std::string detail_json) {
    store::AuditEntry e;
    e.id = NewId(kAuditPrefix);
    e.site = site;
    e.at = clock_.Now();
    e.actor = ctx.who.token_id ? ctx.who.token_id->str() : "operator";
    e.action = std::move(action);
    e.target = std::move(target);
    e.detail = detail_json.empty() ? "{}" : std::move(detail_json);
    if (auto r = store_.AppendAudit(e); !r) spdlog::warn("audit log write failed: {}", r.error().message);
}

HttpResponse Api::ListAudit(Ctx& ctx) {
    auto page = ParsePage(ctx, [](std::string_view c) { return IsWellFormedId(c, kAuditPrefix); });
    if (!page) return BadQuery(page.error());
    auto list = store_.ListAudit(ctx.Param("site"), *page);
    if (!list) return ProblemFrom(list.error());
    return ListJson(*list, [](const store::AuditEntry& e) {
        boost::system::error_code ec;
        json::value detail = json::parse(e.detail, ec);
        if (ec) detail = json::object{};
        return json::object{{"id", e.id},         {"at", FormatTime(e.at)},   {"actor", e.actor},
                            {"action", e.action}, {"target", e.target},       {"detail", std::move(detail)}};
    });
}

// ------------------------------------------------------------------ meta

HttpResponse Api::Health(Ctx&) { return Json(200, json::object{{"status", "ok"}}); }

HttpResponse Api::Ready(Ctx&) {
    if (!store_.Ping()) return Problem(503, "Not ready", "the store does not answer");
    return Json(200, json::object{{"status", "ready"}});
}

HttpResponse Api::CaptureState(Ctx&) {
    const CaptureStatus c = options_.capture ? options_.capture() : CaptureStatus{};
    auto text = [](const std::optional<std::string>& v) { return v ? json::value(*v) : json::value(nullptr); };
    json::object o{{"state", c.state},
                   {"slot", text(c.slot)},
                   {"publication", text(c.publication)},
                   {"confirmedLsn", text(c.confirmed_lsn)},
                   {"lagBytes", c.lag_bytes},
                   {"lagMs", c.lag_ms},
                   {"changes", c.changes},
                   {"skipped", c.skipped()},
                   {"error", text(c.error)}};
    return Json(200, o);
}

HttpResponse Api::MetricsText(Ctx& ctx) {
    if (!options_.metrics_token.empty()) {
        const std::string expected = "Bearer " + options_.metrics_token;
        if (!crypto::ConstantTimeEquals(ctx.req.Header("authorization"), expected)) {
            HttpResponse r = Problem(401, "Unauthorized", "/metrics needs the metrics token");
            r.headers.emplace_back("WWW-Authenticate", "Bearer");
            return r;
        }
    }
    auto stats = store_.Stats();
    StoreGauges gauges;
    if (stats) {
        gauges.up = true;
        gauges.pending = stats->pending;
        if (stats->oldest_unattempted_at) {
            gauges.oldest_unattempted_age_s =
                static_cast<double>(std::max<TimeMs>(0, clock_.Now() - *stats->oldest_unattempted_at)) / 1000.0;
        }
    }
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = metrics_.Render(gauges);
    r.body += RenderCaptureMetrics(options_.capture ? options_.capture() : CaptureStatus{});
    if (stats && stats->partitions_owned) {
        // Several nodes on PostgreSQL: this node's share of the partitioned queue.
        r.body += "# HELP hookd_partitions_owned Queue partitions this node owns (serving or draining).\n"
                  "# TYPE hookd_partitions_owned gauge\nhookd_partitions_owned " +
                  std::to_string(*stats->partitions_owned) +
                  "\n# HELP hookd_cluster_nodes Live nodes this node counted at its last ownership turn.\n"
                  "# TYPE hookd_cluster_nodes gauge\nhookd_cluster_nodes " + std::to_string(stats->nodes) +
                  "\n# HELP hookd_partition_handovers_total Partitions taken, handed over after draining, or lost "
                  "with the ownership session.\n# TYPE hookd_partition_handovers_total counter\n"
                  "hookd_partition_handovers_total{kind=\"acquired\"} " + std::to_string(stats->partitions_acquired) +
                  "\nhookd_partition_handovers_total{kind=\"released\"} " +
                  std::to_string(stats->partitions_released) +
                  "\nhookd_partition_handovers_total{kind=\"lost\"} " + std::to_string(stats->partitions_lost) + "\n";
    }
    return r;
}

HttpResponse Api::OpenApi(Ctx&) {
    HttpResponse r;
    r.body = std::string(OpenApiDocument());
    return r;
}

HttpResponse Api::Me(Ctx& ctx) {
    json::object o;
    o["role"] = store::ToString(ctx.who.role);
    o["site"] = ctx.who.site ? json::value(*ctx.who.site) : json::value(nullptr);
    o["tokenId"] = ctx.who.token_id ? json::value(ctx.who.token_id->str()) : json::value(nullptr);
    return Json(200, o);
}

HttpResponse Api::CatalogueJson(Ctx&) {
    json::array events;
    for (EventType t : kAllEventTypes) events.emplace_back(ToString(t));
    json::array entities;
    for (const auto& e : catalogue_.entries()) {
        entities.push_back(json::object{{"name", e.name}, {"description", e.description}});
    }
    return Json(200, json::object{{"events", std::move(events)}, {"entities", std::move(entities)}});
}

// ------------------------------------------------------------------ sites and tokens

HttpResponse Api::CreateSite(Ctx& ctx) {
    auto body = ParseObject(ctx.req, false);
    if (!body) return Problem(400, "Bad request", body.error().message, body.error().fields);
    std::vector<FieldError> errors;
    store::Site site;
    site.created_at = clock_.Now();
    for (const auto& [k, v] : *body) {
        if (k == "id") {
            if (!v.is_string() || !IsValidSiteId(v.as_string())) {
                errors.push_back({"id", "must match [a-z0-9][a-z0-9-]{0,62}"});
            } else {
                site.id = v.as_string().c_str();
            }
        } else if (k == "name") {
            if (!v.is_string() || v.as_string().empty() || v.as_string().size() > 200) {
                errors.push_back({"name", "must be a string of 1 to 200 characters"});
            } else {
                site.name = v.as_string().c_str();
            }
        } else {
            errors.push_back({std::string(k), "unknown field"});
        }
    }
    if (!body->contains("id")) errors.push_back({"id", "is required"});
    if (!body->contains("name") && errors.empty()) site.name = site.id;
    if (!errors.empty()) return Problem(422, "Validation failed", "the site is not valid", errors);
    if (auto r = store_.CreateSite(site); !r) {
        if (r.error().code == ErrorCode::kConflict) return Problem(409, "Conflict", "site " + site.id + " exists");
        return ProblemFrom(r.error());
    }
    Audit(ctx, site.id, "site.create", site.id, json::serialize(json::object{{"name", site.name}}));
    return Json(201, ToJson(site));
}

HttpResponse Api::ListSites(Ctx& ctx) {
    auto page = ParsePage(ctx, [](std::string_view c) { return IsValidSiteId(c); });
    if (!page) return BadQuery(page.error());
    auto sites = store_.ListSites(*page);
    if (!sites) return ProblemFrom(sites.error());
    return ListJson(*sites, [](const store::Site& s) { return ToJson(s); });
}

HttpResponse Api::GetSite(Ctx& ctx) {
    auto site = store_.GetSite(ctx.Param("site"));
    if (!site) return ProblemFrom(site.error());
    return Json(200, ToJson(*site));
}

HttpResponse Api::CreateToken(Ctx& ctx) {
    auto site = store_.GetSite(ctx.Param("site"));
    if (!site) return ProblemFrom(site.error());
    auto body = ParseObject(ctx.req, false);
    if (!body) return Problem(400, "Bad request", body.error().message, body.error().fields);
    std::vector<FieldError> errors;
    store::Token t;
    t.site = site->id;
    t.created_at = clock_.Now();
    bool has_role = false;
    for (const auto& [k, v] : *body) {
        if (k == "role") {
            auto role = v.is_string() ? store::ParseRole(v.as_string()) : std::nullopt;
            if (!role || *role == store::Role::kOperator) {
                errors.push_back({"role", "must be \"admin\" or \"publisher\""});
            } else {
                t.role = *role;
                has_role = true;
            }
        } else if (k == "name") {
            if (!v.is_string() || v.as_string().size() > 200) {
                errors.push_back({"name", "must be a string of at most 200 characters"});
            } else {
                t.name = v.as_string().c_str();
            }
        } else {
            errors.push_back({std::string(k), "unknown field"});
        }
    }
    if (!has_role && !body->contains("role")) errors.push_back({"role", "is required"});
    if (!errors.empty()) return Problem(422, "Validation failed", "the token is not valid", errors);
    t.id = NewTypedId<TokenId>(kTokenPrefix);
    const std::string secret = "hkd_" + crypto::Base64UrlEncode(crypto::RandomBytes(32));
    if (auto r = store_.CreateToken(t, crypto::Sha256Hex(secret)); !r) return ProblemFrom(r.error());
    Audit(ctx, site->id, "token.create", t.id.str(),
          json::serialize(json::object{{"role", store::ToString(t.role)}, {"name", t.name}}));
    json::object o = ToJson(t);
    o["token"] = secret;
    return Json(201, o);
}

HttpResponse Api::ListTokens(Ctx& ctx) {
    auto page = ParsePage(ctx, [](std::string_view c) { return IsWellFormedId(c, kTokenPrefix); });
    if (!page) return BadQuery(page.error());
    if (auto site = store_.GetSite(ctx.Param("site")); !site) return ProblemFrom(site.error());
    auto tokens = store_.ListTokens(ctx.Param("site"), *page);
    if (!tokens) return ProblemFrom(tokens.error());
    return ListJson(*tokens, [](const store::Token& t) { return ToJson(t); });
}

HttpResponse Api::RevokeToken(Ctx& ctx) {
    if (auto r = store_.RevokeToken(ctx.Param("site"), TokenId(ctx.Param("id")), clock_.Now()); !r) {
        return ProblemFrom(r.error());
    }
    Audit(ctx, ctx.Param("site"), "token.revoke", ctx.Param("id"), "");
    return NoContent();
}

}  // namespace hookd::api
