#include "api/api.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "api/openapi_doc.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/temp_dir.hpp"

namespace hookd::api {
namespace {

namespace json = boost::json;

// The real SQLite store, with GetWebhook made to fail on demand: how the API maps a
// store error it cannot provoke for real (a read failing between two that succeed).
class GetWebhookFails final : public store::Store {
public:
    explicit GetWebhookFails(store::Store& real) : s_(real) {}
    std::optional<Error> fail;  //!< when set, GetWebhook answers it

    Status CreateSite(const store::Site& x) override { return s_.CreateSite(x); }
    Result<store::Site> GetSite(const SiteId& id) override { return s_.GetSite(id); }
    Result<store::Page<store::Site>> ListSites(const store::PageRequest& p) override { return s_.ListSites(p); }
    Status CreateToken(const store::Token& t, std::string_view h) override { return s_.CreateToken(t, h); }
    Result<store::Token> FindToken(std::string_view h) override { return s_.FindToken(h); }
    Result<store::Page<store::Token>> ListTokens(const SiteId& site, const store::PageRequest& p) override {
        return s_.ListTokens(site, p);
    }
    Status RevokeToken(const SiteId& site, const TokenId& id, TimeMs now) override {
        return s_.RevokeToken(site, id, now);
    }
    Result<bool> HasOperatorToken() override { return s_.HasOperatorToken(); }
    Status CreateWebhook(const Webhook& w) override { return s_.CreateWebhook(w); }
    Result<Webhook> GetWebhook(const SiteId& site, const WebhookId& id) override {
        if (fail) return Fail(*fail);
        return s_.GetWebhook(site, id);
    }
    Result<Webhook> GetWebhookById(const WebhookId& id) override { return s_.GetWebhookById(id); }
    Result<store::Page<Webhook>> ListWebhooks(const SiteId& site, const store::PageRequest& p) override {
        return s_.ListWebhooks(site, p);
    }
    Status UpdateWebhook(const Webhook& w) override { return s_.UpdateWebhook(w); }
    Status DeleteWebhook(const SiteId& site, const WebhookId& id, TimeMs now) override {
        return s_.DeleteWebhook(site, id, now);
    }
    Status DisableWebhook(const WebhookId& id, std::string_view reason, TimeMs now) override {
        return s_.DisableWebhook(id, reason, now);
    }
    Status AppendAudit(const store::AuditEntry& e) override { return s_.AppendAudit(e); }
    Result<store::Page<store::AuditEntry>> ListAudit(const SiteId& site, const store::PageRequest& p) override {
        return s_.ListAudit(site, p);
    }
    Status Rekey(const crypto::SecretBox& box) override { return s_.Rekey(box); }
    Result<store::IngestResult> Ingest(const SiteId& site, std::vector<ChangeEvent> events,
                                       std::optional<std::string> key, TimeMs now) override {
        return s_.Ingest(site, std::move(events), std::move(key), now);
    }
    Result<store::Page<Delivery>> ListDeliveries(const SiteId& site, const WebhookId& w, const store::DeliveryFilter& f,
                                                 const store::PageRequest& p) override {
        return s_.ListDeliveries(site, w, f, p);
    }
    Result<Delivery> GetDelivery(const SiteId& site, const DeliveryId& id) override { return s_.GetDelivery(site, id); }
    Result<Delivery> RetryDelivery(const SiteId& site, const DeliveryId& id, TimeMs now) override {
        return s_.RetryDelivery(site, id, now);
    }
    Result<std::int64_t> Replay(const SiteId& site, const WebhookId& w, const store::DeliveryFilter& f,
                                TimeMs now) override {
        return s_.Replay(site, w, f, now);
    }
    Result<store::Claimed> CreateTestDelivery(const Webhook& w, EventType type, std::string_view entity,
                                              const EntityId& id, TimeMs now) override {
        return s_.CreateTestDelivery(w, type, entity, id, now);
    }
    void Attach(sched::Scheduler* scheduler) override { s_.Attach(scheduler); }
    Result<std::vector<store::Claimed>> Claim(std::string_view node, TimeMs now, DurationMs lease_ms,
                                              int limit) override {
        return s_.Claim(node, now, lease_ms, limit);
    }
    Result<std::vector<WebhookId>> Complete(std::span<const store::Outcome> outcomes, TimeMs now) override {
        return s_.Complete(outcomes, now);
    }
    Status ReleaseClaims(std::string_view node, std::span<const std::int64_t> seqs, TimeMs now) override {
        return s_.ReleaseClaims(node, seqs, now);
    }
    Result<std::int64_t> ReleaseLeases(std::string_view node, TimeMs now) override {
        return s_.ReleaseLeases(node, now);
    }
    Result<store::QueueStats> Stats() override { return s_.Stats(); }
    Result<std::vector<store::WebhookHealth>> GetHealth(const SiteId& site, const std::optional<WebhookId>& webhook,
                                                        TimeMs since) override {
        return s_.GetHealth(site, webhook, since);
    }
    Result<std::int64_t> Purge(TimeMs before, int batch) override { return s_.Purge(before, batch); }
    Status VerifyMasterKey() override { return s_.VerifyMasterKey(); }
    bool Ping() override { return s_.Ping(); }

private:
    store::Store& s_;
};

class ApiTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto s = store::OpenSqliteStore({dir_.File("hookd.db"), "NORMAL", 2000},
                                        *crypto::SecretBox::Create(std::string(32, 'k')));
        ASSERT_TRUE(s);
        store_ = std::move(*s);
        catalogue_ = *Catalogue::Parse(
            R"({"entities":[{"name":"Agreement","description":"a"},{"name":"Room","description":"r"}]})");
        dispatcher_ = std::make_unique<delivery::Dispatcher>(*store_, metrics_, clock_, DefaultRandomSource(),
                                                             delivery::DispatcherOptions{});
        ApiOptions o;
        o.operator_token = "op";
        api_ = std::make_unique<Api>(*store_, *dispatcher_, catalogue_, metrics_, clock_, o);
    }

    HttpResponse Call(const std::string& method, const std::string& target, const std::string& token,
                      const std::string& body = "") {
        HttpRequest r;
        r.method = method;
        const auto q = target.find('?');
        r.path = target.substr(0, q);
        if (q != std::string::npos) r.query = target.substr(q + 1);
        r.body = body;
        if (!token.empty()) r.headers.emplace_back("authorization", "Bearer " + token);
        return api_->Handle(r);
    }

    static json::value Body(const HttpResponse& r) { return json::parse(r.body); }

    std::string Token(const std::string& site, const std::string& role) {
        auto r = Call("POST", "/v1/sites/" + site + "/tokens", "op", R"({"role":")" + role + R"("})");
        EXPECT_EQ(r.status, 201) << r.body;
        return std::string(Body(r).at("token").as_string());
    }

    testing::TempDir dir_;
    testing::ManualClock clock_{1'700'000'000'000};
    Metrics metrics_;
    Catalogue catalogue_ = *Catalogue::Parse(R"({"entities":[{"name":"X"}]})");
    std::unique_ptr<store::Store> store_;
    std::unique_ptr<delivery::Dispatcher> dispatcher_;
    std::unique_ptr<Api> api_;
};

TEST_F(ApiTest, EveryRouteIsInTheOpenApiDocument) {
    auto doc = json::parse(OpenApiDocument());
    EXPECT_EQ(std::string(doc.at("openapi").as_string()).substr(0, 3), "3.1");
    const auto& paths = doc.at("paths").as_object();
    for (const auto& route : api_->RouteList()) {
        const auto space = route.find(' ');
        std::string method = route.substr(0, space);
        const std::string path = route.substr(space + 1);
        for (auto& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        ASSERT_TRUE(paths.contains(path)) << path << " is not documented";
        EXPECT_TRUE(paths.at(path).as_object().contains(method)) << route << " is not documented";
    }
    // And nothing documented is missing from the server.
    std::size_t documented = 0;
    for (const auto& [path, item] : paths) {
        for (const char* m : {"get", "post", "patch", "delete", "put"}) documented += item.as_object().contains(m);
    }
    EXPECT_EQ(documented, api_->RouteList().size());
}

TEST_F(ApiTest, AuthRolesAndSiteIsolation) {
    EXPECT_EQ(Call("GET", "/v1/me", "").status, 401);
    EXPECT_EQ(Call("GET", "/v1/me", "nope").status, 401);
    EXPECT_EQ(Call("POST", "/v1/sites", "op", R"({"id":"acme","name":"Acme"})").status, 201);
    EXPECT_EQ(Call("POST", "/v1/sites", "op", R"({"id":"beta","name":"Beta"})").status, 201);
    EXPECT_EQ(Call("POST", "/v1/sites", "op", R"({"id":"acme","name":"Again"})").status, 409);
    const auto admin = Token("acme", "admin");
    const auto publisher = Token("acme", "publisher");
    const auto beta_admin = Token("beta", "admin");
    auto me = Body(Call("GET", "/v1/me", admin));
    EXPECT_EQ(me.at("role"), "admin");
    EXPECT_EQ(me.at("site"), "acme");
    EXPECT_TRUE(Body(Call("GET", "/v1/me", "op")).at("site").is_null());
    EXPECT_EQ(Call("GET", "/v1/sites", admin).status, 403);
    EXPECT_EQ(Call("GET", "/v1/sites/beta/webhooks", admin).status, 403);
    EXPECT_EQ(Call("GET", "/v1/sites/acme/webhooks", publisher).status, 403);
    EXPECT_EQ(Call("POST", "/v1/sites/acme/events", admin, R"({"event":"CREATE","entity":"Room","entityId":1})").status,
              403);
    auto created = Call("POST", "/v1/sites/acme/webhooks", admin,
                        R"({"payloadUrl":"https://example.com/h","secret":"s3cret","events":["CREATE"],"sendEverything":true})");
    ASSERT_EQ(created.status, 201) << created.body;
    const std::string id(Body(created).at("id").as_string());
    EXPECT_EQ(Body(created).at("secret"), "********");
    EXPECT_EQ(Call("GET", "/v1/sites/acme/webhooks/" + id, admin).status, 200);
    EXPECT_EQ(Call("GET", "/v1/sites/beta/webhooks/" + id, beta_admin).status, 404);
    // Revocation takes effect at once.
    const std::string token_id(Body(Call("GET", "/v1/me", admin)).at("tokenId").as_string());
    EXPECT_EQ(Call("DELETE", "/v1/sites/acme/tokens/" + token_id, "op").status, 204);
    EXPECT_EQ(Call("GET", "/v1/me", admin).status, 401);
}

TEST_F(ApiTest, ValidationErrorsAreProblemDocumentsAndChangeNothing) {
    ASSERT_EQ(Call("POST", "/v1/sites", "op", R"({"id":"acme","name":"Acme"})").status, 201);
    const auto admin = Token("acme", "admin");
    const auto publisher = Token("acme", "publisher");
    auto bad = Call("POST", "/v1/sites/acme/webhooks", admin,
                    R"({"payloadUrl":"ftp://x","events":["NOPE"],"method":"PUT","entities":["Unknown"]})");
    EXPECT_EQ(bad.status, 422);
    EXPECT_EQ(bad.content_type, "application/problem+json");
    auto errors = Body(bad).at("errors").as_array();
    std::set<std::string> fields;
    for (const auto& e : errors) fields.insert(std::string(e.at("field").as_string()));
    EXPECT_TRUE(fields.count("payloadUrl"));
    EXPECT_TRUE(fields.count("events[0]"));
    EXPECT_TRUE(fields.count("method"));
    EXPECT_TRUE(fields.count("entities[0]"));
    EXPECT_EQ(Call("POST", "/v1/sites/acme/webhooks", admin, "{not json").status, 400);
    // Literal private addresses are refused without --allow-private-network.
    auto priv = Call("POST", "/v1/sites/acme/webhooks", admin,
                     R"({"payloadUrl":"http://169.254.169.254/","events":["CREATE"],"sendEverything":true})");
    EXPECT_EQ(priv.status, 422);
    EXPECT_TRUE(Body(Call("GET", "/v1/sites/acme/webhooks", admin)).at("data").as_array().empty());
    // A batch is all or nothing and names the bad index.
    auto batch = Call("POST", "/v1/sites/acme/events", publisher,
                      R"({"events":[{"event":"CREATE","entity":"Room","entityId":1},)"
                      R"({"event":"CREATE","entity":"Nope","entityId":2}]})");
    EXPECT_EQ(batch.status, 422);
    EXPECT_NE(batch.body.find("events[1].entity"), std::string::npos);
    EXPECT_EQ(store_->Stats()->pending, 0);
    auto neg = Call("POST", "/v1/sites/acme/events", publisher, R"({"event":"CREATE","entity":"Room","entityId":-1})");
    EXPECT_EQ(neg.status, 422);
    auto ok = Call("POST", "/v1/sites/acme/events", publisher, R"({"event":"create","entity":"room","entityId":"a-1"})");
    EXPECT_EQ(ok.status, 202) << ok.body;
    EXPECT_EQ(Body(ok).at("accepted"), 1);
}

TEST_F(ApiTest, AuditLogRecordsWhoChangedWhat) {
    ASSERT_EQ(Call("POST", "/v1/sites", "op", R"({"id":"acme","name":"Acme"})").status, 201);
    const auto admin = Token("acme", "admin");
    auto created = Call("POST", "/v1/sites/acme/webhooks", admin,
                        R"({"payloadUrl":"https://example.com/h","secret":"s3cret","events":["CREATE"],"sendEverything":true})");
    const std::string id(Body(created).at("id").as_string());
    EXPECT_EQ(Call("PATCH", "/v1/sites/acme/webhooks/" + id, admin, R"({"secret":"n3w","enabled":false})").status, 200);
    EXPECT_EQ(Call("DELETE", "/v1/sites/acme/webhooks/" + id, admin).status, 204);
    auto audit = Call("GET", "/v1/sites/acme/audit", admin);
    ASSERT_EQ(audit.status, 200);
    EXPECT_EQ(audit.body.find("s3cret"), std::string::npos);
    EXPECT_EQ(audit.body.find("n3w"), std::string::npos);
    auto data = Body(audit).at("data").as_array();
    std::vector<std::string> actions;
    for (const auto& e : data) actions.emplace_back(e.at("action").as_string());
    EXPECT_EQ(actions, (std::vector<std::string>{"webhook.delete", "webhook.update", "webhook.create", "token.create",
                                                 "site.create"}));
    EXPECT_EQ(Call("GET", "/v1/sites/acme/audit", Token("acme", "publisher")).status, 403);
}

TEST_F(ApiTest, StoreErrorsAreMappedByTheirCode) {
    GetWebhookFails faulty(*store_);
    ApiOptions o;
    o.operator_token = "op";
    Api api(faulty, *dispatcher_, catalogue_, metrics_, clock_, o);
    auto call = [&](const std::string& method, const std::string& target, const std::string& token,
                    const std::string& body = "") {
        HttpRequest r;
        r.method = method;
        r.path = target;
        r.body = body;
        r.headers.emplace_back("authorization", "Bearer " + token);
        return api.Handle(r);
    };
    ASSERT_EQ(call("POST", "/v1/sites", "op", R"({"id":"acme"})").status, 201);
    const auto admin = Token("acme", "admin");
    const auto publisher = Token("acme", "publisher");
    auto created = call("POST", "/v1/sites/acme/webhooks", admin,
                        R"({"payloadUrl":"https://example.com/h","events":["CREATE"],"sendEverything":true})");
    ASSERT_EQ(created.status, 201) << created.body;
    const std::string hook = "/v1/sites/acme/webhooks/" + std::string(Body(created).at("id").as_string());
    ASSERT_EQ(call("POST", "/v1/sites/acme/events", publisher, R"({"event":"CREATE","entity":"Room","entityId":1})")
                  .status,
              202);
    auto list = call("GET", hook + "/deliveries", admin);
    ASSERT_EQ(list.status, 200) << list.body;
    const std::string did(Body(list).at("data").as_array().at(0).at("id").as_string());

    struct Case {
        ErrorCode code;
        int status;        // for a route about the webhook itself
        int retry_status;  // retrying a delivery whose webhook lookup fails
    };
    const Case cases[] = {{ErrorCode::kUnavailable, 503, 503},
                          {ErrorCode::kInternal, 500, 500},
                          {ErrorCode::kConflict, 409, 409},
                          {ErrorCode::kNotFound, 404, 409}};  // the delivery's webhook was deleted
    for (const auto& c : cases) {
        faulty.fail = Error{c.code, "injected", {}};
        const std::vector<std::pair<std::string, HttpResponse>> answers = {
            {"GET webhook", call("GET", hook, admin)},
            {"PATCH webhook", call("PATCH", hook, admin, R"({"description":"x"})")},
            {"test", call("POST", hook + "/test", admin)},
            {"rotate-secret", call("POST", hook + "/rotate-secret", admin)},
            {"replay", call("POST", hook + "/replay", admin, R"({"since":"2020-01-01T00:00:00Z"})")},
            {"deliveries", call("GET", hook + "/deliveries", admin)},
        };
        for (const auto& [what, r] : answers) {
            EXPECT_EQ(r.status, c.status) << what << ": " << r.body;
            EXPECT_EQ(r.content_type, "application/problem+json") << what;
        }
        for (const auto& target : {"/v1/sites/acme/deliveries/" + did + "/retry", hook + "/deliveries/" + did + "/retry"}) {
            auto r = call("POST", target, admin);
            EXPECT_EQ(r.status, c.retry_status) << target << ": " << r.body;
            const bool retry_after = std::any_of(r.headers.begin(), r.headers.end(),
                                                 [](const auto& h) { return h.first == "Retry-After"; });
            EXPECT_EQ(retry_after, c.status == 503) << target;
        }
    }
    faulty.fail.reset();
    EXPECT_EQ(call("POST", "/v1/sites/acme/deliveries/" + did + "/retry", admin).status, 202);
}

TEST_F(ApiTest, UnknownRoutesAndMethods) {
    EXPECT_EQ(Call("GET", "/v1/nothing", "op").status, 404);
    auto wrong = Call("PUT", "/v1/sites", "op");
    EXPECT_EQ(wrong.status, 405);
    ASSERT_EQ(wrong.headers.size(), 1u);
    EXPECT_EQ(wrong.headers[0], (std::pair<std::string, std::string>{"Allow", "POST, GET, HEAD"}));
    EXPECT_EQ(Call("GET", "/healthz", "").status, 200);
    auto metrics = Call("GET", "/metrics", "");
    EXPECT_EQ(metrics.status, 200);
    EXPECT_NE(metrics.body.find("hookd_queue_depth"), std::string::npos);
}

}  // namespace
}  // namespace hookd::api
