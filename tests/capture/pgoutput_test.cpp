// The pgoutput decoder and the replication stream framing: hand-built messages of every
// kind, malformed input (an error, never a crash), and the bytes a real server produces
// (pg_logical_slot_get_binary_changes on HOOKD_TEST_PG_URL).
#include "capture/pgoutput.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace hookd::capture {
namespace {

// Builds protocol bytes in network order.
class Bytes {
  public:
    Bytes& U8(std::uint8_t v) {
        b_.push_back(v);
        return *this;
    }
    Bytes& Ch(char c) { return U8(static_cast<std::uint8_t>(c)); }
    Bytes& U16(std::uint16_t v) { return Int(v, 2); }
    Bytes& U32(std::uint32_t v) { return Int(v, 4); }
    Bytes& U64(std::uint64_t v) { return Int(v, 8); }
    Bytes& Str(const std::string& s) {
        for (char c : s) Ch(c);
        return U8(0);
    }
    Bytes& Raw(const std::string& s) {
        for (char c : s) Ch(c);
        return *this;
    }
    Bytes& Text(const std::string& s) { return Ch('t').U32(static_cast<std::uint32_t>(s.size())).Raw(s); }
    [[nodiscard]] std::span<const std::uint8_t> span() const { return b_; }
    std::vector<std::uint8_t> b_;

  private:
    Bytes& Int(std::uint64_t v, int n) {
        for (int i = n - 1; i >= 0; --i) b_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
        return *this;
    }
};

template <typename T>
T As(const Result<PgOutputMessage>& m) {
    EXPECT_TRUE(m) << (m ? "" : m.error().message);
    EXPECT_TRUE(m && std::holds_alternative<T>(*m));
    return m && std::holds_alternative<T>(*m) ? std::get<T>(*m) : T{};
}

TEST(LsnTest, FormatsAndParsesPostgresNotation) {
    EXPECT_EQ(FormatLsn(0x16B3748), "0/16B3748");
    EXPECT_EQ(FormatLsn((Lsn{0x1A} << 32) | 0xFF), "1A/FF");
    EXPECT_EQ(ParseLsn("1A/FF"), (Lsn{0x1A} << 32) | 0xFF);
    EXPECT_EQ(ParseLsn("0/0"), Lsn{0});
    for (const char* bad : {"", "/", "1/", "/1", "1", "G/1", "1/2/3", "123456789/1", "1/ 2"}) {
        EXPECT_FALSE(ParseLsn(bad)) << bad;
    }
}

TEST(PgTimeTest, ConvertsFromThePostgresEpoch) {
    EXPECT_EQ(PgTimeToUnixMs(0), 946'684'800'000);
    EXPECT_EQ(UnixMsToPgTime(946'684'801'000), 1'000'000);
}

TEST(PgOutputTest, DecodesBeginAndCommit) {
    auto b = As<Begin>(DecodePgOutput(Bytes().Ch('B').U64(0x1234).U64(777).U32(42).span()));
    EXPECT_EQ(b.final_lsn, 0x1234u);
    EXPECT_EQ(b.commit_time, 777);
    EXPECT_EQ(b.xid, 42u);
    auto c = As<Commit>(DecodePgOutput(Bytes().Ch('C').U8(0).U64(0x1234).U64(0x1260).U64(777).span()));
    EXPECT_EQ(c.commit_lsn, 0x1234u);
    EXPECT_EQ(c.end_lsn, 0x1260u);
    EXPECT_EQ(c.commit_time, 777);
}

TEST(PgOutputTest, DecodesRelationWithColumnsAndReplicaIdentity) {
    Bytes m;
    m.Ch('R').U32(16384).Str("public").Str("agreements").Ch('f').U16(2);
    m.U8(1).Str("id").U32(20).U32(0xFFFFFFFF);
    m.U8(0).Str("site_id").U32(25).U32(0xFFFFFFFF);
    auto r = As<Relation>(DecodePgOutput(m.span()));
    EXPECT_EQ(r.id, 16384u);
    EXPECT_EQ(r.nspname, "public");
    EXPECT_EQ(r.relname, "agreements");
    EXPECT_EQ(r.replica_identity, 'f');
    ASSERT_EQ(r.columns.size(), 2u);
    EXPECT_TRUE(r.columns[0].key);
    EXPECT_EQ(r.columns[0].name, "id");
    EXPECT_EQ(r.columns[0].type_oid, 20u);
    EXPECT_EQ(r.columns[0].type_mod, -1);
    EXPECT_FALSE(r.columns[1].key);
}

TEST(PgOutputTest, DecodesTupleKinds) {
    Bytes m;
    m.Ch('I').U32(7).Ch('N').U16(4).Text("25").Ch('n').Ch('u').Ch('b').U32(2).Raw("\x01\x02");
    auto i = As<Insert>(DecodePgOutput(m.span()));
    EXPECT_EQ(i.relation, 7u);
    ASSERT_EQ(i.row.size(), 4u);
    EXPECT_EQ(i.row[0].kind, 't');
    EXPECT_EQ(i.row[0].data, "25");
    EXPECT_EQ(i.row[1].kind, 'n');
    EXPECT_EQ(i.row[2].kind, 'u');
    EXPECT_EQ(i.row[3].kind, 'b');
    EXPECT_EQ(i.row[3].data, std::string("\x01\x02"));
}

TEST(PgOutputTest, DecodesUpdateWithAndWithoutTheOldRow) {
    auto plain = As<Update>(DecodePgOutput(Bytes().Ch('U').U32(7).Ch('N').U16(1).Text("1").span()));
    EXPECT_EQ(plain.old_kind, 0);
    EXPECT_TRUE(plain.old_row.empty());
    ASSERT_EQ(plain.row.size(), 1u);
    for (char kind : {'K', 'O'}) {
        auto u = As<Update>(
            DecodePgOutput(Bytes().Ch('U').U32(7).Ch(kind).U16(1).Text("0").Ch('N').U16(1).Text("1").span()));
        EXPECT_EQ(u.old_kind, kind);
        EXPECT_EQ(u.old_row.at(0).data, "0");
        EXPECT_EQ(u.row.at(0).data, "1");
    }
}

TEST(PgOutputTest, DecodesDeleteTruncateOriginTypeAndMessage) {
    auto d = As<Delete>(DecodePgOutput(Bytes().Ch('D').U32(9).Ch('K').U16(2).Text("5").Ch('n').span()));
    EXPECT_EQ(d.relation, 9u);
    EXPECT_EQ(d.old_kind, 'K');
    EXPECT_EQ(d.old_row.at(0).data, "5");
    auto t = As<Truncate>(DecodePgOutput(Bytes().Ch('T').U32(2).U8(1).U32(9).U32(10).span()));
    EXPECT_EQ(t.options, 1);
    EXPECT_EQ(t.relations, (std::vector<std::uint32_t>{9, 10}));
    auto o = As<Origin>(DecodePgOutput(Bytes().Ch('O').U64(99).Str("node_a").span()));
    EXPECT_EQ(o.name, "node_a");
    auto y = As<TypeInfo>(DecodePgOutput(Bytes().Ch('Y').U32(16500).Str("public").Str("mood").span()));
    EXPECT_EQ(y.name, "mood");
    auto msg = As<LogicalMessage>(DecodePgOutput(Bytes().Ch('M').U8(1).U64(5).Str("p").U32(3).Raw("abc").span()));
    EXPECT_TRUE(msg.transactional);
    EXPECT_EQ(msg.content, "abc");
}

TEST(PgOutputTest, RefusesMalformedInput) {
    const std::vector<Bytes> bad = {
        Bytes(),                                                    // empty
        Bytes().Ch('Z'),                                            // unknown kind
        Bytes().Ch('B').U64(1),                                     // truncated
        Bytes().Ch('B').U64(1).U64(2).U32(3).U8(0),                 // trailing byte
        Bytes().Ch('I').U32(7).Ch('X').U16(0),                      // not 'N'
        Bytes().Ch('I').U32(7).Ch('N').U16(1).Ch('t').U32(100),     // length beyond the message
        Bytes().Ch('I').U32(7).Ch('N').U16(3).Ch('n'),              // fewer columns than counted
        Bytes().Ch('I').U32(7).Ch('N').U16(60000).Ch('n'),          // absurd column count
        Bytes().Ch('I').U32(7).Ch('N').U16(1).Ch('q'),              // unknown column kind
        Bytes().Ch('R').U32(1).Str("s").Raw("unterminated"),        // string without NUL
        Bytes().Ch('R').U32(1).Str("s").Str("t").Ch('x').U16(0),    // unknown replica identity
        Bytes().Ch('R').U32(1).Str("s").Str("t").Ch('d').U16(500),  // columns beyond the message
        Bytes().Ch('T').U32(1000000).U8(0).U32(1),                  // relation count mismatch
        Bytes().Ch('D').U32(1).Ch('N').U16(0),                      // delete needs K or O
        Bytes().Ch('U').U32(1).Ch('K').U16(0).Ch('K').U16(0),       // update: second tuple not 'N'
        Bytes().Ch('M').U8(0).U64(0).Str("p").U32(10).Raw("abc"),   // message length mismatch
    };
    for (std::size_t i = 0; i < bad.size(); ++i) {
        auto m = DecodePgOutput(bad[i].span());
        ASSERT_FALSE(m) << "case " << i;
        EXPECT_EQ(m.error().code, ErrorCode::kInvalid) << "case " << i;
        EXPECT_EQ(m.error().message.find('\n'), std::string::npos);
    }
}

TEST(ReplicationFramingTest, DecodesXLogDataAndKeepalive) {
    auto x = DecodeCopyData(Bytes().Ch('w').U64(10).U64(20).U64(30).Raw("Bxyz").span());
    ASSERT_TRUE(x);
    const auto& w = std::get<XLogData>(*x);
    EXPECT_EQ(w.start, 10u);
    EXPECT_EQ(w.end, 20u);
    EXPECT_EQ(w.payload.size(), 4u);
    auto k = DecodeCopyData(Bytes().Ch('k').U64(99).U64(5).U8(1).span());
    ASSERT_TRUE(k);
    EXPECT_EQ(std::get<Keepalive>(*k).end, 99u);
    EXPECT_TRUE(std::get<Keepalive>(*k).reply_requested);
    EXPECT_FALSE(DecodeCopyData(Bytes().Ch('k').U64(99).span()));
    EXPECT_FALSE(DecodeCopyData(Bytes().Ch('w').U64(1).span()));
    EXPECT_FALSE(DecodeCopyData(Bytes().Ch('?').span()));
    EXPECT_FALSE(DecodeCopyData(Bytes().span()));
}

TEST(ReplicationFramingTest, EncodesTheStandbyStatusUpdate) {
    const std::string s = EncodeStandbyStatus(0x0102, 0x0304, 0x0506, 7, true);
    ASSERT_EQ(s.size(), 34u);
    EXPECT_EQ(s[0], 'r');
    EXPECT_EQ(static_cast<unsigned char>(s[7]), 0x01);
    EXPECT_EQ(static_cast<unsigned char>(s[8]), 0x02);
    EXPECT_EQ(static_cast<unsigned char>(s[16]), 0x04);
    EXPECT_EQ(static_cast<unsigned char>(s[32]), 7);
    EXPECT_EQ(s[33], 1);
}

// ---------------------------------------------------------------- a real server's bytes

class PgOutputServerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        const char* url = std::getenv("HOOKD_TEST_PG_URL");
        if (!url || !*url) GTEST_SKIP() << "HOOKD_TEST_PG_URL is not set (scripts/test.sh sets it)";
        conn_ = PQconnectdb(url);
        ASSERT_EQ(PQstatus(conn_), CONNECTION_OK) << PQerrorMessage(conn_);
        std::mt19937_64 rng{std::random_device{}()};
        name_ = "pgo_" + std::to_string(rng() % 1000000000ULL);
        Exec("CREATE TABLE " + name_ + " (id bigint PRIMARY KEY, site text, archived timestamptz)");
        Exec("ALTER TABLE " + name_ + " REPLICA IDENTITY FULL");
        Exec("CREATE PUBLICATION " + name_ + " FOR TABLE " + name_);
        Exec("SELECT pg_create_logical_replication_slot('" + name_ + "', 'pgoutput')");
    }
    void TearDown() override {
        if (!conn_) return;
        if (!name_.empty()) {
            Exec("SELECT pg_drop_replication_slot('" + name_ + "')");
            Exec("DROP PUBLICATION IF EXISTS " + name_);
            Exec("DROP TABLE IF EXISTS " + name_);
        }
        PQfinish(conn_);
    }
    void Exec(const std::string& sql) {
        PGresult* r = PQexec(conn_, sql.c_str());
        const auto st = PQresultStatus(r);
        EXPECT_TRUE(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) << sql << ": " << PQerrorMessage(conn_);
        PQclear(r);
    }
    // The pgoutput payloads the slot holds, as the walsender would send them.
    std::vector<std::vector<std::uint8_t>> Changes() {
        const std::string sql = "SELECT data FROM pg_logical_slot_get_binary_changes('" + name_ +
                                "', NULL, NULL, 'proto_version', '1', 'publication_names', '" + name_ + "')";
        PGresult* r = PQexecParams(conn_, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 1);
        EXPECT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(conn_);
        std::vector<std::vector<std::uint8_t>> out;
        for (int i = 0; i < PQntuples(r); ++i) {
            const auto* p = reinterpret_cast<const std::uint8_t*>(PQgetvalue(r, i, 0));
            out.emplace_back(p, p + PQgetlength(r, i, 0));
        }
        PQclear(r);
        return out;
    }
    PGconn* conn_ = nullptr;
    std::string name_;
};

TEST_F(PgOutputServerTest, DecodesEveryMessageAServerSends) {
    Exec("INSERT INTO " + name_ + " VALUES (25, 'acme', NULL)");
    Exec("UPDATE " + name_ + " SET archived = now() WHERE id = 25");
    Exec("ALTER TABLE " + name_ + " ADD COLUMN note text");
    Exec("UPDATE " + name_ + " SET note = 'x' WHERE id = 25");
    Exec("DELETE FROM " + name_ + " WHERE id = 25");
    std::vector<char> kinds;
    std::size_t relation_columns = 0;
    for (const auto& bytes : Changes()) {
        auto m = DecodePgOutput(bytes);
        ASSERT_TRUE(m) << m.error().message;
        std::visit(
            [&](const auto& v) {
                using T = std::decay_t<decltype(v)>;
                if constexpr (std::is_same_v<T, Begin>) kinds.push_back('B');
                if constexpr (std::is_same_v<T, Commit>) kinds.push_back('C');
                if constexpr (std::is_same_v<T, Relation>) {
                    kinds.push_back('R');
                    relation_columns = v.columns.size();
                    EXPECT_EQ(v.relname, name_);
                    EXPECT_EQ(v.replica_identity, 'f');
                }
                if constexpr (std::is_same_v<T, Insert>) {
                    kinds.push_back('I');
                    EXPECT_EQ(v.row.at(0).data, "25");
                    EXPECT_EQ(v.row.at(2).kind, 'n');
                }
                if constexpr (std::is_same_v<T, Update>) {
                    kinds.push_back('U');
                    EXPECT_EQ(v.old_kind, 'O');  // REPLICA IDENTITY FULL: the whole old row
                }
                if constexpr (std::is_same_v<T, Delete>) {
                    kinds.push_back('D');
                    EXPECT_EQ(v.old_row.at(0).data, "25");
                }
            },
            *m);
    }
    // The added column makes the server describe the table again before the next change.
    EXPECT_EQ(std::string(kinds.begin(), kinds.end()), "BRICBUCBRUCBDC");
    EXPECT_EQ(relation_columns, 4u);
}

}  // namespace
}  // namespace hookd::capture
