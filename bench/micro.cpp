// hookd_micro: Google Benchmark micro-benchmarks of hookd's hot paths (issue 7):
// signing (legacy and Standard Webhooks), building a whole request, matching an event
// against 10,000 webhooks, JSON parse/serialise of a 1,000-event batch, and the
// store's ingest and claim-and-complete cycle on a temporary SQLite file.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/crypto.hpp"
#include "core/domain.hpp"
#include "core/signature.hpp"
#include "core/wire.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace {

using namespace hookd;
namespace json = boost::json;

// ------------------------------------------------------------------ signing

void BM_SignLegacy(benchmark::State& state) {
    for (auto _ : state) {
        auto s = signature::Legacy("mySecret", "CREATE", "Agreement", "25");
        benchmark::DoNotOptimize(s);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SignLegacy);

void BM_SignStandard(benchmark::State& state) {
    const std::string body = R"({"event":"CREATE","entity":"Agreement","entityId":25})";
    for (auto _ : state) {
        auto s = signature::Standard("whsec-raw-secret-bytes", "dlv_01JD5Z8Q2K3M4N5P6R7S8T9V0W", 1764345024, body);
        benchmark::DoNotOptimize(s);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SignStandard);

// Everything hookd computes for one attempt: URL, body, both signatures, headers.
void BM_WireBuild(benchmark::State& state) {
    const bool get = state.range(0) == 1;
    const std::vector<std::string_view> secrets{"mySecret"};
    const EntityId id{"25", true};
    for (auto _ : state) {
        auto r = wire::Build(get ? HttpMethod::kGet : HttpMethod::kPost, "http://127.0.0.1:8080/hook?x=1",
                             "dlv_01JD5Z8Q2K3M4N5P6R7S8T9V0W", EventType::kCreate, "Agreement", id, secrets,
                             1764345024);
        benchmark::DoNotOptimize(r);
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(get ? "GET" : "POST");
}
BENCHMARK(BM_WireBuild)->Arg(0)->Arg(1);

// ------------------------------------------------------------------ matching

std::vector<std::string> EntityNames() {
    std::vector<std::string> names{"Agreement", "Building", "Floor", "Room", "Desk", "Reservation", "Visitor", "Asset",
                                   "WorkOrder", "MailItem", "Move"};
    for (int i = static_cast<int>(names.size()); i < 140; ++i) names.push_back("Entity" + std::to_string(i));
    return names;
}

// 10,000 webhooks of one site: 10% "send everything", the others 1–20 entities of the
// 140 (Agreement among them for about one in ten), random event sets.
void BM_Match10kWebhooks(benchmark::State& state) {
    const auto names = EntityNames();
    std::mt19937 rng(42);
    std::vector<Webhook> hooks(10'000);
    for (auto& w : hooks) {
        w.events = static_cast<EventMask>(1 + rng() % 15);
        w.send_everything = rng() % 10 == 0;
        if (!w.send_everything) {
            const int n = 1 + static_cast<int>(rng() % 20);
            for (int i = 0; i < n; ++i) w.entities.push_back(names[rng() % names.size()]);
        }
    }
    std::size_t matched = 0;
    for (auto _ : state) {
        matched = 0;
        for (const auto& w : hooks) matched += w.Matches(EventType::kCreate, "Agreement") ? 1 : 0;
        benchmark::DoNotOptimize(matched);
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(hooks.size()));
    state.counters["matched"] = static_cast<double>(matched);
}
BENCHMARK(BM_Match10kWebhooks);

// ------------------------------------------------------------------ JSON

std::string BatchBody(int n) {
    std::string b = "{\"events\":[";
    for (int i = 0; i < n; ++i) {
        if (i) b += ',';
        b += R"({"event":"CREATE","entity":"Agreement","entityId":)" + std::to_string(1'000'000 + i) + "}";
    }
    return b + "]}";
}

void BM_JsonParseBatch1000(benchmark::State& state) {
    const std::string body = BatchBody(1000);
    for (auto _ : state) {
        json::value v = json::parse(body);
        benchmark::DoNotOptimize(v);
    }
    state.SetItemsProcessed(state.iterations() * 1000);
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
}
BENCHMARK(BM_JsonParseBatch1000);

// Parse plus reading every field into hookd's value types (what the API does before validation).
void BM_JsonParseReadBatch1000(benchmark::State& state) {
    const std::string body = BatchBody(1000);
    for (auto _ : state) {
        json::value v = json::parse(body);
        std::vector<ChangeEvent> events;
        events.reserve(1000);
        for (const auto& e : v.as_object().at("events").as_array()) {
            const auto& o = e.as_object();
            ChangeEvent ce;
            ce.type = *ParseEventType(o.at("event").as_string());
            ce.entity = std::string(o.at("entity").as_string());
            ce.entity_id = EntityId{std::to_string(o.at("entityId").to_number<std::int64_t>()), true};
            events.push_back(std::move(ce));
        }
        benchmark::DoNotOptimize(events);
    }
    state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_JsonParseReadBatch1000);

void BM_JsonSerialiseBatch1000(benchmark::State& state) {
    for (auto _ : state) {
        json::array events;
        events.reserve(1000);
        for (int i = 0; i < 1000; ++i) {
            events.emplace_back(json::object{{"event", "CREATE"}, {"entity", "Agreement"}, {"entityId", 1'000'000 + i}});
        }
        std::string s = json::serialize(json::object{{"events", std::move(events)}});
        benchmark::DoNotOptimize(s);
    }
    state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_JsonSerialiseBatch1000);

// ------------------------------------------------------------------ store

struct TempStore {
    std::filesystem::path dir;
    sched::Scheduler queue{sched::SchedulerOptions{.buffer_per_slot = 0}};  // claims without starting
    std::unique_ptr<store::Store> store;
    SiteId site = "bench";
    WebhookId hook;

    explicit TempStore(const std::string& synchronous) {
        std::string tmpl = (std::filesystem::temp_directory_path() / "hookd-micro-XXXXXX").string();
        if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        dir = tmpl;
        auto box = crypto::SecretBox::Create(std::string(32, 'k'));
        if (!box) throw std::runtime_error(box.error().message);
        auto s = store::OpenSqliteStore({(dir / "hookd.db").string(), synchronous, 5000}, std::move(*box));
        if (!s) throw std::runtime_error(s.error().message);
        store = std::move(*s);
        store->Attach(&queue);
        const TimeMs now = SystemClock().Now();
        (void)store->CreateSite(store::Site{site, "Bench", now});
        Webhook w;
        w.id = NewTypedId<WebhookId>(kWebhookPrefix);
        w.site = site;
        w.payload_url = "http://127.0.0.1:9/hook";
        w.secret = "bench-secret";
        w.events = Bit(EventType::kCreate);
        w.send_everything = true;
        w.max_in_flight = 1000;
        w.created_at = w.updated_at = now;
        if (auto r = store->CreateWebhook(w); !r) throw std::runtime_error(r.error().message);
        hook = w.id;
    }
    ~TempStore() {
        store.reset();
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }

    void Ingest(int n, std::int64_t first_id) {
        std::vector<ChangeEvent> events(static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i) {
            auto& e = events[static_cast<std::size_t>(i)];
            e.site = site;
            e.type = EventType::kCreate;
            e.entity = "Agreement";
            e.entity_id = EntityId{std::to_string(first_id + i), true};
        }
        auto r = store->Ingest(site, std::move(events), std::nullopt, SystemClock().Now());
        if (!r) throw std::runtime_error(r.error().message);
    }
};

// One durable commit of a batch of events, each creating one delivery.
void BM_StoreIngest(benchmark::State& state) {
    TempStore ts(state.range(1) == 1 ? "FULL" : "NORMAL");
    const int n = static_cast<int>(state.range(0));
    std::int64_t id = 1;
    for (auto _ : state) {
        ts.Ingest(n, id);
        id += n;
    }
    state.SetItemsProcessed(state.iterations() * n);
    state.SetLabel(state.range(1) == 1 ? "synchronous=FULL" : "synchronous=NORMAL");
}
BENCHMARK(BM_StoreIngest)->Args({1, 1})->Args({100, 1})->Args({1000, 1})->Args({1000, 0})->UseRealTime();

// Claim `batch` due deliveries, then record them all as succeeded (two transactions).
void BM_StoreClaimComplete(benchmark::State& state) {
    TempStore ts(state.range(1) == 1 ? "FULL" : "NORMAL");
    const int batch = static_cast<int>(state.range(0));
    std::int64_t id = 1;
    std::int64_t delivered = 0;
    std::vector<store::Outcome> outcomes;
    for (int k = 0; k < 20; ++k) {
        ts.Ingest(1000, id);
        id += 1000;
    }
    for (auto _ : state) {
        const TimeMs now = SystemClock().Now();
        auto claimed = ts.store->Claim("bench", now, 60'000, batch);
        if (!claimed) {
            state.SkipWithError(claimed.error().message.c_str());
            break;
        }
        if (static_cast<int>(claimed->size()) < batch) {
            state.PauseTiming();
            for (int k = 0; k < 20; ++k) {
                ts.Ingest(1000, id);
                id += 1000;
            }
            state.ResumeTiming();
        }
        outcomes.clear();
        for (auto& c : *claimed) {
            store::Outcome o;
            o.seq = c.seq;
            o.webhook_id = c.delivery.webhook_id;
            o.attempt.number = 1;
            o.attempt.started_at = now;
            o.attempt.duration_ms = 1;
            o.attempt.status = 200;
            o.attempt.response_snippet = "ok";
            o.state = DeliveryState::kSucceeded;
            outcomes.push_back(std::move(o));
        }
        if (auto r = ts.store->Complete(outcomes, now); !r) {
            state.SkipWithError(r.error().message.c_str());
            break;
        }
        delivered += static_cast<std::int64_t>(outcomes.size());
    }
    state.SetItemsProcessed(delivered);
    state.SetLabel(state.range(1) == 1 ? "synchronous=FULL" : "synchronous=NORMAL");
}
BENCHMARK(BM_StoreClaimComplete)
    ->Args({1, 1})
    ->Args({64, 1})
    ->Args({512, 1})
    ->Args({512, 0})
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
