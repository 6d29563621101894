#pragma once
// The /v1 JSON API: routing, bearer auth with roles and site scoping, problem+json
// errors, and one handler per route. Transport-free: HttpServer feeds it requests.
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/http_types.hpp"
#include "core/address_guard.hpp"
#include "core/capture_status.hpp"
#include "core/catalogue.hpp"
#include "core/metrics.hpp"
#include "core/time.hpp"
#include "delivery/dispatcher.hpp"
#include "store/store.hpp"

namespace hookd::api {

struct ApiOptions {
    std::optional<std::string> operator_token;  //!< HOOKD_OPERATOR_TOKEN, accepted as an operator token
    AddressPolicy policy;                       //!< refuses literal private payload URLs at creation
    std::string metrics_token;                  //!< when set, /metrics needs it as a bearer token
    double rate_per_second = 1000;              //!< per-token request rate (token bucket)
    double rate_burst = 2000;                   //!< per-token burst
    DurationMs default_grace_ms = 86'400'000;   //!< rotate-secret grace period when not given
    std::string ca_file;                        //!< receivers' CA bundle (receiver checks); empty = system
    int max_receiver_checks = 4;                //!< receiver checks running at once; more answer 429
    CaptureStatusSource capture;                //!< change capture's state; empty when --capture is off
};

struct Principal {
    store::Role role = store::Role::kAdmin;
    std::optional<SiteId> site;
    std::optional<TokenId> token_id;  //!< nullopt for HOOKD_OPERATOR_TOKEN
};

class Api final {
public:
    Api(store::Store& store, delivery::Dispatcher& dispatcher, const Catalogue& catalogue, Metrics& metrics,
        const Clock& clock, ApiOptions options);
    ~Api();

    //! Handles one request; never throws. Thread-safe.
    HttpResponse Handle(const HttpRequest& request);
    //! Requests outside /v1 and the health routes go here (the admin page).
    void SetFallback(HttpHandler fallback) { fallback_ = std::move(fallback); }
    //! "METHOD /path/{param}" for every route; the OpenAPI test checks they are documented.
    [[nodiscard]] std::vector<std::string> RouteList() const;

    struct Route;
    struct Ctx;

private:
    void AddRoutes();
    std::optional<HttpResponse> RateLimit(const std::string& key);

    // meta
    HttpResponse Health(Ctx&);
    HttpResponse Ready(Ctx&);
    HttpResponse MetricsText(Ctx&);
    HttpResponse OpenApi(Ctx&);
    HttpResponse Me(Ctx&);
    HttpResponse CatalogueJson(Ctx&);
    HttpResponse CaptureState(Ctx&);
    // sites, tokens
    HttpResponse CreateSite(Ctx&);
    HttpResponse ListSites(Ctx&);
    HttpResponse GetSite(Ctx&);
    HttpResponse CreateToken(Ctx&);
    HttpResponse ListTokens(Ctx&);
    HttpResponse RevokeToken(Ctx&);
    // webhooks
    HttpResponse CreateWebhook(Ctx&);
    HttpResponse ListWebhooks(Ctx&);
    HttpResponse GetWebhook(Ctx&);
    HttpResponse PatchWebhook(Ctx&);
    HttpResponse DeleteWebhook(Ctx&);
    HttpResponse TestWebhook(Ctx&);
    HttpResponse CheckWebhook(Ctx&);
    HttpResponse RotateSecret(Ctx&);
    HttpResponse Replay(Ctx&);
    // health
    HttpResponse GetWebhookHealth(Ctx&);
    HttpResponse ListWebhookHealth(Ctx&);
    // deliveries, events
    HttpResponse ListDeliveries(Ctx&);
    HttpResponse GetDelivery(Ctx&);
    HttpResponse RetryDelivery(Ctx&);
    HttpResponse PostEvents(Ctx&);
    HttpResponse ListAudit(Ctx&);
    //! Records who did `action` on `target` in `site` (best effort: a failure is logged).
    void Audit(const Ctx& ctx, const SiteId& site, std::string action, std::string target, std::string detail_json);

    store::Store& store_;
    delivery::Dispatcher& dispatcher_;
    const Catalogue& catalogue_;
    Metrics& metrics_;
    const Clock& clock_;
    ApiOptions options_;
    std::string operator_hash_;
    HttpHandler fallback_;
    std::vector<std::unique_ptr<Route>> routes_;

    struct Bucket {
        double tokens;
        TimeMs at;
    };
    std::atomic<int> checks_running_{0};
    std::mutex rate_mu_;
    std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace hookd::api
