#include "capture/source.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

namespace hookd::capture {
namespace {

std::string OneLine(std::string s) {
    std::replace(s.begin(), s.end(), '\n', ' ');
    while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.pop_back();
    return s;
}

std::string Value(const PGresult* res, int row, int col) {
    return PQgetisnull(res, row, col) ? std::string() : std::string(PQgetvalue(res, row, col));
}

std::string Literal(std::string_view s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'') out += '\'';
        out += c;
    }
    return out + "'";
}

SourceStatus CheckServer(PgSource& conn) {
    auto wal = conn.Query("SHOW wal_level");
    if (!wal) return tl::unexpected(wal.error());
    const std::string level = Value(wal->get(), 0, 0);
    if (level != "logical") {
        return SourceFail(Trouble::kOperator,
                          "the source database has wal_level '" + level +
                              "'; change capture needs 'logical': run ALTER SYSTEM SET wal_level = logical; "
                              "and restart PostgreSQL");
    }
    auto role =
        conn.Query("SELECT current_user, rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user");
    if (!role) return tl::unexpected(role.error());
    if (PQntuples(role->get()) == 1 && Value(role->get(), 0, 1) != "t") {
        const std::string user = Value(role->get(), 0, 0);
        return SourceFail(Trouble::kOperator, "the source role " + user +
                                                  " lacks the REPLICATION privilege: run ALTER ROLE " +
                                                  QuoteIdent(user) + " REPLICATION;");
    }
    return {};
}

// The columns of a table's replica identity ('d': the primary key, 'i': the chosen index).
SourceResult<std::set<std::string>> IdentityColumns(PgSource& conn, const std::string& oid, const std::string& ident) {
    std::set<std::string> cols;
    if (ident != "d" && ident != "i") return cols;
    auto r = conn.Query(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = $1::oid AND CASE $2 WHEN 'd' THEN i.indisprimary ELSE i.indisreplident END",
        {oid, ident});
    if (!r) return tl::unexpected(r.error());
    for (int i = 0; i < PQntuples(r->get()); ++i) cols.insert(Value(r->get(), i, 0));
    return cols;
}

SourceStatus CheckTable(PgSource& conn, const TableMap& t) {
    auto rel = conn.Query(
        "SELECT c.oid, c.relreplident FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
        {t.schema, t.table});
    if (!rel) return tl::unexpected(rel.error());
    const std::string prefix = "capture map " + t.where + ": ";
    if (PQntuples(rel->get()) != 1) {
        return SourceFail(Trouble::kMap, prefix + "table " + t.Name() + " does not exist in the source database");
    }
    const std::string oid = Value(rel->get(), 0, 0);
    const std::string ident = Value(rel->get(), 0, 1);
    auto cols = conn.Query(
        "SELECT attname FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped", {oid});
    if (!cols) return tl::unexpected(cols.error());
    std::set<std::string> names;
    for (int i = 0; i < PQntuples(cols->get()); ++i) names.insert(Value(cols->get(), i, 0));
    const std::pair<const std::optional<std::string>*, const char*> used[] = {
        {nullptr, "id"}, {&t.site_column, "site"}, {&t.archive_column, "archive"}};
    for (const auto& [column, key] : used) {
        const std::string& name = column ? (column->has_value() ? **column : std::string()) : t.id_column;
        if (name.empty()) continue;
        if (!names.contains(name)) {
            return SourceFail(Trouble::kMap,
                              prefix + "table " + t.Name() + " has no column " + name + " (its \"" + key + "\")");
        }
    }
    const std::string alter = "ALTER TABLE " + t.SqlName() + " REPLICA IDENTITY FULL;";
    if (t.archive_column && ident != "f") {
        return SourceFail(Trouble::kMap,
                          prefix + "the archive rule needs the old row of " + t.Name() + ": run " + alter);
    }
    if (ident == "f") return {};
    // A DELETE carries only the replica identity's columns: the id (and site column) must be among them.
    auto key = IdentityColumns(conn, oid, ident);
    if (!key) return tl::unexpected(key.error());
    for (const std::string* column : {&t.id_column, t.site_column ? &*t.site_column : nullptr}) {
        if (column && !key->contains(*column)) {
            return SourceFail(Trouble::kMap, prefix + "column " + *column + " of " + t.Name() +
                                                 " is not in its replica identity, so a DELETE would not carry it: "
                                                 "run " +
                                                 alter +
                                                 " (or REPLICA IDENTITY USING INDEX with a unique "
                                                 "index on it)");
        }
    }
    return {};
}

SourceStatus EnsurePublication(PgSource& conn, const CaptureMap& map) {
    auto pub = conn.Query("SELECT 1 FROM pg_publication WHERE pubname = $1", {map.publication});
    if (!pub) return tl::unexpected(pub.error());
    if (PQntuples(pub->get()) == 0) {
        std::string sql = "CREATE PUBLICATION " + QuoteIdent(map.publication) + " FOR TABLE ";
        for (std::size_t i = 0; i < map.tables.size(); ++i) sql += (i ? ", " : "") + map.tables[i].SqlName();
        auto created = conn.Query(sql);
        // Another node may have created it at the same moment: that one is as good.
        if (!created && created.error().message.find("already exists") == std::string::npos) {
            return SourceFail(Trouble::kOperator,
                              "cannot create the publication " + map.publication + ": " + created.error().message);
        }
        if (created)
            spdlog::info("capture: created the publication {} for the {} mapped tables", map.publication,
                         map.tables.size());
        return {};
    }
    auto tables =
        conn.Query("SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1", {map.publication});
    if (!tables) return tl::unexpected(tables.error());
    std::set<std::pair<std::string, std::string>> published;
    for (int i = 0; i < PQntuples(tables->get()); ++i) {
        published.emplace(Value(tables->get(), i, 0), Value(tables->get(), i, 1));
    }
    for (const auto& t : map.tables) {
        if (!published.contains({t.schema, t.table})) {
            return SourceFail(Trouble::kMap, "capture map " + t.where + ": the publication " + map.publication +
                                                 " does not include " + t.Name() + ": run ALTER PUBLICATION " +
                                                 QuoteIdent(map.publication) + " ADD TABLE " + t.SqlName() + ";");
        }
    }
    return {};
}

SourceStatus EnsureSlot(PgSource& conn, const CaptureMap& map) {
    auto slot = conn.Query(
        "SELECT plugin, slot_type, wal_status, database = current_database() FROM pg_replication_slots "
        "WHERE slot_name = $1",
        {map.slot});
    if (!slot) return tl::unexpected(slot.error());
    if (PQntuples(slot->get()) == 0) {
        auto created = conn.Query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", {map.slot});
        if (!created && created.error().message.find("already exists") == std::string::npos) {
            return SourceFail(Trouble::kOperator,
                              "cannot create the replication slot " + map.slot + ": " + created.error().message);
        }
        // Loud on purpose: changes committed before this moment are not captured (a slot
        // that vanished while hookd ran means some were not).
        if (created)
            spdlog::warn("capture: created the replication slot {}: changes are captured from now on", map.slot);
        return {};
    }
    const PGresult* r = slot->get();
    if (Value(r, 0, 1) != "logical" || Value(r, 0, 0) != "pgoutput" || Value(r, 0, 3) != "t") {
        return SourceFail(Trouble::kMap, "the replication slot " + map.slot +
                                             " exists but is not a logical pgoutput slot of this database: choose "
                                             "another \"slot\" in the capture map, or drop it");
    }
    if (Value(r, 0, 2) == "lost") {
        return SourceFail(Trouble::kOperator,
                          "the replication slot " + map.slot +
                              " was invalidated (the source removed WAL it still needed, see max_slot_wal_keep_size): "
                              "changes since its last confirmed position are lost to capture; after reconciling, run "
                              "SELECT pg_drop_replication_slot(" +
                              Literal(map.slot) + "); and hookd starts a new one");
    }
    return {};
}

}  // namespace

std::string ResultError(const PGresult* res) {
    const char* primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    if (primary) return OneLine(primary);
    return res ? OneLine(PQresultErrorMessage(res)) : "no result";
}

std::string ResultSqlState(const PGresult* res) {
    const char* s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
    return s ? s : "";
}

SourceResult<std::unique_ptr<PgSource>> PgSource::Connect(const std::string& url, bool replication) {
    // The URL is expanded (expand_dbname = 1); the keywords after it override it.
    std::vector<const char*> keys = {"dbname", "connect_timeout", "application_name"};
    std::vector<const char*> values = {url.c_str(), "5", "hookd-capture"};
    if (replication) {
        keys.push_back("replication");
        values.push_back("database");
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    PGconn* c = PQconnectdbParams(keys.data(), values.data(), 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        std::string msg = c ? OneLine(PQerrorMessage(c)) : "out of memory";
        if (c) PQfinish(c);
        // A role without REPLICATION is refused at connection time on the walsender.
        const bool privilege = msg.find("must be superuser or replication role") != std::string::npos ||
                               msg.find("permission denied to start WAL sender") != std::string::npos;
        if (privilege) {
            return SourceFail(Trouble::kOperator, "the source role lacks the REPLICATION privilege (" + msg + ")");
        }
        return SourceFail(Trouble::kTransient, "cannot connect to the source database: " + msg);
    }
    return std::unique_ptr<PgSource>(new PgSource(c));
}

PgSource::~PgSource() { PQfinish(conn_); }

std::string PgSource::LastError() const { return OneLine(PQerrorMessage(conn_)); }

SourceResult<PgResult> PgSource::Query(const std::string& sql, const std::vector<std::string>& params) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p.c_str());
    PgResult res(params.empty() ? PQexec(conn_, sql.c_str())
                                : PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                                               values.data(), nullptr, nullptr, 0),
                 &PQclear);
    const auto st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return res;
    const std::string msg = res ? ResultError(res.get()) : LastError();
    const Trouble kind = PQstatus(conn_) == CONNECTION_OK ? Trouble::kOperator : Trouble::kTransient;
    return SourceFail(kind, msg);
}

SourceStatus PrepareSource(PgSource& conn, const CaptureMap& map) {
    if (auto r = CheckServer(conn); !r) return r;
    for (const auto& t : map.tables) {
        if (auto r = CheckTable(conn, t); !r) return r;
    }
    if (auto r = EnsurePublication(conn, map); !r) return r;
    return EnsureSlot(conn, map);
}

SourceResult<Lsn> CurrentWalLsn(PgSource& conn) {
    auto r = conn.Query("SELECT pg_current_wal_lsn()::text");
    if (!r) return tl::unexpected(r.error());
    auto lsn = ParseLsn(Value(r->get(), 0, 0));
    if (!lsn) return SourceFail(Trouble::kTransient, "pg_current_wal_lsn() returned no position");
    return *lsn;
}

}  // namespace hookd::capture
