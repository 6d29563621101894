// The capture map (SPEC §10) and the mapping of row changes to events: the spec's example,
// each validation error as one line, and INSERT/UPDATE/ARCHIVE/DELETE with the entity id's
// natural JSON form.
#include "capture/capture_map.hpp"

#include <gtest/gtest.h>

#include "capture/row_mapper.hpp"

namespace hookd::capture {
namespace {

Catalogue TestCatalogue() {
    auto c = Catalogue::Parse(R"({"entities":[{"name":"Agreement"},{"name":"Room"}]})");
    EXPECT_TRUE(c);
    return *c;
}

constexpr const char* kSpecMap = R"({"slot": "hookd", "publication": "hookd",
   "tables": [
     {"table": "public.agreements", "entity": "Agreement", "id": "id",
      "site": "site_id", "archive": "archived_at"},
     {"table": "public.rooms", "entity": "Room", "id": "room_id", "siteId": "acme"}]})";

TEST(CaptureMapTest, ParsesTheSpecExample) {
    const Catalogue cat = TestCatalogue();
    auto m = ParseCaptureMap(kSpecMap, cat);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(m->slot, "hookd");
    ASSERT_EQ(m->tables.size(), 2u);
    EXPECT_EQ(m->tables[0].Name(), "public.agreements");
    EXPECT_EQ(m->tables[0].site_column, "site_id");
    EXPECT_EQ(m->tables[0].archive_column, "archived_at");
    EXPECT_EQ(m->tables[1].site_id, "acme");
    EXPECT_EQ(m->tables[1].SqlName(), "\"public\".\"rooms\"");
}

TEST(CaptureMapTest, DefaultsSlotPublicationAndSchema) {
    const Catalogue cat = TestCatalogue();
    auto m = ParseCaptureMap(R"({"tables":[{"table":"rooms","entity":"room","id":"id","siteId":"acme"}]})", cat);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(m->slot, "hookd");
    EXPECT_EQ(m->publication, "hookd");
    EXPECT_EQ(m->tables[0].schema, "public");
    EXPECT_EQ(m->tables[0].entity, "Room");  // the catalogue's spelling
}

TEST(CaptureMapTest, EachInvalidMapIsOneLineNamingTheProblem) {
    const Catalogue cat = TestCatalogue();
    const std::pair<const char*, const char*> cases[] = {
        {"not json", "not valid JSON"},
        {"[]", "must be a JSON object"},
        {R"({})", "missing \"tables\""},
        {R"({"tables":[]})", "tables: must be a non-empty list"},
        {R"({"tables":[{"table":"t","entity":"Nope","id":"id","siteId":"acme"}]})",
         "tables[0].entity: 'Nope' is not in the catalogue"},
        {R"({"tables":[{"table":"t","entity":"Room","siteId":"acme"}]})", "tables[0]: missing \"id\""},
        {R"({"tables":[{"table":"t","entity":"Room","id":"id"}]})", "exactly one of \"site\""},
        {R"({"tables":[{"table":"t","entity":"Room","id":"id","site":"s","siteId":"acme"}]})", "exactly one of"},
        {R"({"tables":[{"table":"t","entity":"Room","id":"id","siteId":"Bad Site"}]})", "tables[0].siteId"},
        {R"({"tables":[{"table":"t","entity":"Room","id":"id","siteId":"acme","colour":1}]})",
         "unknown key \"colour\""},
        {R"({"slot":"Bad-Slot","tables":[{"table":"t","entity":"Room","id":"id","siteId":"acme"}]})", "slot:"},
        {R"({"tables":[{"table":"a.b.c","entity":"Room","id":"id","siteId":"acme"}]})", "tables[0].table"},
        {R"({"tables":[{"table":"t","entity":"Room","id":"x; drop","siteId":"acme"}]})", "tables[0].id"},
        {R"({"tables":[{"table":"t","entity":"Room","id":"id","siteId":"acme"},
                       {"table":"public.t","entity":"Room","id":"id","siteId":"acme"}]})",
         "mapped twice"},
        {R"({"extra":1,"tables":[]})", "unknown key \"extra\""},
    };
    for (const auto& [json, expected] : cases) {
        auto m = ParseCaptureMap(json, cat);
        ASSERT_FALSE(m) << json;
        EXPECT_EQ(m.error().code, ErrorCode::kInvalid);
        EXPECT_NE(m.error().message.find(expected), std::string::npos) << m.error().message;
        EXPECT_EQ(m.error().message.find('\n'), std::string::npos);
    }
}

TEST(CaptureMapTest, LoadNamesTheFile) {
    const Catalogue cat = TestCatalogue();
    auto m = LoadCaptureMap("/nonexistent/map.json", cat);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().message, "--capture-map /nonexistent/map.json: cannot read the file");
}

// ---------------------------------------------------------------- the row mapper

TupleValue T(std::string s) { return TupleValue{'t', std::move(s)}; }
TupleValue Null() { return TupleValue{'n', {}}; }

class RowMapperTest : public ::testing::Test {
  protected:
    void SetUp() override {
        auto m = ParseCaptureMap(kSpecMap, cat_);
        ASSERT_TRUE(m);
        map_ = std::move(*m);
        mapper_ = std::make_unique<RowMapper>(map_);
        Relation agreements{1,
                            "public",
                            "agreements",
                            'f',
                            {{true, "id", 20, -1}, {false, "site_id", 25, -1}, {false, "archived_at", 1184, -1}}};
        ASSERT_TRUE(mapper_->OnRelation(agreements));
        Relation rooms{2, "public", "rooms", 'd', {{true, "room_id", 25, -1}}};
        ASSERT_TRUE(mapper_->OnRelation(rooms));
        Relation other{3, "public", "audit_log", 'd', {{true, "id", 20, -1}}};
        ASSERT_TRUE(mapper_->OnRelation(other));
    }
    Catalogue cat_ = TestCatalogue();
    CaptureMap map_;
    std::unique_ptr<RowMapper> mapper_;
};

TEST_F(RowMapperTest, InsertIsCreateWithANumericId) {
    auto o = mapper_->Map(Insert{1, {T("25"), T("acme"), Null()}});
    ASSERT_TRUE(o);
    ASSERT_EQ(o->kind, RowOutcome::Kind::kEvent);
    EXPECT_EQ(o->site, "acme");
    EXPECT_EQ(o->event.type, EventType::kCreate);
    EXPECT_EQ(o->event.entity, "Agreement");
    EXPECT_EQ(o->event.entity_id, (EntityId{"25", true}));
}

TEST_F(RowMapperTest, UpdateIsUpdateUnlessTheArchiveColumnWasSet) {
    auto u = mapper_->Map(Update{1, 'O', {T("25"), T("acme"), Null()}, {T("25"), T("acme"), Null()}});
    EXPECT_EQ(u->event.type, EventType::kUpdate);
    auto a = mapper_->Map(Update{1, 'O', {T("25"), T("acme"), Null()}, {T("25"), T("acme"), T("2026-01-01")}});
    EXPECT_EQ(a->event.type, EventType::kArchive);
    // Already archived: a later change is an UPDATE; so is un-archiving.
    auto again = mapper_->Map(Update{1, 'O', {T("25"), T("acme"), T("x")}, {T("25"), T("acme"), T("y")}});
    EXPECT_EQ(again->event.type, EventType::kUpdate);
    auto back = mapper_->Map(Update{1, 'O', {T("25"), T("acme"), T("x")}, {T("25"), T("acme"), Null()}});
    EXPECT_EQ(back->event.type, EventType::kUpdate);
}

TEST_F(RowMapperTest, DeleteTakesTheIdFromTheOldKeyAndAFixedSite) {
    auto d = mapper_->Map(Delete{2, 'K', {T("room-7")}});
    ASSERT_EQ(d->kind, RowOutcome::Kind::kEvent);
    EXPECT_EQ(d->site, "acme");
    EXPECT_EQ(d->event.type, EventType::kDelete);
    EXPECT_EQ(d->event.entity_id, (EntityId{"room-7", false}));
}

TEST_F(RowMapperTest, UnmappedTablesAndUnusableRowsAreSkipped) {
    auto u = mapper_->Map(Insert{3, {T("1")}});
    EXPECT_EQ(u->kind, RowOutcome::Kind::kUnmappedTable);
    EXPECT_EQ(u->detail, "public.audit_log");
    auto null_id = mapper_->Map(Insert{1, {Null(), T("acme"), Null()}});
    EXPECT_EQ(null_id->kind, RowOutcome::Kind::kBadRow);
    auto bad_id = mapper_->Map(Insert{2, {T("has space")}});
    EXPECT_EQ(bad_id->kind, RowOutcome::Kind::kBadRow);
    EXPECT_FALSE(mapper_->Map(Insert{99, {}}));  // never described: a protocol violation
}

TEST_F(RowMapperTest, ANewRelationMessageReplacesTheOldOne) {
    // ALTER TABLE ... ADD COLUMN before id: positions move.
    Relation altered{
        1,
        "public",
        "agreements",
        'f',
        {{false, "note", 25, -1}, {true, "id", 20, -1}, {false, "site_id", 25, -1}, {false, "archived_at", 1184, -1}}};
    ASSERT_TRUE(mapper_->OnRelation(altered));
    auto o = mapper_->Map(Insert{1, {T("hello"), T("26"), T("acme"), Null()}});
    EXPECT_EQ(o->event.entity_id.text, "26");
    // A mapped column dropped: an error naming it.
    Relation dropped{1, "public", "agreements", 'f', {{true, "id", 20, -1}, {false, "archived_at", 1184, -1}}};
    auto r = mapper_->OnRelation(dropped);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("no longer has column site_id"), std::string::npos) << r.error().message;
}

TEST(EntityIdTest, IntegerColumnsAreNumbersOthersStrings) {
    EXPECT_EQ(EntityIdFromColumn("25", 20), (EntityId{"25", true}));
    EXPECT_EQ(EntityIdFromColumn("25", 25), (EntityId{"25", false}));  // text column: a string
    EXPECT_EQ(EntityIdFromColumn("-3", 23), (EntityId{"-3", false}));  // negative: not an entity number
    EXPECT_EQ(EntityIdFromColumn("6f1c-aa", 2950), (EntityId{"6f1c-aa", false}));
    EXPECT_FALSE(EntityIdFromColumn("a b", 25));
    EXPECT_FALSE(EntityIdFromColumn("", 25));
}

}  // namespace
}  // namespace hookd::capture
