#include "store/sqlite/sqlite_db.hpp"

#include <string>

namespace hookd::store::sqlite {

Error ToError(sqlite3* db, int rc, std::string_view what) {
    std::string msg(what);
    msg += ": ";
    msg += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
        case SQLITE_FULL:
        case SQLITE_READONLY:
        case SQLITE_IOERR:
        case SQLITE_CANTOPEN:
        case SQLITE_PERM:
        case SQLITE_PROTOCOL:
            return Error::Unavailable(std::move(msg));
        case SQLITE_CONSTRAINT:
            return Error::Conflict(std::move(msg));
        default:
            return Error::Internal(std::move(msg));
    }
}

Db::~Db() {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    if (db_) sqlite3_close_v2(db_);
}

Status Db::Open(const std::string& path, bool create, std::string_view synchronous, int busy_timeout_ms) {
    // Without memory statistics SQLite allocates without its process-wide memory mutex,
    // which the claim reads, the recorder's writes and ingest otherwise all contend on
    // (most of the process's futex calls under load). Nothing here reads the statistics.
    // Only possible before SQLite initialises: a process that used SQLite before keeps them.
    [[maybe_unused]] static const int kNoMemStats = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) return Fail(ToError(db_, rc, "cannot open " + path));
    sqlite3_busy_timeout(db_, busy_timeout_ms);
    sqlite3_extended_result_codes(db_, 1);
    std::string pragmas = "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;";
    pragmas += "PRAGMA synchronous=" + std::string(synchronous) + ";";
    return Exec(pragmas);
}

Status Db::Exec(std::string_view sql) {
    char* err = nullptr;
    const std::string s(sql);
    const int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        Error e = ToError(db_, rc, "sql");
        if (err) {
            e.message = std::string("sql: ") + err;
            sqlite3_free(err);
        }
        return Fail(std::move(e));
    }
    return {};
}

Result<sqlite3_stmt*> Db::Prepare(std::string_view sql) {
    std::string key(sql);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, key.c_str(), static_cast<int>(key.size()), SQLITE_PREPARE_PERSISTENT, &stmt,
                                      nullptr);
    if (rc != SQLITE_OK) return Fail(ToError(db_, rc, "prepare"));
    cache_.emplace(std::move(key), stmt);
    return stmt;
}

}  // namespace hookd::store::sqlite
