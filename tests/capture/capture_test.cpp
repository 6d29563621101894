// Change capture against a real PostgreSQL (HOOKD_TEST_PG_URL) into a real SQLite store:
// the start-up checks name the problem and the SQL that fixes it; committed changes become
// events; a transaction larger than a chunk is accepted whole; and a second slot replaying
// the same transactions (as after a crash) accepts none of them twice.
#include "capture/capture.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>

#include "capture/pgoutput.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/temp_dir.hpp"

namespace hookd::capture {
namespace {

using namespace std::chrono_literals;

std::string AdminUrl() {
    const char* url = std::getenv("HOOKD_TEST_PG_URL");
    return url ? url : "";
}

// Polls `done` for up to 30 s.
template <typename F>
bool WaitFor(F&& done) {
    for (int i = 0; i < 600; ++i) {
        if (done()) return true;
        std::this_thread::sleep_for(50ms);
    }
    return done();
}

class CaptureTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (AdminUrl().empty()) GTEST_SKIP() << "HOOKD_TEST_PG_URL is not set (scripts/test.sh sets it)";
        conn_ = PQconnectdb(AdminUrl().c_str());
        ASSERT_EQ(PQstatus(conn_), CONNECTION_OK) << PQerrorMessage(conn_);
        std::mt19937_64 rng{std::random_device{}()};
        name_ = "cap_" + std::to_string(rng() % 1000000000ULL);
        Exec("CREATE TABLE " + name_ + " (id bigint PRIMARY KEY, site text NOT NULL, archived timestamptz)");
        Exec("ALTER TABLE " + name_ + " REPLICA IDENTITY FULL");
        auto box = crypto::SecretBox::Create(std::string(32, 'k'));
        ASSERT_TRUE(box);
        auto s = store::OpenSqliteStore({dir_.File("hookd.db"), "NORMAL", 2000}, *box);
        ASSERT_TRUE(s) << s.error().message;
        store_ = std::move(*s);
        ASSERT_TRUE(store_->CreateSite({"acme", "Acme", 1}));
        Webhook w;
        w.id = NewTypedId<WebhookId>(kWebhookPrefix);
        w.site = "acme";
        w.payload_url = "http://127.0.0.1:9/hook";
        w.secret = "mySecret";
        w.events =
            Bit(EventType::kCreate) | Bit(EventType::kUpdate) | Bit(EventType::kDelete) | Bit(EventType::kArchive);
        w.send_everything = true;
        // No dispatcher runs here: nothing is sent; the deliveries show what was accepted.
        ASSERT_TRUE(store_->CreateWebhook(w));
        webhook_ = w.id;
    }
    void TearDown() override {
        if (!conn_) return;
        for (const auto& slot : slots_) Exec("SELECT pg_drop_replication_slot('" + slot + "')", false);
        Exec("DROP PUBLICATION IF EXISTS " + name_, false);
        Exec("DROP TABLE IF EXISTS " + name_, false);
        PQfinish(conn_);
    }
    void Exec(const std::string& sql, bool check = true) {
        PGresult* r = PQexec(conn_, sql.c_str());
        const auto st = PQresultStatus(r);
        if (check) {
            EXPECT_TRUE(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) << sql << ": " << PQerrorMessage(conn_);
        }
        PQclear(r);
    }
    CaptureMap Map(const std::string& slot, const std::string& extra = "") {
        auto cat = Catalogue::Parse(R"({"entities":[{"name":"Agreement"}]})");
        auto m = ParseCaptureMap(R"({"slot":")" + slot + R"(","publication":")" + name_ + R"(","tables":[{"table":")" +
                                     name_ + R"(","entity":"Agreement","id":"id","site":"site")" + extra + "}]}",
                                 *cat);
        EXPECT_TRUE(m) << m.error().message;
        slots_.push_back(slot);
        return *m;
    }
    std::unique_ptr<Capture> Make(const std::string& slot, const std::string& extra = "",
                                  std::size_t chunk = kChunkRows) {
        CaptureOptions o;
        o.url = AdminUrl();
        o.map = Map(slot, extra);
        o.chunk_rows = chunk;
        o.min_backoff_ms = 50;
        return std::make_unique<Capture>(*store_, clock_, std::move(o), nullptr);
    }
    std::vector<Delivery> Deliveries() {
        store::PageRequest page;
        page.limit = 1000;
        auto r = store_->ListDeliveries("acme", webhook_, {}, page);
        EXPECT_TRUE(r);
        return r ? r->items : std::vector<Delivery>{};
    }

    PGconn* conn_ = nullptr;
    std::string name_;
    std::vector<std::string> slots_;
    hookd::testing::TempDir dir_;
    SystemClock clock_;
    std::unique_ptr<store::Store> store_;
    WebhookId webhook_;
};

TEST_F(CaptureTest, PrepareNamesWhatTheSourceLacks) {
    // The archive rule without REPLICA IDENTITY FULL: the message gives the ALTER TABLE.
    Exec("ALTER TABLE " + name_ + " REPLICA IDENTITY DEFAULT");
    auto c = Make(name_ + "_a", R"(,"archive":"archived")");
    auto r = c->Prepare();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kInvalid);
    EXPECT_NE(r.error().message.find("ALTER TABLE \"public\".\"" + name_ + "\" REPLICA IDENTITY FULL"),
              std::string::npos)
        << r.error().message;
    // The site column is not in the primary key: a DELETE would not carry it.
    r = Make(name_ + "_b")->Prepare();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("column site of public." + name_ + " is not in its replica identity"),
              std::string::npos)
        << r.error().message;
    Exec("ALTER TABLE " + name_ + " REPLICA IDENTITY FULL");
    // A missing column.
    r = Make(name_ + "_c", R"(,"archive":"gone")")->Prepare();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("has no column gone"), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
}

TEST_F(CaptureTest, EveryKindOfChangeBecomesOneEvent) {
    auto c = Make(name_, R"(,"archive":"archived")");
    ASSERT_TRUE(c->Prepare());
    c->Start();
    ASSERT_TRUE(WaitFor([&] { return c->State().state == "streaming"; })) << c->State().error.value_or("");
    Exec("INSERT INTO " + name_ + " VALUES (25, 'acme', NULL), (26, 'ghost', NULL)");
    Exec("UPDATE " + name_ + " SET archived = now() WHERE id = 25");
    Exec("UPDATE " + name_ + " SET archived = now() WHERE id = 25");
    Exec("DELETE FROM " + name_ + " WHERE id = 25");
    ASSERT_TRUE(WaitFor([&] { return c->State().changes == 4; })) << c->State().changes;
    const auto st = c->State();
    EXPECT_EQ(st.skipped_unknown_site, 1u);
    EXPECT_TRUE(st.confirmed_lsn.has_value());
    c->Stop();
    auto d = Deliveries();
    ASSERT_EQ(d.size(), 4u);
    // Newest first.
    EXPECT_EQ(d[3].type, EventType::kCreate);
    EXPECT_EQ(d[2].type, EventType::kArchive);
    EXPECT_EQ(d[1].type, EventType::kUpdate);
    EXPECT_EQ(d[0].type, EventType::kDelete);
    EXPECT_EQ(d[0].entity_id, (EntityId{"25", true}));
}

TEST_F(CaptureTest, ReplayedTransactionsAreAcceptedOnce) {
    // Two slots at the same position: the second replays what the first accepted, exactly
    // as the slot would after a crash before its position was confirmed.
    auto first = Make(name_ + "_1", "", 50);
    auto second = Make(name_ + "_2", "", 50);
    ASSERT_TRUE(first->Prepare());
    ASSERT_TRUE(second->Prepare());
    Exec("INSERT INTO " + name_ + " SELECT g, 'acme' FROM generate_series(1, 120) g");  // 3 chunks
    Exec("INSERT INTO " + name_ + " VALUES (500, 'acme')");
    first->Start();
    ASSERT_TRUE(WaitFor([&] { return first->State().changes == 121; })) << first->State().changes;
    first->Stop();
    EXPECT_EQ(Deliveries().size(), 121u);
    const Lsn accepted = ParseLsn(first->State().confirmed_lsn.value_or("")).value_or(0);
    ASSERT_GT(accepted, 0u);
    second->Start();
    // The second slot has moved past everything the first accepted.
    ASSERT_TRUE(WaitFor([&] { return ParseLsn(second->State().confirmed_lsn.value_or("")).value_or(0) >= accepted; }))
        << second->State().confirmed_lsn.value_or("none");
    second->Stop();
    EXPECT_EQ(second->State().changes, 0u);
    EXPECT_EQ(Deliveries().size(), 121u);
}

}  // namespace
}  // namespace hookd::capture
