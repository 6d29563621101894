#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <thread>

#include <libpq-fe.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <set>

#include "store/postgres/pg_store.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/temp_dir.hpp"

namespace hookd::store {
namespace {

constexpr TimeMs kT0 = 1'700'000'000'000;

// Runs a statement on the PostgreSQL server named by HOOKD_TEST_PG_URL (an admin URL);
// returns the first value of the first row.
std::string PgAdmin(const std::string& url, const std::string& sql) {
    PGconn* c = PQconnectdb(url.c_str());
    PGresult* r = PQexec(c, sql.c_str());
    std::string out = PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        ADD_FAILURE() << sql << ": " << PQerrorMessage(c);
    }
    PQclear(r);
    PQfinish(c);
    return out;
}

std::string WithDatabase(const std::string& url, const std::string& db) {
    const auto slash = url.rfind('/');
    return url.substr(0, slash + 1) + db;
}

// The same contract, run against each store implementation ("sqlite", "postgres").
class StoreTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (GetParam() == "postgres") {
            const char* url = std::getenv("HOOKD_TEST_PG_URL");
            if (!url || !*url) GTEST_SKIP() << "HOOKD_TEST_PG_URL is not set (scripts/test.sh sets it)";
            admin_url_ = url;
            std::mt19937_64 rng{std::random_device{}()};
            db_ = "hookd_t_" + std::to_string(rng() % 1000000000000ULL);
            PgAdmin(admin_url_, "CREATE DATABASE " + db_);
        }
        store_ = Open(std::string(32, 'k'));
        ASSERT_TRUE(store_);
        ASSERT_TRUE(store_->CreateSite({"acme", "Acme", kT0}));
        ASSERT_TRUE(store_->CreateSite({"other", "Other", kT0}));
    }
    void TearDown() override {
        store_.reset();
        if (!db_.empty()) PgAdmin(admin_url_, "DROP DATABASE IF EXISTS " + db_ + " WITH (FORCE)");
    }

    std::unique_ptr<Store> Open(const std::string& key, int load_window = 0) {
        auto box = *crypto::SecretBox::Create(key);
        PostgresOptions pg{WithDatabase(admin_url_, db_), 4};
        SqliteOptions lite{dir_.File("hookd.db"), "FULL", 200};
        if (load_window > 0) pg.load_window = lite.load_window = load_window;
        auto s = GetParam() == "postgres" ? OpenPostgresStore(pg, box) : OpenSqliteStore(lite, box);
        EXPECT_TRUE(s) << (s ? "" : s.error().message);
        if (!s) return nullptr;
        // A fresh scheduler, as a process has after a restart; claims are not started here,
        // so buffers are unbounded.
        queues_.push_back(std::make_unique<sched::Scheduler>(
            sched::SchedulerOptions{.idempotent_adds = GetParam() == "postgres", .buffer_per_slot = 0}));
        queue_ = queues_.back().get();
        (*s)->Attach(queue_);
        return std::move(*s);
    }

    Webhook MakeWebhook(const SiteId& site, std::vector<std::string> entities, Ordering ordering = Ordering::kNone) {
        Webhook w;
        w.id = NewTypedId<WebhookId>(kWebhookPrefix);
        w.site = site;
        w.payload_url = "http://127.0.0.1:9/hook";
        w.secret = "mySecret";
        w.events = Bit(EventType::kCreate) | Bit(EventType::kUpdate);
        w.send_everything = entities.empty();
        w.entities = std::move(entities);
        w.ordering = ordering;
        w.created_at = w.updated_at = kT0;
        EXPECT_TRUE(store_->CreateWebhook(w));
        return w;
    }

    // An outcome as the dispatcher of node `node` reports it (with its lease owner).
    static Outcome Recorded(std::int64_t seq, const WebhookId& hook, Attempt attempt, DeliveryState state,
                            std::optional<TimeMs> next_attempt_at = std::nullopt, std::string node = "n") {
        Outcome o;
        o.lease_owner = std::move(node);
        o.seq = seq;
        o.webhook_id = hook;
        o.attempt = std::move(attempt);
        o.state = state;
        o.next_attempt_at = next_attempt_at;
        return o;
    }

    static ChangeEvent Event(EventType t, std::string entity, std::string id) {
        ChangeEvent e;
        e.type = t;
        e.entity = std::move(entity);
        e.entity_id = EntityId{std::move(id), true};
        return e;
    }

    testing::TempDir dir_;
    std::string admin_url_;
    std::string db_;
    std::vector<std::unique_ptr<sched::Scheduler>> queues_;  // one per Open (before store_: outlives it)
    sched::Scheduler* queue_ = nullptr;                       // the last one's
    std::unique_ptr<Store> store_;
};

TEST_P(StoreTest, IngestCreatesOneDeliveryPerMatchingWebhook) {
    auto agreements = MakeWebhook("acme", {"Agreement"});
    auto everything = MakeWebhook("acme", {});
    auto other_site = MakeWebhook("other", {});
    auto r = store_->Ingest("acme",
                            {Event(EventType::kCreate, "Agreement", "25"), Event(EventType::kCreate, "Room", "1"),
                             Event(EventType::kDelete, "Agreement", "2")},
                            std::nullopt, kT0);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->ids.size(), 3u);
    EXPECT_EQ(r->deliveries, 3u);  // Agreement→2 webhooks, Room→everything, DELETE→none
    auto a = store_->ListDeliveries("acme", agreements.id, {}, {});
    ASSERT_TRUE(a);
    ASSERT_EQ(a->items.size(), 1u);
    EXPECT_EQ(a->items[0].entity, "Agreement");
    EXPECT_EQ(a->items[0].event_id, r->ids[0]);
    EXPECT_EQ(store_->ListDeliveries("acme", everything.id, {}, {})->items.size(), 2u);
    EXPECT_TRUE(store_->ListDeliveries("other", other_site.id, {}, {})->items.empty());
    // Scoped by site: another site cannot read them.
    EXPECT_TRUE(store_->ListDeliveries("other", agreements.id, {}, {})->items.empty());
    EXPECT_EQ(store_->GetDelivery("other", a->items[0].id).error().code, ErrorCode::kNotFound);
}

TEST_P(StoreTest, DisabledWebhooksGetNothing) {
    auto w = MakeWebhook("acme", {});
    w.enabled = false;
    ASSERT_TRUE(store_->UpdateWebhook(w));
    auto r = store_->Ingest("acme", {Event(EventType::kCreate, "Room", "1")}, std::nullopt, kT0);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->deliveries, 0u);
}

TEST_P(StoreTest, IdempotencyKeyReturnsTheFirstIds) {
    MakeWebhook("acme", {});
    auto first = store_->Ingest("acme", {Event(EventType::kCreate, "Room", "1")}, "key-1", kT0);
    auto again = store_->Ingest("acme", {Event(EventType::kCreate, "Room", "1")}, "key-1", kT0);
    auto other = store_->Ingest("other", {Event(EventType::kCreate, "Room", "1")}, "key-1", kT0);
    ASSERT_TRUE(first && again && other);
    EXPECT_EQ(first->ids, again->ids);
    EXPECT_TRUE(again->replayed);
    EXPECT_FALSE(other->replayed);
    EXPECT_EQ(store_->Stats()->pending, 1);
}

TEST_P(StoreTest, ConcurrentIngestIsGroupCommittedAndLosesNothing) {
    MakeWebhook("acme", {});
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 50; ++i) {
                if (store_->Ingest("acme", {Event(EventType::kCreate, "Room", std::to_string(t * 100 + i))},
                                   std::nullopt, kT0)) {
                    ++ok;
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(ok, 400);
    EXPECT_EQ(store_->Stats()->pending, 400);
}

TEST_P(StoreTest, ClaimLeasesAndCompleteRecordsAttempts) {
    auto w = MakeWebhook("acme", {});
    ASSERT_TRUE(store_->Ingest("acme", {Event(EventType::kCreate, "Room", "1"), Event(EventType::kCreate, "Room", "2")},
                               std::nullopt, kT0));
    auto c = store_->Claim("n1", kT0, 30'000, 10);
    ASSERT_TRUE(c);
    ASSERT_EQ(c->size(), 2u);
    // Leased: not claimable again until the lease expires.
    EXPECT_TRUE(store_->Claim("n2", kT0 + 1000, 30'000, 10)->empty());

    std::vector<Outcome> outs{
        Recorded((*c)[0].seq, w.id, Attempt{1, kT0, 12, 200, AttemptError::kNone, "ok"}, DeliveryState::kSucceeded,
                 std::nullopt, "n1"),
        Recorded((*c)[1].seq, w.id, Attempt{1, kT0, 5, 500, AttemptError::kHttp, "boom"}, DeliveryState::kPending,
                 kT0 + 5000, "n1")};
    ASSERT_TRUE(store_->Complete(outs, kT0 + 20));

    auto d = store_->GetDelivery("acme", (*c)[0].delivery.id);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->state, DeliveryState::kSucceeded);
    ASSERT_EQ(d->attempts.size(), 1u);
    EXPECT_EQ(d->attempts[0].status, 200);
    EXPECT_EQ(d->attempts[0].response_snippet, "ok");
    EXPECT_FALSE(d->next_attempt_at);
    // The retried one becomes due at its next attempt time, not before.
    EXPECT_TRUE(store_->Claim("n1", kT0 + 4999, 30'000, 10)->empty());
    auto again = store_->Claim("n1", kT0 + 5000, 30'000, 10);
    ASSERT_EQ(again->size(), 1u);
    EXPECT_EQ((*again)[0].delivery.attempt_count, 1);
}

TEST_P(StoreTest, ExpiredLeaseMakesDeliveryDueAgainAndReleaseResumesAtOnce) {
    MakeWebhook("acme", {});
    ASSERT_TRUE(store_->Ingest("acme", {Event(EventType::kCreate, "Room", "1")}, std::nullopt, kT0));
    ASSERT_EQ(store_->Claim("dead", kT0, 30'000, 10)->size(), 1u);
    EXPECT_EQ(store_->Claim("alive", kT0 + 30'000, 30'000, 10)->size(), 1u);  // lease expired
    EXPECT_EQ(*store_->ReleaseLeases("alive", kT0 + 30'001), 1);
    EXPECT_EQ(store_->Claim("alive", kT0 + 30'001, 30'000, 10)->size(), 1u);
}

TEST_P(StoreTest, EntityOrderingHoldsLaterDeliveriesBack) {
    auto w = MakeWebhook("acme", {}, Ordering::kEntity);
    ASSERT_TRUE(store_->Ingest("acme",
                               {Event(EventType::kCreate, "Room", "1"), Event(EventType::kUpdate, "Room", "1"),
                                Event(EventType::kCreate, "Room", "2")},
                               std::nullopt, kT0));
    auto c = store_->Claim("n", kT0, 30'000, 10);
    ASSERT_EQ(c->size(), 2u);  // Room/1 first event and Room/2; Room/1 update waits
    for (const auto& x : *c) EXPECT_EQ(x.delivery.type, EventType::kCreate);
    std::vector<Outcome> outs{
        Recorded((*c)[0].seq, w.id, Attempt{1, kT0, 1, 200, AttemptError::kNone, ""}, DeliveryState::kSucceeded)};
    ASSERT_TRUE(store_->Complete(outs, kT0));
    auto next = store_->Claim("n", kT0, 30'000, 10);
    ASSERT_EQ(next->size(), 1u);
    EXPECT_EQ((*next)[0].delivery.type, EventType::kUpdate);
}

TEST_P(StoreTest, RetryReplayAndPurge) {
    auto w = MakeWebhook("acme", {});
    ASSERT_TRUE(store_->Ingest("acme", {Event(EventType::kCreate, "Room", "1")}, std::nullopt, kT0));
    auto c = store_->Claim("n", kT0, 30'000, 10);
    auto failed = [&](int number) {
        return std::vector<Outcome>{Recorded((*c)[0].seq, w.id, Attempt{number, kT0, 1, 500, AttemptError::kHttp, ""},
                                             DeliveryState::kFailed)};
    };
    ASSERT_TRUE(store_->Complete(failed(1), kT0));
    const auto id = (*c)[0].delivery.id;
    auto r = store_->RetryDelivery("acme", id, kT0 + 10);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->state, DeliveryState::kPending);
    EXPECT_EQ(store_->Claim("n", kT0 + 10, 30'000, 10)->size(), 1u);
    ASSERT_TRUE(store_->Complete(failed(2), kT0 + 20));
    DeliveryFilter f;
    f.since = kT0 - 1;
    f.state = DeliveryState::kFailed;
    EXPECT_EQ(*store_->Replay("acme", w.id, f, kT0 + 30), 1);
    EXPECT_EQ(*store_->Replay("other", w.id, f, kT0 + 30), 0);
    // Purge takes only final deliveries older than the cut-off.
    EXPECT_EQ(*store_->Purge(kT0 + 1, 100), 0);  // it is pending again
    ASSERT_EQ(store_->Claim("n", kT0 + 30, 30'000, 10)->size(), 1u);
    ASSERT_TRUE(store_->Complete(failed(3), kT0 + 40));
    EXPECT_EQ(store_->GetDelivery("acme", id)->attempts.size(), 3u);
    EXPECT_EQ(*store_->Purge(kT0 + 1, 100), 1);
    EXPECT_EQ(store_->GetDelivery("acme", id).error().code, ErrorCode::kNotFound);
}

TEST_P(StoreTest, SecretsAreEncryptedAtRestAndWrongKeyIsDetected) {
    auto w = MakeWebhook("acme", {});
    ASSERT_TRUE(store_->VerifyMasterKey());
    EXPECT_EQ(store_->GetWebhook("acme", w.id)->secret, "mySecret");
    store_.reset();
    if (GetParam() == "sqlite") {
        std::ifstream in(dir_.File("hookd.db"), std::ios::binary);
        std::stringstream bytes;
        bytes << in.rdbuf();
        std::ifstream wal(dir_.File("hookd.db-wal"), std::ios::binary);
        bytes << wal.rdbuf();
        EXPECT_EQ(bytes.str().find("mySecret"), std::string::npos);
    } else {
        EXPECT_EQ(PgAdmin(WithDatabase(admin_url_, db_),
                          "SELECT count(*) FROM webhooks WHERE secret LIKE '%mySecret%' OR payload_url = ''"),
                  "0");
        EXPECT_EQ(PgAdmin(WithDatabase(admin_url_, db_), "SELECT count(*) FROM webhooks"), "1");
    }
    auto wrong = Open(std::string(32, 'z'));
    ASSERT_TRUE(wrong);
    EXPECT_FALSE(wrong->VerifyMasterKey());
}

TEST_P(StoreTest, RekeyMovesEverySecretToTheNewKey) {
    auto w = MakeWebhook("acme", {});
    w.old_secret = "previous";
    w.old_secret_until = kT0 + 1000;
    ASSERT_TRUE(store_->UpdateWebhook(w));
    ASSERT_TRUE(store_->VerifyMasterKey());
    ASSERT_TRUE(store_->Rekey(*crypto::SecretBox::Create(std::string(32, 'n'))));
    EXPECT_EQ(store_->GetWebhook("acme", w.id)->secret, "mySecret");
    store_.reset();
    auto old_key = Open(std::string(32, 'k'));
    EXPECT_FALSE(old_key->VerifyMasterKey());
    old_key.reset();
    auto new_key = Open(std::string(32, 'n'));
    ASSERT_TRUE(new_key->VerifyMasterKey());
    auto after = new_key->GetWebhook("acme", w.id);
    ASSERT_TRUE(after);
    EXPECT_EQ(after->secret, "mySecret");
    EXPECT_EQ(after->old_secret, "previous");
}

TEST_P(StoreTest, AutoDisableAfterAPeriodOfFailuresOnly) {
    auto w = MakeWebhook("acme", {});
    ASSERT_TRUE(store_->Ingest("acme", {Event(EventType::kCreate, "Room", "1")}, std::nullopt, kT0));
    int number = 0;
    // Claims the delivery (due since the last failure) and records one more failed attempt.
    auto fail_at = [&](TimeMs t) {
        auto c = store_->Claim("n", t, 30'000, 10);
        EXPECT_EQ(c->size(), 1u);
        if (c->empty()) return std::vector<WebhookId>{};
        Outcome o = Recorded((*c)[0].seq, w.id, Attempt{++number, t, 1, 500, AttemptError::kHttp, ""},
                             DeliveryState::kPending, t + 1);
        o.auto_disable_after_ms = 10'000;
        std::vector<Outcome> outs{o};
        return *store_->Complete(outs, t);
    };
    EXPECT_TRUE(fail_at(kT0).empty());           // the failure streak starts
    EXPECT_TRUE(fail_at(kT0 + 9'999).empty());   // not yet the whole period
    auto disabled = fail_at(kT0 + 10'000);
    ASSERT_EQ(disabled.size(), 1u);
    auto after = store_->GetWebhook("acme", w.id);
    EXPECT_FALSE(after->enabled);
    EXPECT_TRUE(after->disabled_reason);
    // Re-enabling starts a new streak.
    after->enabled = true;
    after->disabled_reason.reset();
    after->disabled_at.reset();
    ASSERT_TRUE(store_->UpdateWebhook(*after));
    EXPECT_TRUE(fail_at(kT0 + 20'000).empty());
    EXPECT_TRUE(store_->GetWebhook("acme", w.id)->enabled);
}

TEST_P(StoreTest, ASuccessStopsTheFailureClockAlsoAfterARestart) {
    auto w = MakeWebhook("acme", {});
    std::vector<ChangeEvent> events;
    for (int i = 1; i <= 5; ++i) events.push_back(Event(EventType::kCreate, "Room", std::to_string(i)));
    ASSERT_TRUE(store_->Ingest("acme", events, std::nullopt, kT0));
    std::vector<std::int64_t> seqs;
    auto claimed = store_->Claim("n", kT0, 30'000, 10);
    ASSERT_TRUE(claimed);
    for (const auto& c : *claimed) seqs.push_back(c.seq);
    ASSERT_EQ(seqs.size(), 5u);
    std::size_t next = 0;  // one delivery per outcome
    auto record = [&](TimeMs t, int status) {
        const bool ok = status == 200;
        Outcome o = Recorded(seqs.at(next++), w.id,
                             Attempt{1, t, 1, status, ok ? AttemptError::kNone : AttemptError::kHttp, ""},
                             ok ? DeliveryState::kSucceeded : DeliveryState::kFailed);
        o.auto_disable_after_ms = 10'000;
        std::vector<Outcome> outs{o};
        return *store_->Complete(outs, t);
    };
    EXPECT_TRUE(record(kT0, 500).empty());  // the failure clock starts
    store_.reset();
    store_ = Open(std::string(32, 'k'));  // a restart in the middle of the streak
    ASSERT_TRUE(store_);
    // A restarted node's earlier leases are void: what was in flight is claimed again.
    ASSERT_EQ(store_->Claim("n", kT0 + 60'000, 30'000, 10)->size(), 4u);
    EXPECT_TRUE(record(kT0 + 5'000, 200).empty());   // stops it
    EXPECT_TRUE(record(kT0 + 10'000, 500).empty());  // a new streak, not 10 s of failures
    EXPECT_TRUE(record(kT0 + 19'999, 500).empty());
    EXPECT_EQ(record(kT0 + 20'000, 500).size(), 1u);
}

// A claim returns the delivery as recorded, whether the store still had it in memory from
// the ingest (SQLite) or read it back (after a restart, or on PostgreSQL).
TEST_P(StoreTest, ClaimReturnsTheDeliveryAsRecordedFreshOrAfterARestart) {
    auto w = MakeWebhook("acme", {});
    auto check = [&](const Claimed& c) {
        auto d = store_->GetDelivery("acme", c.delivery.id);
        ASSERT_TRUE(d) << c.delivery.id.str();
        EXPECT_EQ(c.delivery.site, "acme");
        EXPECT_EQ(c.delivery.webhook_id, w.id);
        EXPECT_EQ(c.delivery.event_id, d->event_id);
        EXPECT_EQ(c.delivery.type, d->type);
        EXPECT_EQ(c.delivery.entity, d->entity);
        EXPECT_EQ(c.delivery.entity_id.text, d->entity_id.text);
        EXPECT_EQ(c.delivery.entity_id.is_number, d->entity_id.is_number);
        EXPECT_EQ(c.delivery.created_at, d->created_at);
        EXPECT_EQ(c.delivery.attempt_count, 0);
    };
    ASSERT_TRUE(store_->Ingest("acme", {Event(EventType::kUpdate, "Room", "7")}, std::nullopt, kT0));
    auto fresh = store_->Claim("n", kT0, 30'000, 10);
    ASSERT_TRUE(fresh);
    ASSERT_EQ(fresh->size(), 1u);
    check((*fresh)[0]);
    EXPECT_EQ((*fresh)[0].delivery.entity_id.text, "7");

    ChangeEvent named = Event(EventType::kDelete, "Agreement", "a-12");
    named.entity_id.is_number = false;
    ASSERT_TRUE(store_->Ingest("acme", {named}, std::nullopt, kT0 + 1));
    store_.reset();
    store_ = Open(std::string(32, 'k'));
    ASSERT_TRUE(store_);
    auto read = store_->Claim("n", kT0 + 60'000, 30'000, 10);  // the first one's lease ran out too
    ASSERT_TRUE(read);
    ASSERT_GE(read->size(), 1u);
    for (const auto& c : *read) check(c);
}

TEST_P(StoreTest, TraceContextIsStoredWithTheEventAndReadWithItsDeliveries) {
    auto a = MakeWebhook("acme", {});
    auto b = MakeWebhook("acme", {"Room"});
    const std::string tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    ChangeEvent traced = Event(EventType::kCreate, "Room", "1");
    traced.traceparent = tp;
    traced.tracestate = "rojo=00f067aa0ba902b7";
    ChangeEvent untraced = Event(EventType::kCreate, "Room", "2");  // as stored before migration 7
    ASSERT_TRUE(store_->Ingest("acme", {traced, untraced}, std::nullopt, kT0));
    auto expect = [&](const Delivery& d) {
        if (d.entity_id.text == "1") {
            EXPECT_EQ(d.traceparent, tp) << d.id.str();
            EXPECT_EQ(d.tracestate, "rojo=00f067aa0ba902b7") << d.id.str();
        } else {
            EXPECT_EQ(d.traceparent, std::nullopt) << d.id.str();
            EXPECT_EQ(d.tracestate, std::nullopt) << d.id.str();
        }
    };
    auto fresh = store_->Claim("n", kT0, 30'000, 10);
    ASSERT_TRUE(fresh);
    ASSERT_EQ(fresh->size(), 4u);  // each event to both webhooks
    for (const auto& c : *fresh) {
        expect(c.delivery);
        auto d = store_->GetDelivery("acme", c.delivery.id);
        ASSERT_TRUE(d);
        expect(*d);
    }
    for (const auto& hook : {a.id, b.id}) {
        auto page = store_->ListDeliveries("acme", hook, {}, {});
        ASSERT_TRUE(page);
        ASSERT_EQ(page->items.size(), 2u);
        for (const auto& d : page->items) expect(d);
    }
    // Claimed again from the rows (a restart; the leases ran out).
    store_.reset();
    store_ = Open(std::string(32, 'k'));
    ASSERT_TRUE(store_);
    auto read = store_->Claim("n", kT0 + 60'000, 30'000, 10);
    ASSERT_TRUE(read);
    ASSERT_EQ(read->size(), 4u);
    for (const auto& c : *read) expect(c.delivery);
    // A test message has no stored event, so no stored trace either.
    auto test = store_->CreateTestDelivery(a, EventType::kCreate, "Room", EntityId{"t", false}, kT0);
    ASSERT_TRUE(test);
    auto td = store_->GetDelivery("acme", test->delivery.id);
    ASSERT_TRUE(td);
    EXPECT_EQ(td->traceparent, std::nullopt);
}

TEST_P(StoreTest, AuditLogIsPerSite) {
    ASSERT_TRUE(store_->AppendAudit({NewId("aud_"), "acme", kT0, "tok_1", "webhook.create", "wh_1", "{}"}));
    ASSERT_TRUE(store_->AppendAudit({NewId("aud_"), "other", kT0, "tok_2", "webhook.delete", "wh_2", "{}"}));
    auto list = store_->ListAudit("acme", {});
    ASSERT_TRUE(list);
    ASSERT_EQ(list->items.size(), 1u);
    EXPECT_EQ(list->items[0].action, "webhook.create");
}

TEST_P(StoreTest, DeletingAWebhookCancelsItsPendingDeliveries) {
    auto w = MakeWebhook("acme", {});
    ASSERT_TRUE(store_->Ingest("acme", {Event(EventType::kCreate, "Room", "1")}, std::nullopt, kT0));
    EXPECT_EQ(store_->DeleteWebhook("other", w.id, kT0).error().code, ErrorCode::kNotFound);
    ASSERT_TRUE(store_->DeleteWebhook("acme", w.id, kT0));
    EXPECT_EQ(store_->Stats()->pending, 0);
    EXPECT_TRUE(store_->Claim("n", kT0, 30'000, 10)->empty());
}

TEST_P(StoreTest, PaginationWalksEverything) {
    auto w = MakeWebhook("acme", {});
    for (int i = 0; i < 7; ++i) {
        ASSERT_TRUE(store_->Ingest("acme", {Event(EventType::kCreate, "Room", std::to_string(i))}, std::nullopt, kT0));
    }
    PageRequest page{std::nullopt, 3};
    std::vector<std::string> seen;
    for (int guard = 0; guard < 10; ++guard) {
        auto p = store_->ListDeliveries("acme", w.id, {}, page);
        ASSERT_TRUE(p);
        for (auto& d : p->items) seen.push_back(d.id.str());
        if (!p->next_cursor) break;
        page.cursor = p->next_cursor;
    }
    EXPECT_EQ(seen.size(), 7u);
    EXPECT_TRUE(std::is_sorted(seen.rbegin(), seen.rend()));  // newest first
}


// ---- the outcome policy (store/common/outcomes.hpp): the same on both stores ----

TEST_P(StoreTest, AnOutcomeAfterTheWebhookWasDeletedChangesNothing) {
    auto w = MakeWebhook("acme", {});
    ASSERT_TRUE(store_->Ingest("acme", {Event(EventType::kCreate, "Room", "1")}, std::nullopt, kT0));
    auto c = store_->Claim("n", kT0, 30'000, 10);
    ASSERT_EQ(c->size(), 1u);
    ASSERT_TRUE(store_->DeleteWebhook("acme", w.id, kT0 + 1));
    // The attempt that was in flight reports a failure with a retry: the delivery stays cancelled.
    std::vector<Outcome> outs{Recorded((*c)[0].seq, w.id, Attempt{1, kT0, 1, 500, AttemptError::kHttp, ""},
                                       DeliveryState::kPending, kT0 + 5'000)};
    ASSERT_TRUE(store_->Complete(outs, kT0 + 2));
    auto d = store_->GetDelivery("acme", (*c)[0].delivery.id);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->state, DeliveryState::kCancelled);
    EXPECT_TRUE(d->attempts.empty());
    EXPECT_EQ(store_->Stats()->pending, 0);
    // ... and is not brought back by a restart.
    store_.reset();
    store_ = Open(std::string(32, 'k'));
    ASSERT_TRUE(store_);
    EXPECT_EQ(store_->Stats()->pending, 0);
    EXPECT_TRUE(store_->Claim("n", kT0 + 60'000, 30'000, 10)->empty());
}

TEST_P(StoreTest, TheSameOutcomeRecordedTwiceCountsOnce) {
    auto w = MakeWebhook("acme", {});
    ASSERT_TRUE(store_->Ingest("acme", {Event(EventType::kCreate, "Room", "1")}, std::nullopt, kT0));
    auto c = store_->Claim("n", kT0, 30'000, 10);
    ASSERT_EQ(c->size(), 1u);
    std::vector<Outcome> first{Recorded((*c)[0].seq, w.id, Attempt{1, kT0, 1, 500, AttemptError::kHttp, "first"},
                                        DeliveryState::kPending, kT0 + 5'000)};
    std::vector<Outcome> again{Recorded((*c)[0].seq, w.id, Attempt{1, kT0, 1, 200, AttemptError::kNone, "again"},
                                        DeliveryState::kSucceeded)};
    ASSERT_TRUE(store_->Complete(first, kT0 + 1));
    ASSERT_TRUE(store_->Complete(again, kT0 + 2));
    auto d = store_->GetDelivery("acme", (*c)[0].delivery.id);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->state, DeliveryState::kPending);  // the first report stands
    ASSERT_EQ(d->attempts.size(), 1u);
    EXPECT_EQ(d->attempts[0].response_snippet, "first");
    EXPECT_EQ(d->attempt_count, 1);
}

TEST_P(StoreTest, AnOutcomeFromANodeWhoseLeaseWasTakenOverChangesNothing) {
    auto w = MakeWebhook("acme", {});
    ASSERT_TRUE(store_->Ingest("acme", {Event(EventType::kCreate, "Room", "1")}, std::nullopt, kT0));
    auto slow = store_->Claim("slow", kT0, 30'000, 10);
    ASSERT_EQ(slow->size(), 1u);
    auto alive = store_->Claim("alive", kT0 + 30'000, 30'000, 10);  // the lease ran out
    ASSERT_EQ(alive->size(), 1u);
    std::vector<Outcome> ok{Recorded((*alive)[0].seq, w.id, Attempt{1, kT0 + 30'000, 1, 200, AttemptError::kNone, ""},
                                     DeliveryState::kSucceeded, std::nullopt, "alive")};
    ASSERT_TRUE(store_->Complete(ok, kT0 + 30'001));
    std::vector<Outcome> late{Recorded((*slow)[0].seq, w.id, Attempt{1, kT0, 30'000, std::nullopt,
                                                                      AttemptError::kTimeout, ""},
                                       DeliveryState::kFailed, std::nullopt, "slow")};
    ASSERT_TRUE(store_->Complete(late, kT0 + 30'002));
    auto d = store_->GetDelivery("acme", (*slow)[0].delivery.id);
    EXPECT_EQ(d->state, DeliveryState::kSucceeded);
    EXPECT_EQ(d->attempts.size(), 1u);
}

TEST_P(StoreTest, ALaterSuccessInTheSameBatchPreventsAutoDisable) {
    auto w = MakeWebhook("acme", {});
    ASSERT_TRUE(store_->Ingest("acme",
                               {Event(EventType::kCreate, "Room", "1"), Event(EventType::kCreate, "Room", "2"),
                                Event(EventType::kCreate, "Room", "3")},
                               std::nullopt, kT0));
    auto c = store_->Claim("n", kT0, 30'000, 10);
    ASSERT_EQ(c->size(), 3u);
    auto out = [&](std::size_t i, TimeMs t, bool ok) {
        Outcome o = Recorded((*c)[i].seq, w.id, Attempt{1, t, 1, ok ? 200 : 500, ok ? AttemptError::kNone
                                                                                    : AttemptError::kHttp, ""},
                             ok ? DeliveryState::kSucceeded : DeliveryState::kFailed);
        o.auto_disable_after_ms = 10'000;
        return o;
    };
    std::vector<Outcome> first{out(0, kT0, false)};  // the failure clock starts at kT0
    ASSERT_TRUE(store_->Complete(first, kT0));
    // 20 s later: a failure (past the period), then a success of the same webhook.
    std::vector<Outcome> batch{out(1, kT0 + 20'000, false), out(2, kT0 + 20'001, true)};
    auto disabled = store_->Complete(batch, kT0 + 20'002);
    ASSERT_TRUE(disabled);
    EXPECT_TRUE(disabled->empty());
    EXPECT_TRUE(store_->GetWebhook("acme", w.id)->enabled);
}

TEST_P(StoreTest, GoneDisablesAtOnceAndItsDeliveriesWaitPending) {
    auto w = MakeWebhook("acme", {});
    ASSERT_TRUE(store_->Ingest("acme", {Event(EventType::kCreate, "Room", "1"), Event(EventType::kCreate, "Room", "2")},
                               std::nullopt, kT0));
    auto c = store_->Claim("n", kT0, 30'000, 1);
    ASSERT_EQ(c->size(), 1u);
    Outcome gone = Recorded((*c)[0].seq, w.id, Attempt{1, kT0, 1, 410, AttemptError::kHttp, ""},
                            DeliveryState::kPending, kT0 + 5'000);
    gone.disable_webhook_reason = "the receiver answered 410 Gone";
    std::vector<Outcome> outs{gone};
    ASSERT_TRUE(store_->Complete(outs, kT0 + 1));
    auto after = store_->GetWebhook("acme", w.id);
    EXPECT_FALSE(after->enabled);
    EXPECT_EQ(after->disabled_reason, "the receiver answered 410 Gone");
    EXPECT_EQ(store_->Stats()->pending, 2);
    EXPECT_TRUE(store_->Claim("n", kT0 + 10'000, 30'000, 10)->empty());  // disabled: nothing is claimed
    after->enabled = true;
    after->disabled_reason.reset();
    after->disabled_at.reset();
    ASSERT_TRUE(store_->UpdateWebhook(*after));
    EXPECT_EQ(store_->Claim("n", kT0 + 10'000, 30'000, 10)->size(), 2u);
}

TEST_P(StoreTest, AnUpdateMadeFromAStaleVersionCannotUndoADisable) {
    auto w = MakeWebhook("acme", {});
    auto read = store_->GetWebhook("acme", w.id);  // an admin's PATCH reads the webhook...
    ASSERT_TRUE(read);
    ASSERT_TRUE(store_->DisableWebhook(w.id, "every delivery failed for 5d", kT0 + 1));  // ...auto-disable...
    read->description = "edited";  // ...and the PATCH writes what it read
    auto r = store_->UpdateWebhook(*read);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kConflict);
    auto now = store_->GetWebhook("acme", w.id);
    EXPECT_FALSE(now->enabled);
    EXPECT_EQ(now->description, "");
    now->description = "edited";  // from the current version it applies
    ASSERT_TRUE(store_->UpdateWebhook(*now));
    EXPECT_EQ(store_->GetWebhook("acme", w.id)->description, "edited");
    EXPECT_GT(store_->GetWebhook("acme", w.id)->version, now->version);
    Webhook missing = *now;
    missing.id = NewTypedId<WebhookId>(kWebhookPrefix);
    EXPECT_EQ(store_->UpdateWebhook(missing).error().code, ErrorCode::kNotFound);
}

TEST_P(StoreTest, AnUndecryptablePreviousSecretIsAnError) {
    auto w = MakeWebhook("acme", {});
    w.old_secret = "previous";
    w.old_secret_until = kT0 + 1000;
    ASSERT_TRUE(store_->UpdateWebhook(w));
    // Sealed with another key (as after a partial restore): it cannot be opened.
    const std::string foreign = crypto::SecretBox::Create(std::string(32, 'x'))->Seal("previous");
    if (GetParam() == "postgres") {
        PgAdmin(WithDatabase(admin_url_, db_), "UPDATE webhooks SET old_secret = '" + foreign + "'");
    } else {
        store_.reset();
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(dir_.File("hookd.db").c_str(), &db), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(db, ("UPDATE webhooks SET old_secret = '" + foreign + "'").c_str(), nullptr, nullptr,
                               nullptr),
                  SQLITE_OK);
        sqlite3_close(db);
        store_ = Open(std::string(32, 'k'));
        ASSERT_TRUE(store_);
    }
    auto r = store_->GetWebhook("acme", w.id);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("previous secret"), std::string::npos) << r.error().message;
    EXPECT_FALSE(store_->Rekey(*crypto::SecretBox::Create(std::string(32, 'n'))));
}

TEST_P(StoreTest, AGivenBackClaimIsDueAgainAtOnce) {
    MakeWebhook("acme", {});
    ASSERT_TRUE(store_->Ingest("acme", {Event(EventType::kCreate, "Room", "1")}, std::nullopt, kT0));
    auto c = store_->Claim("n", kT0, 30'000, 10);
    ASSERT_EQ(c->size(), 1u);
    std::vector<std::int64_t> seqs{(*c)[0].seq};
    ASSERT_TRUE(store_->ReleaseClaims("n", seqs, kT0 + 5));
    EXPECT_EQ(store_->Claim("n", kT0 + 5, 30'000, 10)->size(), 1u);
}

TEST_P(StoreTest, CompleteCountsAttemptsPerWebhookAndHour) {
    auto a = MakeWebhook("acme", {});
    auto b = MakeWebhook("acme", {"Agreement"});
    auto c = MakeWebhook("other", {});
    ASSERT_TRUE(store_->Ingest("acme",
                               {Event(EventType::kCreate, "Room", "1"), Event(EventType::kCreate, "Room", "2"),
                                Event(EventType::kCreate, "Room", "3"), Event(EventType::kCreate, "Agreement", "4")},
                               std::nullopt, kT0));
    auto claimed = store_->Claim("n", kT0, 30'000, 10);
    ASSERT_TRUE(claimed);
    ASSERT_EQ(claimed->size(), 5u);  // Room × 3 and Agreement to a, Agreement to b
    std::vector<std::int64_t> seqs;  // a's deliveries
    std::int64_t b_seq = 0;
    for (const auto& x : *claimed) {
        if (x.delivery.webhook_id == a.id) seqs.push_back(x.seq);
        else b_seq = x.seq;
    }
    ASSERT_EQ(seqs.size(), 4u);
    const TimeMs h0 = health::HourOf(kT0);
    const TimeMs h2 = h0 + 2 * health::kHourMs;
    std::vector<Outcome> first{
        Recorded(seqs[0], a.id, Attempt{1, kT0, 12, 200, AttemptError::kNone, ""}, DeliveryState::kSucceeded),
        Recorded(seqs[1], a.id, Attempt{1, kT0 + 1, 30, 500, AttemptError::kHttp, ""}, DeliveryState::kPending,
                 h2 + 10),
        Recorded(seqs[2], a.id, Attempt{1, h2 + 5, 0, std::nullopt, AttemptError::kConnect, ""},
                 DeliveryState::kFailed),
        Recorded(seqs[3], a.id, Attempt{1, h2 + 6, 15'000, std::nullopt, AttemptError::kTimeout, ""},
                 DeliveryState::kPending, h2 + 60'000),
        Recorded(b_seq, b.id, Attempt{1, kT0, 7, 503, AttemptError::kHttp, ""}, DeliveryState::kPending, h2)};
    ASSERT_TRUE(store_->Complete(first, kT0 + 100));
    // The same report again is fenced off: it counts nothing either.
    ASSERT_TRUE(store_->Complete(std::span(first).first(1), kT0 + 101));
    auto again = store_->Claim("n", h2 + 10, 30'000, 10);
    ASSERT_EQ(again->size(), 2u);  // a's retry and b's
    std::vector<Outcome> second{
        Recorded(seqs[1], a.id, Attempt{2, h2 + 10, 40, 204, AttemptError::kNone, ""}, DeliveryState::kSucceeded)};
    ASSERT_TRUE(store_->Complete(second, h2 + 100));

    auto all = store_->GetHealth("acme", std::nullopt, h0 - health::kHourMs);
    ASSERT_TRUE(all) << all.error().message;
    ASSERT_EQ(all->size(), 2u);
    const bool a_first = a.id.str() < b.id.str();
    const WebhookHealth& ha = (*all)[a_first ? 0 : 1];
    const WebhookHealth& hb = (*all)[a_first ? 1 : 0];
    EXPECT_EQ(ha.webhook_id, a.id);
    EXPECT_EQ(hb.webhook_id, b.id);
    EXPECT_FALSE(ha.failing_since);  // its last attempt succeeded
    EXPECT_TRUE(hb.failing_since);
    ASSERT_EQ(ha.hours.size(), 2u);
    EXPECT_EQ(ha.hours[0].start, h0);
    EXPECT_EQ(ha.hours[0].counts.succeeded, 1);
    EXPECT_EQ(ha.hours[0].counts.retried, 1);
    EXPECT_EQ(ha.hours[0].counts.failed, 0);
    health::LatencyHistogram want0{};
    want0[health::LatencyBucket(12)] = 1;
    want0[health::LatencyBucket(30)] = 1;
    EXPECT_EQ(ha.hours[0].counts.latency, want0);
    EXPECT_EQ(ha.hours[1].start, h2);
    EXPECT_EQ(ha.hours[1].counts.succeeded, 1);  // the retry that succeeded
    EXPECT_EQ(ha.hours[1].counts.retried, 1);    // the timeout
    EXPECT_EQ(ha.hours[1].counts.failed, 1);     // the refused connection (no latency)
    health::LatencyHistogram want2{};
    want2[health::LatencyBucket(40)] = 1;
    want2[health::LatencyBucket(15'000)] = 1;
    EXPECT_EQ(ha.hours[1].counts.latency, want2);
    ASSERT_EQ(hb.hours.size(), 1u);
    EXPECT_EQ(hb.hours[0].counts.retried, 1);

    // One webhook; hours from `since`; scoped by site.
    auto one = store_->GetHealth("acme", a.id, h0 + 1);
    ASSERT_TRUE(one);
    ASSERT_EQ(one->size(), 1u);
    ASSERT_EQ((*one)[0].hours.size(), 1u);
    EXPECT_EQ((*one)[0].hours[0].start, h2);
    EXPECT_EQ(store_->GetHealth("acme", c.id, h0).error().code, ErrorCode::kNotFound);
    auto other = store_->GetHealth("other", std::nullopt, h0);
    ASSERT_EQ(other->size(), 1u);
    EXPECT_EQ((*other)[0].webhook_id, c.id);
    EXPECT_TRUE((*other)[0].hours.empty());

    // Counters outlive a restart; retention drops the hours that ended before its cut-off.
    store_.reset();
    store_ = Open(std::string(32, 'k'));
    ASSERT_TRUE(store_);
    ASSERT_TRUE(store_->Purge(h0 + health::kHourMs + 1, 100));
    auto kept = store_->GetHealth("acme", a.id, 0);
    ASSERT_EQ((*kept)[0].hours.size(), 1u);
    EXPECT_EQ((*kept)[0].hours[0].start, h2);
    // A deleted webhook's health is gone with it.
    ASSERT_TRUE(store_->DeleteWebhook("acme", a.id, h2 + 200));
    EXPECT_EQ(store_->GetHealth("acme", a.id, 0).error().code, ErrorCode::kNotFound);
}

// Change capture commits several source transactions at once: in order, each with its own
// idempotency key (a replayed one answers from its record and writes nothing).
// More pending deliveries than a window: loaded a window at a time (never whole), topped
// up as the queue runs low, and an entity's deliveries still go out oldest first — also
// those written while older ones were not loaded yet.
TEST_P(StoreTest, PendingDeliveriesAreLoadedAWindowAtATimeAndEntityOrderHolds) {
    auto w = MakeWebhook("acme", {}, Ordering::kEntity);
    auto events = [](int n) {
        std::vector<ChangeEvent> out;
        for (int i = 0; i < n; ++i) out.push_back(Event(EventType::kCreate, "Room", i % 2 == 0 ? "1" : std::to_string(i + 100)));
        return out;
    };
    ASSERT_TRUE(store_->Ingest("acme", events(20), std::nullopt, kT0));  // 10 of them for Room 1
    store_.reset();
    store_ = Open(std::string(32, 'k'), 4);  // a restart: the scheduler is fed anew
    std::size_t loaded = 0;
    for (int p = 0; p < 256; ++p) loaded += queue_->QueuedIn(p);
    EXPECT_LE(loaded, 8u) << "a window (or two, if it was topped up already), not all 20";
    ASSERT_TRUE(store_->Ingest("acme", events(4), std::nullopt, kT0 + 1));  // 2 more for Room 1
    std::vector<std::int64_t> room1;
    std::set<std::int64_t> seen;
    for (int round = 0; round < 500 && seen.size() < 24; ++round) {
        auto c = store_->Claim("n", kT0 + 10, 30'000, 100);
        ASSERT_TRUE(c) << c.error().message;
        std::vector<Outcome> outs;
        for (const auto& d : *c) {
            EXPECT_TRUE(seen.insert(d.seq).second) << "claimed twice: " << d.seq;
            if (d.delivery.entity_id.text == "1") room1.push_back(d.seq);
            Outcome o = Recorded(d.seq, w.id, Attempt{1, kT0 + 10, 1, 200, AttemptError::kNone, "ok"},
                                 DeliveryState::kSucceeded);
            o.part = d.part;
            o.fence = d.fence;
            outs.push_back(std::move(o));
        }
        ASSERT_TRUE(store_->Complete(outs, kT0 + 11));
        if (c->empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(seen.size(), 24u);
    EXPECT_EQ(room1.size(), 12u);
    EXPECT_TRUE(std::is_sorted(room1.begin(), room1.end())) << "Room 1 out of order";
}

TEST_P(StoreTest, IngestManyCommitsInOrderWithEachKey) {
    const Webhook w = MakeWebhook("acme", {});
    ASSERT_TRUE(store_->Ingest("acme", {Event(EventType::kCreate, "Room", "1")}, "k1", kT0));
    std::vector<Store::IngestRequest> requests;
    requests.push_back({"acme", {Event(EventType::kCreate, "Room", "1")}, "k1"});  // seen: replayed
    requests.push_back({"acme", {Event(EventType::kCreate, "Room", "2"), Event(EventType::kUpdate, "Room", "2")}, "k2"});
    requests.push_back({"other", {Event(EventType::kCreate, "Room", "3")}, "k3"});
    auto results = store_->IngestMany(requests, kT0 + 1);
    ASSERT_EQ(results.size(), 3u);
    ASSERT_TRUE(results[0] && results[1] && results[2]);
    EXPECT_TRUE(results[0]->replayed);
    EXPECT_FALSE(results[1]->replayed);
    EXPECT_EQ(results[1]->ids.size(), 2u);
    EXPECT_EQ(results[1]->deliveries, 2u);
    EXPECT_LT(results[1]->ids[0], results[1]->ids[1]);
    auto list = store_->ListDeliveries("acme", w.id, {}, {});
    ASSERT_TRUE(list);
    EXPECT_EQ(list->items.size(), 3u);
    // The same requests again: all replayed, nothing new.
    std::vector<Store::IngestRequest> again;
    again.push_back({"acme", {Event(EventType::kCreate, "Room", "2"), Event(EventType::kUpdate, "Room", "2")}, "k2"});
    auto replay = store_->IngestMany(again, kT0 + 2);
    ASSERT_TRUE(replay[0]);
    EXPECT_TRUE(replay[0]->replayed);
    EXPECT_EQ(replay[0]->ids, results[1]->ids);
    EXPECT_EQ(store_->Stats()->pending, 3);
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace hookd::store
