// The PostgreSQL connection layer against a real server (HOOKD_TEST_PG_URL): a session
// lost inside a transaction is never silently replaced, COMMIT means committed, the pool
// gives up after its deadline, the store's listener honours unsubscription, the queue
// table serves only the statements that ask for queued rows, the outcome's UPDATE can be
// HOT, and migration 10 queues what was pending before it.
#include "store/postgres/pg_conn.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <set>
#include <thread>

#include "store/postgres/pg_migrations.hpp"
#include "store/postgres/pg_store.hpp"

namespace hookd::store::postgres {
namespace {

std::string AdminUrl() {
    const char* url = std::getenv("HOOKD_TEST_PG_URL");
    return url ? url : "";
}

std::string AdminValue(const std::string& sql) {
    Conn c(AdminUrl());
    EXPECT_TRUE(c.Connect());
    auto r = c.Simple(sql);
    EXPECT_TRUE(r) << sql << ": " << (r ? "" : r.error().message);
    if (!r || r->Rows() == 0) return "";
    return RowRef(*r, 0).Text(0);
}

// A database of its own for one test, dropped (connections and all) when it goes.
class ScratchDb {
public:
    explicit ScratchDb(const std::string& prefix) {
        std::mt19937_64 rng{std::random_device{}()};
        name_ = prefix + std::to_string(rng() % 1000000000ULL);
        AdminValue("CREATE DATABASE " + name_);
        url_ = AdminUrl().substr(0, AdminUrl().rfind('/') + 1) + name_;
    }
    ~ScratchDb() { AdminValue("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)"); }
    ScratchDb(const ScratchDb&) = delete;
    ScratchDb& operator=(const ScratchDb&) = delete;
    [[nodiscard]] const std::string& url() const { return url_; }

private:
    std::string name_;
    std::string url_;
};

class PgConnTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (AdminUrl().empty()) GTEST_SKIP() << "HOOKD_TEST_PG_URL is not set (scripts/test.sh sets it)";
        std::mt19937_64 rng{std::random_device{}()};
        table_ = "conn_t_" + std::to_string(rng() % 1000000000ULL);
        AdminValue("CREATE TABLE " + table_ + " (v int)");
    }
    void TearDown() override {
        if (!table_.empty()) AdminValue("DROP TABLE IF EXISTS " + table_);
    }
    // Ends the session of `c` from another one, and waits until it is gone.
    static void Terminate(Conn& c) {
        const int pid = PQbackendPID(c.raw());
        AdminValue("SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
        for (int i = 0; i < 200; ++i) {
            if (AdminValue("SELECT count(*) FROM pg_stat_activity WHERE pid = " + std::to_string(pid)) == "0") return;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ADD_FAILURE() << "session " << pid << " did not end";
    }
    std::string table_;
};

// A prepared statement is planned again as its tables may have changed (after 64, 128 …
// runs): the old plan's name is let go on the server, so the session keeps one.
TEST_F(PgConnTest, APreparedStatementIsPlannedAgainAndItsOldNameLetGo) {
    Conn c(AdminUrl());
    ASSERT_TRUE(c.Connect());
    const std::string sql = "SELECT count(*) FROM " + table_ + " WHERE v = ANY($1::int[])";
    auto prepared = [&] {
        auto r = c.Simple("SELECT name FROM pg_prepared_statements WHERE statement = '" + sql + "'");
        EXPECT_TRUE(r);
        std::vector<std::string> names;
        for (int i = 0; r && i < r->Rows(); ++i) names.push_back(RowRef(*r, i).Text(0));
        return names;
    };
    std::set<std::string> seen;
    for (int i = 0; i < 400; ++i) {
        ASSERT_TRUE(c.Exec(sql, {"{1,2}"}));
        const auto names = prepared();
        ASSERT_LE(names.size(), 2U) << "at run " << i;  // the old one goes with the next round trip
        seen.insert(names.begin(), names.end());
    }
    EXPECT_GE(seen.size(), 3U);  // planned at runs 1, 65, 193 (and 385)
    // Inside a transaction and in a pipeline the same.
    ASSERT_TRUE(c.Begin());
    const Statement two[] = {{sql, {"{1}"}}, {sql, {"{2}"}}};
    for (int i = 0; i < 300; ++i) ASSERT_TRUE(c.Pipeline(two));
    ASSERT_TRUE(c.Commit());
    EXPECT_LE(prepared().size(), 2U);
}

// A session for lookups by key (kLookupSession) runs every statement on its generic plan,
// never planned for the array at hand, and keeps its settings across a reconnect.
TEST_F(PgConnTest, ALookupSessionRunsGenericPlansAndKeepsItsSettings) {
    Conn c(AdminUrl(), std::string(kLookupSession));
    ASSERT_TRUE(c.Connect());
    const std::string lookup = "SELECT v FROM " + table_ + " WHERE v = ANY($1::int[])";
    for (int round = 0; round < 2; ++round) {
        for (int i = 0; i < 20; ++i) ASSERT_TRUE(c.Exec(lookup, {"{" + std::to_string(i) + "}"}));
        auto plans = c.Simple("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = '" +
                              lookup + "'");
        ASSERT_TRUE(plans);
        ASSERT_EQ(plans->Rows(), 1);
        EXPECT_GE(RowRef(*plans, 0).Int(0), 1);
        EXPECT_EQ(RowRef(*plans, 0).Int(1), 0);
        auto set = c.Simple("SELECT current_setting('plan_cache_mode'), current_setting('enable_seqscan'), "
                            "current_setting('synchronous_commit')");
        ASSERT_TRUE(set);
        EXPECT_EQ(RowRef(*set, 0).Text(0), "force_generic_plan");
        EXPECT_EQ(RowRef(*set, 0).Text(1), "off");
        EXPECT_EQ(RowRef(*set, 0).Text(2), "off");
        if (round == 0) {
            Terminate(c);
            (void)c.Exec("SELECT 1");  // notices the loss; the next call reconnects
        }
    }
}

TEST_F(PgConnTest, ASessionLostInsideATransactionFailsItUntilItEnds) {
    Conn c(AdminUrl());
    ASSERT_TRUE(c.Connect());
    ASSERT_TRUE(c.Begin());
    ASSERT_TRUE(c.Exec("INSERT INTO " + table_ + " VALUES (1)"));
    Terminate(c);
    // Nothing of the transaction may run on a fresh session.
    auto second = c.Exec("INSERT INTO " + table_ + " VALUES (2)");
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, ErrorCode::kUnavailable);
    EXPECT_FALSE(c.Exec("INSERT INTO " + table_ + " VALUES (3)"));
    auto commit = c.Commit();
    ASSERT_FALSE(commit);
    EXPECT_EQ(commit.error().code, ErrorCode::kUnavailable);
    EXPECT_EQ(AdminValue("SELECT count(*) FROM " + table_), "0");
    // Between transactions the session is replaced.
    ASSERT_TRUE(c.Exec("INSERT INTO " + table_ + " VALUES (4)"));
    EXPECT_EQ(AdminValue("SELECT count(*) FROM " + table_), "1");
}

TEST_F(PgConnTest, ASessionLostBeforeCommitIsNotReportedCommitted) {
    Conn c(AdminUrl());
    ASSERT_TRUE(c.Connect());
    ASSERT_TRUE(c.Begin());
    ASSERT_TRUE(c.Exec("INSERT INTO " + table_ + " VALUES (1)"));
    Terminate(c);
    EXPECT_FALSE(c.Commit());
    EXPECT_FALSE(c.in_transaction());
    EXPECT_EQ(AdminValue("SELECT count(*) FROM " + table_), "0");
}

TEST_F(PgConnTest, CommitOfAFailedTransactionIsAnError) {
    Conn c(AdminUrl());
    ASSERT_TRUE(c.Connect());
    ASSERT_TRUE(c.Begin());
    ASSERT_TRUE(c.Exec("INSERT INTO " + table_ + " VALUES (1)"));
    EXPECT_FALSE(c.Simple("SELECT 1/0"));
    // PostgreSQL answers this COMMIT with ROLLBACK.
    EXPECT_FALSE(c.Commit());
    EXPECT_EQ(AdminValue("SELECT count(*) FROM " + table_), "0");
    ASSERT_TRUE(c.Begin());
    ASSERT_TRUE(c.Exec("INSERT INTO " + table_ + " VALUES (2)"));
    ASSERT_TRUE(c.Commit());
    EXPECT_EQ(AdminValue("SELECT count(*) FROM " + table_), "1");
}

// Begin() sends nothing: BEGIN goes with the first statement, and a transaction that ran
// nothing commits without a round trip.
TEST_F(PgConnTest, APipelineRunsItsStatementsAndItsCommitInOneGo) {
    Conn c(AdminUrl());
    ASSERT_TRUE(c.Connect());
    ASSERT_TRUE(c.Begin());
    ASSERT_TRUE(c.Commit());
    const std::string insert = "INSERT INTO " + table_ + " SELECT unnest($1::int[])";
    const std::string count = "SELECT count(*) FROM " + table_;
    ASSERT_TRUE(c.Begin());
    const std::vector<Statement> first{{insert, {"{1,2}"}}, {count, {}}};
    auto r = c.Pipeline(first);
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->size(), 2U);
    EXPECT_EQ((*r)[0].Affected(), 2);
    EXPECT_EQ(RowRef((*r)[1], 0).Text(0), "2");
    EXPECT_EQ(AdminValue(count), "0");  // not committed yet
    const std::vector<Statement> second{{insert, {"{3}"}}};
    auto cm = c.PipelineAndCommit(second);
    ASSERT_TRUE(cm) << cm.error().message;
    EXPECT_FALSE(c.in_transaction());
    EXPECT_EQ(AdminValue(count), "3");
}

TEST_F(PgConnTest, AFailedStatementOfAPipelineCommitsNothing) {
    Conn c(AdminUrl());
    ASSERT_TRUE(c.Connect());
    const std::string insert = "INSERT INTO " + table_ + " SELECT unnest($1::int[])";
    const std::string count = "SELECT count(*) FROM " + table_;
    ASSERT_TRUE(c.Begin());
    const std::vector<Statement> all{{insert, {"{1}"}}, {"SELECT 1/0", {}}, {insert, {"{2}"}}};
    auto cm = c.PipelineAndCommit(all);
    ASSERT_FALSE(cm);
    EXPECT_EQ(cm.error().code, ErrorCode::kInternal) << cm.error().message;  // not "unknown": not committed
    EXPECT_FALSE(c.in_transaction());
    EXPECT_EQ(AdminValue(count), "0");
    // The session goes on.
    ASSERT_TRUE(c.Begin());
    ASSERT_TRUE(c.Exec(insert, {"{4}"}));
    ASSERT_TRUE(c.Commit());
    EXPECT_EQ(AdminValue(count), "1");
}

TEST_F(PgConnTest, ASessionLostBeforeAPipelinedCommitIsNotReportedCommitted) {
    Conn c(AdminUrl());
    ASSERT_TRUE(c.Connect());
    const std::string insert = "INSERT INTO " + table_ + " SELECT unnest($1::int[])";
    ASSERT_TRUE(c.Begin());
    ASSERT_TRUE(c.Exec(insert, {"{1}"}));
    Terminate(c);
    const std::vector<Statement> rest{{insert, {"{2}"}}};
    auto cm = c.PipelineAndCommit(rest);
    ASSERT_FALSE(cm);
    EXPECT_EQ(cm.error().code, ErrorCode::kUnavailable);
    EXPECT_FALSE(c.in_transaction());
    EXPECT_EQ(AdminValue("SELECT count(*) FROM " + table_), "0");
    // Between transactions the session is replaced.
    ASSERT_TRUE(c.Exec(insert, {"{3}"}));
    EXPECT_EQ(AdminValue("SELECT count(*) FROM " + table_), "1");
}

TEST(PgPoolTest, AcquireGivesUpAfterItsDeadline) {
    Pool pool("postgresql://unused", 1);
    auto first = pool.Acquire();
    ASSERT_TRUE(first);
    auto second = pool.Acquire(std::chrono::milliseconds(50));
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, ErrorCode::kUnavailable);
    { auto released = std::move(*first); }
    EXPECT_TRUE(pool.Acquire(std::chrono::milliseconds(50)));
}

// The listener thread wakes the subscriber, also when its socket is past descriptor 1023
// (select's FD_SET is undefined there), and never after the subscriber unsubscribed.
TEST(PgStoreListenerTest, WakesThroughHighDescriptorsAndNeverAfterUnsubscribing) {
    if (AdminUrl().empty()) GTEST_SKIP() << "HOOKD_TEST_PG_URL is not set";
    rlimit lim{};
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &lim), 0);
    if (lim.rlim_max < 1200) GTEST_SKIP() << "needs at least 1200 file descriptors";
    lim.rlim_cur = std::max<rlim_t>(lim.rlim_cur, 1200);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lim), 0);
    std::vector<int> filler;
    while (filler.empty() || filler.back() < 1100) filler.push_back(open("/dev/null", O_RDONLY | O_CLOEXEC));
    ASSERT_GE(filler.back(), 1100);

    const ScratchDb db("hookd_l_");
    const std::string& url = db.url();
    {
        auto store = OpenPostgresStore({url, 2}, *crypto::SecretBox::Create(std::string(32, 'k')));
        ASSERT_TRUE(store) << store.error().message;
        std::atomic<int> calls{0};
        std::atomic<bool> gone{false};
        std::atomic<int> after_gone{0};
        (*store)->OnNewWork([&] {
            ++calls;
            if (gone) ++after_gone;
        });
        Conn notifier(url);
        ASSERT_TRUE(notifier.Connect());
        // What another node sends when it changes a webhook of partition 0 (which this
        // single node serves): "e SENDER PART WEBHOOK".
        const std::string notice = "NOTIFY hookd_work, 'e another-node 0 wh_none'";
        for (int i = 0; i < 300 && calls == 0; ++i) {
            ASSERT_TRUE(notifier.Simple(notice));
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        EXPECT_GT(calls.load(), 0) << "no wake-up through a descriptor above 1023";
        (*store)->OnNewWork(nullptr);
        gone = true;
        for (int i = 0; i < 30; ++i) {
            ASSERT_TRUE(notifier.Simple(notice));
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        EXPECT_EQ(after_gone.load(), 0);
    }
    for (int fd : filler) close(fd);
}

// Tokens are kept by each node for a few seconds (FindToken); a revocation on one node
// reaches the others' caches through a notice, and the revoking node forgets at once.
TEST(PgStoreTest, ARevokedTokenStopsWorkingOnEveryNode) {
    if (AdminUrl().empty()) GTEST_SKIP() << "HOOKD_TEST_PG_URL is not set";
    const ScratchDb db("hookd_k_");
    const std::string& url = db.url();
    {
        const auto box = *crypto::SecretBox::Create(std::string(32, 'k'));
        auto a = OpenPostgresStore({url, 2, "node-a"}, box);
        ASSERT_TRUE(a) << a.error().message;
        auto b = OpenPostgresStore({url, 2, "node-b"}, box);
        ASSERT_TRUE(b) << b.error().message;
        ASSERT_TRUE((*a)->CreateSite({"s1", "Site", 1}));
        const std::string hash(64, 'a');
        ASSERT_TRUE((*a)->CreateToken({TokenId("tok_1"), "s1", Role::kPublisher, "p", 1}, hash));
        // A token made on A works on B at once (unknown tokens are not kept), and is kept.
        auto found = (*b)->FindToken(hash);
        ASSERT_TRUE(found) << found.error().message;
        EXPECT_EQ(found->id.str(), "tok_1");
        ASSERT_TRUE((*a)->FindToken(hash));
        ASSERT_TRUE((*a)->RevokeToken("s1", TokenId("tok_1"), 2));
        auto on_a = (*a)->FindToken(hash);
        ASSERT_FALSE(on_a);
        EXPECT_EQ(on_a.error().code, ErrorCode::kNotFound);
        bool gone_on_b = false;
        for (int i = 0; i < 200 && !gone_on_b; ++i) {  // the notice's way; well within the 5 s TTL
            gone_on_b = !(*b)->FindToken(hash);
            if (!gone_on_b) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        EXPECT_TRUE(gone_on_b) << "node B still accepts the revoked token after 2 s";
    }
}

// Migration 9, kept by migration 10. With a partial index whose predicate is only
// `state = 0`, the claim's read and Complete's UPDATE (by seq, `AND state = 0`) could be
// planned as a full scan of it — which a long transaction holding the xmin horizon makes
// O(deliveries since). Since migration 10 the queued rows are the `pending` table, read
// only by the statements that ask for queued rows; the claim's read and the outcome's
// UPDATE go by deliveries_pkey, and the outcome's DELETE of the queue row by pending's key.
// On a fresh store (tiny statistics, sequential scans off) the old schema chose the scan.
TEST(PgStoreTest, OnlyStatementsForQueuedRowsCanUseThePendingIndex) {
    if (AdminUrl().empty()) GTEST_SKIP() << "HOOKD_TEST_PG_URL is not set";
    const ScratchDb db("hookd_i_");
    const std::string& url = db.url();
    {
        auto store = OpenPostgresStore({url, 1}, *crypto::SecretBox::Create(std::string(32, 'k')));
        ASSERT_TRUE(store) << store.error().message;
        Conn c(url);
        ASSERT_TRUE(c.Connect());
        ASSERT_TRUE(c.Simple("SET enable_seqscan = off"));
        auto plan = [&](const std::string& sql) {
            auto r = c.Simple("EXPLAIN " + sql);
            EXPECT_TRUE(r) << sql;
            std::string out;
            for (int i = 0; r && i < r->Rows(); ++i) out += RowRef(*r, i).Text(0) + "\n";
            return out;
        };
        // No index of deliveries covers the queue: none has a predicate.
        {
            auto r = c.Simple(
                "SELECT count(*) FROM pg_index WHERE indrelid = 'deliveries'::regclass "
                "AND indpred IS NOT NULL");
            ASSERT_TRUE(r);
            EXPECT_EQ(RowRef(*r, 0).Text(0), "0");
        }
        for (const std::string sql :
             {"SELECT seq, id FROM deliveries WHERE seq = ANY('{1,2}') AND state = 0",
              "WITH u AS (UPDATE deliveries d SET state = 1, next_at = NULL WHERE d.seq = ANY('{1,2}') "
              "AND d.state = 0 RETURNING d.seq, d.part, d.state, d.next_at) DELETE FROM pending p USING u "
              "WHERE p.part = u.part AND p.seq = u.seq AND (u.state <> 0 OR u.next_at IS NULL)"}) {
            const std::string p = plan(sql);
            EXPECT_NE(p.find("deliveries_pkey"), std::string::npos) << sql << "\n" << p;
            // The queue row of each updated delivery is looked up by its whole key, never scanned.
            if (p.find(" on pending") != std::string::npos) {
                EXPECT_NE(p.find("Index Scan using pending_pkey on pending p"), std::string::npos) << sql << "\n" << p;
                EXPECT_NE(p.find("Index Cond: ((part = u.part) AND (seq = u.seq))"), std::string::npos) << sql << "\n"
                                                                                                        << p;
            }
        }
        for (const std::string sql :
             {"SELECT d.seq FROM pending p JOIN deliveries d ON d.seq = p.seq WHERE p.part = 3 AND p.seq > 0 "
              "ORDER BY p.seq LIMIT 100",
              "SELECT count(*) FROM pending"}) {
            const std::string p = plan(sql);
            EXPECT_NE(p.find("pending_pkey"), std::string::npos) << sql << "\n" << p;
        }
    }
}

// Migration 10. The outcome's UPDATE changes state, attempt_count, next_at, lease_owner,
// last_status, last_error and updated_at; an index on any of them (in its key or its
// predicate) would make every such UPDATE non-HOT (a new entry in every index).
TEST(PgStoreTest, NoIndexOfDeliveriesNamesAColumnTheOutcomeChanges) {
    if (AdminUrl().empty()) GTEST_SKIP() << "HOOKD_TEST_PG_URL is not set";
    const ScratchDb db("hookd_h_");
    const std::string& url = db.url();
    {
        auto store = OpenPostgresStore({url, 1}, *crypto::SecretBox::Create(std::string(32, 'k')));
        ASSERT_TRUE(store) << store.error().message;
        Conn c(url);
        ASSERT_TRUE(c.Connect());
        auto r = c.Simple("SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'deliveries'::regclass");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->Rows(), 4);  // seq, id, (webhook_id, id), created_at
        for (int i = 0; i < r->Rows(); ++i) {
            const std::string def = RowRef(*r, i).Text(0);
            for (const char* col :
                 {"state", "attempt_count", "next_at", "lease_owner", "last_status", "last_error", "updated_at"}) {
                EXPECT_EQ(def.find(col), std::string::npos) << def;
            }
        }
        auto f = c.Simple("SELECT reloptions::text FROM pg_class WHERE oid = 'deliveries'::regclass");
        ASSERT_TRUE(f);
        EXPECT_NE(RowRef(*f, 0).Text(0).find("fillfactor"), std::string::npos);
    }
}

// A database at migration 9 with deliveries in every state upgrades to 10 with each
// queued delivery (pending, not a test message, due) in `pending`, and only those.
TEST(PgStoreTest, MigrationTenQueuesTheDeliveriesPendingBefore) {
    if (AdminUrl().empty()) GTEST_SKIP() << "HOOKD_TEST_PG_URL is not set";
    const ScratchDb db("hookd_m_");
    const std::string& url = db.url();
    {
        Conn c(url);
        ASSERT_TRUE(c.Connect());
        std::string sql =
            "BEGIN; CREATE TABLE schema_migrations (version INT PRIMARY KEY, "
            "applied_at TIMESTAMPTZ DEFAULT now());";
        for (std::size_t i = 0; i < 9; ++i) {
            sql += std::string(kMigrations[i]) + "INSERT INTO schema_migrations(version) VALUES (" +
                   std::to_string(i + 1) + ");";
        }
        sql +=
            "INSERT INTO sites VALUES ('acme', 'Acme', 0);"
            "INSERT INTO webhooks(id, site, payload_url, secret, events, method, send_everything, entities, "
            "description, enabled, ordering, timeout_ms, max_in_flight, created_at, updated_at, part) "
            "VALUES ('wh_1', 'acme', 'http://127.0.0.1:9/', 'x', 1, 0, 1, '', '', 1, 0, 5000, 10, 0, 0, 7);"
            // seq 1-3 queued (3 a retry due later), 4 succeeded, 5 failed, 6 cancelled, 7 a test message.
            "INSERT INTO deliveries(id, site, webhook_id, event_id, event, entity, entity_id, entity_num, state, "
            "next_at, test, created_at, updated_at, part) SELECT 'dlv_' || s, 'acme', 'wh_1', 'evt_' || s, 1, "
            "'Room', s::text, 1, st, nx, t, 0, 0, 7 FROM (VALUES (1, 0, 5::bigint, 0), (2, 0, 5, 0), "
            "(3, 0, 99999, 0), (4, 1, NULL, 0), (5, 2, NULL, 0), (6, 3, NULL, 0), (7, 0, NULL, 1)) "
            "AS v(s, st, nx, t) ORDER BY s;"
            "COMMIT;";
        ASSERT_TRUE(c.Simple(sql));
        auto store = OpenPostgresStore({url, 1}, *crypto::SecretBox::Create(std::string(32, 'k')));
        ASSERT_TRUE(store) << store.error().message;
        auto r = c.Simple(
            "SELECT (SELECT max(version) FROM schema_migrations), "
            "(SELECT string_agg(part || ':' || seq, ',' ORDER BY seq) FROM pending)");
        ASSERT_TRUE(r);
        EXPECT_EQ(RowRef(*r, 0).Text(0), "10");
        EXPECT_EQ(RowRef(*r, 0).Text(1), "7:1,7:2,7:3");
        auto stats = (*store)->Stats();
        ASSERT_TRUE(stats) << stats.error().message;
        EXPECT_EQ(stats->pending, 3);
    }
}

}  // namespace
}  // namespace hookd::store::postgres
