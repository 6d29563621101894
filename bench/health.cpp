// hookd-health-bench: how long the admin page's health figures take on a big database
// (issue 16: "< 50 ms with 1 M deliveries"). Fills a store through its own interface —
// Ingest, then Complete for every delivery, so the hourly counters are written by the
// real hook — with attempts spread over the last 7 days, then times:
//   1. GetHealth for the busiest webhook over 7 days (the Health panel, 168 hourly rows),
//   2. GetHealth for the whole site over 24 hours (the list: every webhook),
//   3. for comparison, the plain query that would give (part of) the same figures from
//      the attempts table: per hour, attempts, successes and the mean duration.
// Usage: hookd-health-bench --db sqlite:PATH|postgresql://... [--deliveries N] [--webhooks W]
//        [--reuse]   (--reuse: the database was filled by an earlier run; only time the queries)
#include <libpq-fe.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/crypto.hpp"
#include "core/health.hpp"
#include "store/postgres/pg_store.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace {

using namespace hookd;
using Clock = std::chrono::steady_clock;
using store::Outcome;

constexpr TimeMs kWeekMs = 7 * 24 * health::kHourMs;

double Ms(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

[[noreturn]] void Die(const std::string& what) {
    std::fprintf(stderr, "hookd-health-bench: %s\n", what.c_str());
    std::exit(1);
}

template <typename T>
T Must(Result<T> r, const char* what) {
    if (!r) Die(std::string(what) + ": " + r.error().message);
    return std::move(*r);
}
void Must(Status r, const char* what) {
    if (!r) Die(std::string(what) + ": " + r.error().message);
}

struct Timing {
    double median = 0, max = 0;
};

template <typename Fn>
Timing Time(int runs, Fn&& fn) {
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
        const auto a = Clock::now();
        fn();
        ms.push_back(Ms(a, Clock::now()));
    }
    std::sort(ms.begin(), ms.end());
    return {ms[ms.size() / 2], ms.back()};
}

WebhookId HookId(int i) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "wh_BENCH%018d", i);
    return WebhookId(buf);
}

// Webhook 0 gets half of the deliveries (the busiest one the Health panel shows); the
// others share the rest.
int HookOf(std::mt19937_64& rng, int webhooks) {
    if (webhooks == 1 || rng() % 2 == 0) return 0;
    return 1 + static_cast<int>(rng() % static_cast<std::uint64_t>(webhooks - 1));
}

// One attempt as a busy receiver answers: mostly fast 2xx, some slow, some failures.
Outcome MakeOutcome(std::mt19937_64& rng, std::int64_t seq, const WebhookId& hook, TimeMs now) {
    Outcome o;
    o.seq = seq;
    o.webhook_id = hook;
    Attempt& a = o.attempt;
    a.number = 1;
    a.started_at = now - static_cast<TimeMs>(rng() % static_cast<std::uint64_t>(kWeekMs));
    std::lognormal_distribution<double> latency(3.5, 1.0);  // median ~33 ms
    a.duration_ms = std::min<std::int64_t>(15'000, static_cast<std::int64_t>(latency(rng)));
    const auto roll = rng() % 100;
    if (roll < 90) {
        a.status = 200;
        o.state = DeliveryState::kSucceeded;
    } else if (roll < 97) {
        a.status = 503;
        a.error = AttemptError::kHttp;
        o.state = DeliveryState::kPending;
        o.next_attempt_at = now + kWeekMs;  // retried later: stays pending
    } else {
        a.error = AttemptError::kTimeout;
        a.duration_ms = 15'000;
        o.state = DeliveryState::kFailed;
    }
    return o;
}

void Fill(store::Store& s, bool sqlite, const std::string& pg_url, std::int64_t deliveries, int webhooks, TimeMs now) {
    Must(s.CreateSite({"bench", "Bench", now}), "create site");
    for (int i = 0; i < webhooks; ++i) {
        Webhook w;
        w.id = HookId(i);
        w.site = "bench";
        w.payload_url = "http://127.0.0.1:9/hook";
        w.secret = "benchSecret";
        w.events = Bit(EventType::kCreate);
        w.entities = {"E" + std::to_string(i)};
        w.created_at = w.updated_at = now - kWeekMs;
        Must(s.CreateWebhook(w), "create webhook");
    }
    std::mt19937_64 rng(42);
    const auto t0 = Clock::now();
    std::int64_t made = 0;
    while (made < deliveries) {
        std::vector<ChangeEvent> batch;
        for (int i = 0; i < 1000 && made < deliveries; ++i, ++made) {
            ChangeEvent e;
            e.type = EventType::kCreate;
            e.entity = "E" + std::to_string(HookOf(rng, webhooks));
            e.entity_id = EntityId{std::to_string(made), true};
            batch.push_back(std::move(e));
        }
        Must(s.Ingest("bench", std::move(batch), std::nullopt, now - kWeekMs), "ingest");
    }
    const auto t1 = Clock::now();
    std::fprintf(stderr, "ingested %lld deliveries in %.1f s\n", static_cast<long long>(deliveries), Ms(t0, t1) / 1000);

    std::int64_t done = 0;
    if (sqlite) {
        // Through the queue, as the dispatcher does.
        for (;;) {
            auto claimed = Must(s.Claim("bench", now - kWeekMs, 3'600'000, 2000), "claim");
            if (claimed.empty()) break;
            std::vector<Outcome> outs;
            for (const auto& c : claimed) outs.push_back(MakeOutcome(rng, c.seq, c.delivery.webhook_id, now));
            Must(s.Complete(outs, now), "complete");
            done += static_cast<std::int64_t>(outs.size());
        }
    } else {
        // Claiming 1 M rows one batch at a time is what PostgreSQL is slowest at (docs/benchmarks.md);
        // outcomes without a lease owner (as test messages report) go through the same Complete.
        PGconn* c = PQconnectdb(pg_url.c_str());
        if (PQstatus(c) != CONNECTION_OK) Die(PQerrorMessage(c));
        PGresult* r = PQexec(c, "SELECT seq, webhook_id FROM deliveries WHERE state = 0 ORDER BY seq");
        if (PQresultStatus(r) != PGRES_TUPLES_OK) Die(PQerrorMessage(c));
        std::vector<Outcome> outs;
        for (int i = 0; i < PQntuples(r); ++i) {
            outs.push_back(MakeOutcome(rng, std::atoll(PQgetvalue(r, i, 0)), WebhookId(PQgetvalue(r, i, 1)), now));
            if (outs.size() == 2000 || i + 1 == PQntuples(r)) {
                Must(s.Complete(outs, now), "complete");
                done += static_cast<std::int64_t>(outs.size());
                outs.clear();
            }
        }
        PQclear(r);
        PQfinish(c);
    }
    std::fprintf(stderr, "recorded %lld attempts in %.1f s\n", static_cast<long long>(done), Ms(t1, Clock::now()) / 1000);
}

// The plain query over the attempts, for comparison: per hour of the last 7 days, the busiest
// webhook's attempts, successes and mean duration (no percentiles, no retried/failed split).
constexpr const char* kPlainSqlite =
    "SELECT a.started_at - a.started_at % 3600000 AS hour, count(*), sum(a.status BETWEEN 200 AND 299), "
    "avg(a.duration_ms) FROM deliveries d JOIN attempts a ON a.delivery_seq = d.seq "
    "WHERE d.webhook_id = ?1 AND a.started_at >= ?2 GROUP BY hour";
constexpr const char* kPlainPg =
    "SELECT a.started_at - a.started_at % 3600000 AS hour, count(*), sum((a.status BETWEEN 200 AND 299)::int), "
    "avg(a.duration_ms) FROM deliveries d JOIN attempts a ON a.delivery_seq = d.seq "
    "WHERE d.webhook_id = $1 AND a.started_at >= $2 GROUP BY hour";

}  // namespace

int main(int argc, char** argv) {
    std::string db;
    std::int64_t deliveries = 1'000'000;
    int webhooks = 100;
    bool reuse = false;
    int runs = 20;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) Die(a + " needs a value");
            return argv[++i];
        };
        if (a == "--db") db = next();
        else if (a == "--deliveries") deliveries = std::atoll(next().c_str());
        else if (a == "--webhooks") webhooks = std::atoi(next().c_str());
        else if (a == "--runs") runs = std::atoi(next().c_str());
        else if (a == "--reuse") reuse = true;
        else Die("unknown argument " + a);
    }
    if (db.empty() || webhooks < 1 || deliveries < 1 || runs < 1) {
        Die("usage: hookd-health-bench --db sqlite:PATH|postgresql://... [--deliveries N] [--webhooks W] [--reuse]");
    }
    const bool sqlite = db.rfind("sqlite:", 0) == 0;
    auto box = Must(crypto::SecretBox::Create(std::string(32, 'b')), "key");
    auto store = sqlite ? Must(store::OpenSqliteStore({db.substr(7), "NORMAL", 5000}, box), "open")
                        : Must(store::OpenPostgresStore({db, 4}, box), "open");
    sched::Scheduler queue(sched::SchedulerOptions{.buffer_per_slot = 0});  // claims without starting
    store->Attach(&queue);
    const TimeMs now = SystemClock().Now();
    if (!reuse) Fill(*store, sqlite, db, deliveries, webhooks, now);

    const WebhookId hot = HookId(0);
    std::size_t hours = 0;
    std::int64_t attempts = 0;
    const Timing panel = Time(runs, [&] {
        auto h = Must(store->GetHealth("bench", hot, health::kWeek.Start(now)), "health");
        hours = h.front().hours.size();
        attempts = 0;
        for (const auto& x : h.front().hours) attempts += x.counts.attempts();
    });
    std::size_t listed = 0;
    const Timing list = Time(runs, [&] {
        listed = Must(store->GetHealth("bench", std::nullopt, health::kDay.Start(now)), "health").size();
    });
    store->Attach(nullptr);

    // The plain query, on its own connection.
    const TimeMs since = now - kWeekMs;
    std::int64_t plain_rows = 0;
    Timing plain;
    if (sqlite) {
        sqlite3* c = nullptr;
        if (sqlite3_open_v2(db.substr(7).c_str(), &c, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) Die("sqlite open");
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(c, kPlainSqlite, -1, &st, nullptr) != SQLITE_OK) Die(sqlite3_errmsg(c));
        plain = Time(std::min(runs, 5), [&] {
            sqlite3_bind_text(st, 1, hot.str().c_str(), -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(st, 2, since);
            plain_rows = 0;
            while (sqlite3_step(st) == SQLITE_ROW) ++plain_rows;
            sqlite3_reset(st);
        });
        sqlite3_finalize(st);
        sqlite3_close(c);
    } else {
        PGconn* c = PQconnectdb(db.c_str());
        if (PQstatus(c) != CONNECTION_OK) Die(PQerrorMessage(c));
        const std::string s = std::to_string(since);
        plain = Time(std::min(runs, 5), [&] {
            const char* params[] = {hot.str().c_str(), s.c_str()};
            PGresult* r = PQexecParams(c, kPlainPg, 2, nullptr, params, nullptr, nullptr, 0);
            if (PQresultStatus(r) != PGRES_TUPLES_OK) Die(PQerrorMessage(c));
            plain_rows = PQntuples(r);
            PQclear(r);
        });
        PQfinish(c);
    }

    std::printf("store %s, %d webhooks; the busiest has %lld attempts in the last 7 days\n",
                sqlite ? "SQLite" : "PostgreSQL", webhooks, static_cast<long long>(attempts));
    std::printf("GetHealth, one webhook, 7 days (%zu hourly rows):   median %.2f ms, max %.2f ms (%d runs)\n", hours,
                panel.median, panel.max, runs);
    std::printf("GetHealth, whole site, 24 hours (%zu webhooks):     median %.2f ms, max %.2f ms (%d runs)\n", listed,
                list.median, list.max, runs);
    std::printf("plain query over attempts, one webhook, 7 days (%lld rows): median %.1f ms, max %.1f ms (%d runs)\n",
                static_cast<long long>(plain_rows), plain.median, plain.max, std::min(runs, 5));
    return 0;
}
