// libFuzzer target: the /v1 JSON API end to end, minus the socket.
//
// One input is one request, written like HTTP/1.1 without the version:
//
//     POST /v1/sites/acme/events?x=1        <- request line: METHOD TARGET
//     Idempotency-Key: k1                   <- optional header lines ...
//                                           <- ... ended by an empty line
//     {"event":"CREATE","entity":"Agreement","entityId":25}
//
// When there is no empty line, everything after the request line is the body.
// In the target and the body, @WH@, @DLV@ and @TOK@ are replaced by the ids of a
// webhook, a delivery and a spare token that exist in the store, so the fuzzer
// reaches the routes that need a real id. Every request is sent three times:
// with the operator token, the admin token and the publisher token of site "acme".
//
// The store is a real SQLite file in a temporary folder; the dispatcher is never
// started, so nothing leaves the process (test messages answer 503). The world is
// rebuilt every kResetEvery inputs so the database stays small and fast.
//
// Checked on every response: no crash, leak or undefined behaviour (sanitizers),
// a known status code, never a 500, and a JSON body that parses as JSON (as valid
// UTF-8 too with HOOKD_FUZZ_STRICT_UTF8=1).
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "api/api.hpp"
#include "core/catalogue.hpp"
#include "core/retry_schedule.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace {

using namespace hookd;
namespace json = boost::json;

constexpr int kResetEvery = 2000;

[[noreturn]] void Die(const std::string& what) {
    std::fprintf(stderr, "fuzz_api_request: %s\n", what.c_str());
    std::abort();
}

class FixedClock final : public Clock {
public:
    [[nodiscard]] TimeMs Now() const override { return 1'767'225'600'000; }  // 2026-01-01T00:00:00Z
};

constexpr std::string_view kCatalogue = R"({"entities":[
  {"name":"Agreement","description":"a"},{"name":"Room","description":"r"},
  {"name":"Visitor","description":"v"},{"name":"Work_Order","description":"w"}]})";

struct World {
    std::filesystem::path dir;
    FixedClock clock;
    Metrics metrics;
    Catalogue catalogue;
    std::unique_ptr<store::Store> store;
    std::unique_ptr<delivery::Dispatcher> dispatcher;
    std::unique_ptr<api::Api> api;
    std::string tokens[3];  // operator, admin, publisher
    std::string webhook_id, delivery_id, spare_token_id;

    World() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "hookd-fuzz-XXXXXX").string();
        if (!mkdtemp(tmpl.data())) Die("mkdtemp failed");
        dir = tmpl;
        auto c = Catalogue::Parse(kCatalogue);
        if (!c) Die("catalogue: " + c.error().message);
        catalogue = std::move(*c);
        auto box = crypto::SecretBox::Create(std::string(32, 'k'));
        auto s = store::OpenSqliteStore({(dir / "hookd.db").string(), "NORMAL", 2000}, std::move(*box));
        if (!s) Die("store: " + s.error().message);
        store = std::move(*s);
        dispatcher = std::make_unique<delivery::Dispatcher>(*store, metrics, clock, DefaultRandomSource(),
                                                            delivery::DispatcherOptions{});
        api::ApiOptions o;
        o.operator_token = "op";
        o.rate_per_second = 1e9;  // the clock stands still: a huge burst keeps 429 out of the way
        o.rate_burst = 1e15;
        api = std::make_unique<api::Api>(*store, *dispatcher, catalogue, metrics, clock, o);

        tokens[0] = "op";
        Expect(Call("POST", "/v1/sites", "op", R"({"id":"acme","name":"Acme"})"), 201);
        Expect(Call("POST", "/v1/sites", "op", R"({"id":"beta","name":"Beta"})"), 201);
        tokens[1] = Field(Expect(Call("POST", "/v1/sites/acme/tokens", "op", R"({"role":"admin"})"), 201), "token");
        tokens[2] =
            Field(Expect(Call("POST", "/v1/sites/acme/tokens", "op", R"({"role":"publisher"})"), 201), "token");
        spare_token_id =
            Field(Expect(Call("POST", "/v1/sites/acme/tokens", "op", R"({"role":"admin","name":"spare"})"), 201), "id");
        webhook_id = Field(Expect(Call("POST", "/v1/sites/acme/webhooks", tokens[1],
                                       R"({"payloadUrl":"https://example.com/hook","secret":"mySecret",)"
                                       R"("events":["CREATE","UPDATE"],"sendEverything":true})"),
                                  201),
                           "id");
        Expect(Call("POST", "/v1/sites/acme/events", tokens[2],
                    R"({"event":"CREATE","entity":"Agreement","entityId":25})"),
               202);
        auto list = Expect(Call("GET", "/v1/sites/acme/webhooks/" + webhook_id + "/deliveries", tokens[1], ""), 200);
        delivery_id = std::string(json::parse(list.body).at("data").at(0).at("id").as_string());
    }

    ~World() {
        api.reset();
        dispatcher.reset();
        store.reset();
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }

    api::HttpResponse Call(std::string method, const std::string& target, const std::string& token, std::string body,
                           const std::vector<std::pair<std::string, std::string>>& headers = {}) {
        api::HttpRequest r;
        r.method = std::move(method);
        const auto q = target.find('?');
        r.path = target.substr(0, q);
        if (q != std::string::npos) r.query = target.substr(q + 1);
        r.body = std::move(body);
        r.headers = headers;
        r.headers.emplace_back("authorization", "Bearer " + token);
        return api->Handle(r);
    }

    static api::HttpResponse Expect(api::HttpResponse r, int status) {
        if (r.status != status) Die("setup: expected " + std::to_string(status) + ", got " + std::to_string(r.status) + ": " + r.body);
        return r;
    }
    static std::string Field(const api::HttpResponse& r, const char* name) {
        return std::string(json::parse(r.body).at(name).as_string());
    }
};

World* g_world = nullptr;
int g_runs = 0;

void ResetWorld() {
    delete g_world;
    g_world = new World();
}

void Replace(std::string& s, std::string_view from, const std::string& to) {
    for (std::size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
        s.replace(pos, from.size(), to);
    }
}

void CheckResponse(const api::HttpResponse& r, const std::string& method, const std::string& target) {
    static constexpr int kKnown[] = {200, 201, 202, 204, 400, 401, 403, 404, 405, 409, 413, 422, 429, 503};
    bool known = false;
    for (int s : kKnown) known |= r.status == s;
    if (!known) {
        Die("unexpected status " + std::to_string(r.status) + " for " + method + " " + target + ": " + r.body);
    }
    if (method != "HEAD" && (r.content_type == "application/json" || r.content_type == "application/problem+json")) {
        // The API echoes the request path in 404/405 details, and a path may hold any
        // byte (the HTTP server percent-decodes it), so invalid UTF-8 is only an error
        // when HOOKD_FUZZ_STRICT_UTF8=1.
        static const bool strict = [] {
            const char* v = std::getenv("HOOKD_FUZZ_STRICT_UTF8");
            return v && std::string_view(v) == "1";
        }();
        json::parse_options opt;
        opt.allow_invalid_utf8 = !strict;
        boost::system::error_code ec;
        (void)json::parse(r.body, ec, {}, opt);
        if (ec) Die("response body is not JSON (" + ec.message() + ") for " + method + " " + target + ": " + r.body);
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    spdlog::set_level(spdlog::level::off);
    ResetWorld();
    std::atexit([] {
        delete g_world;
        g_world = nullptr;
    });
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 64 * 1024) return -1;  // the HTTP server caps bodies at 1 MiB; keep runs fast
    if (++g_runs % kResetEvery == 0) ResetWorld();
    World& w = *g_world;

    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const std::size_t eol = in.find('\n');
    std::string_view line = in.substr(0, eol);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string_view rest = eol == std::string_view::npos ? std::string_view() : in.substr(eol + 1);

    const std::size_t sp = line.find(' ');
    std::string method(line.substr(0, sp));
    std::string target = sp == std::string_view::npos ? "/" : std::string(line.substr(sp + 1));

    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    if (const std::size_t blank = rest.find("\n\n"); blank != std::string_view::npos) {
        std::string_view head = rest.substr(0, blank);
        body = std::string(rest.substr(blank + 2));
        while (!head.empty()) {
            const std::size_t nl = head.find('\n');
            const std::string_view h = head.substr(0, nl);
            head = nl == std::string_view::npos ? std::string_view() : head.substr(nl + 1);
            const std::size_t colon = h.find(':');
            if (colon == std::string_view::npos) continue;
            std::string name(h.substr(0, colon));
            for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (name == "authorization") continue;  // the harness sets it
            std::string_view value = h.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
            headers.emplace_back(std::move(name), std::string(value));
        }
    } else {
        body = std::string(rest);
    }
    for (std::string* s : {&target, &body}) {
        Replace(*s, "@WH@", w.webhook_id);
        Replace(*s, "@DLV@", w.delivery_id);
        Replace(*s, "@TOK@", w.spare_token_id);
    }
    for (const auto& token : w.tokens) {
        const auto r = w.Call(method, target, token, body, headers);
        CheckResponse(r, method, target);
    }
    return 0;
}
