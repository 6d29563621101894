#pragma once
// A thin RAII layer over one sqlite3 connection with a prepared-statement cache.
// Not thread-safe: the owner serialises access.
#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/result.hpp"

namespace hookd::store::sqlite {

//! Maps a SQLite result code to a hookd error (busy/full/readonly/io → kUnavailable).
[[nodiscard]] Error ToError(sqlite3* db, int rc, std::string_view what);

class Stmt final {
public:
    explicit Stmt(sqlite3_stmt* s) : s_(s) {}
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    ~Stmt() {
        sqlite3_reset(s_);
        sqlite3_clear_bindings(s_);
    }

    Stmt& Bind(int i, std::int64_t v) {
        sqlite3_bind_int64(s_, i, v);
        return *this;
    }
    Stmt& Bind(int i, int v) { return Bind(i, static_cast<std::int64_t>(v)); }
    Stmt& Bind(int i, bool v) { return Bind(i, static_cast<std::int64_t>(v ? 1 : 0)); }
    Stmt& Bind(int i, std::string_view v) {
        sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), copy_ ? SQLITE_TRANSIENT : SQLITE_STATIC);
        return *this;
    }
    Stmt& Bind(int i, const std::string& v) { return Bind(i, std::string_view(v)); }
    Stmt& Bind(int i, const char* v) { return Bind(i, std::string_view(v)); }
    Stmt& Bind(int i, std::nullopt_t) {
        sqlite3_bind_null(s_, i);
        return *this;
    }
    template <typename T>
    Stmt& Bind(int i, const std::optional<T>& v) {
        if (v) return Bind(i, *v);
        return Bind(i, std::nullopt);
    }
    template <typename... Args>
    Stmt& BindAll(const Args&... args) {
        int i = 0;
        (Bind(++i, args), ...);
        return *this;
    }
    //! As BindAll, but text is not copied: the arguments must outlive the statement's
    //! execution (e.g. bound and stepped within one call that holds them).
    template <typename... Args>
    Stmt& BindAllInPlace(const Args&... args) {
        copy_ = false;
        int i = 0;
        (Bind(++i, args), ...);
        copy_ = true;
        return *this;
    }

    //! SQLITE_ROW, SQLITE_DONE or an error code.
    int Step() { return sqlite3_step(s_); }
    [[nodiscard]] std::int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
    [[nodiscard]] bool IsNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
    [[nodiscard]] std::string Text(int col) const {
        const auto* p = sqlite3_column_text(s_, col);
        return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s_, col)))
                 : std::string();
    }
    [[nodiscard]] std::optional<std::int64_t> OptInt(int col) const {
        if (IsNull(col)) return std::nullopt;
        return Int(col);
    }
    [[nodiscard]] std::optional<std::string> OptText(int col) const {
        if (IsNull(col)) return std::nullopt;
        return Text(col);
    }

private:
    sqlite3_stmt* s_;
    bool copy_ = true;
};

class Db final {
public:
    Db() = default;
    Db(const Db&) = delete;
    Db& operator=(const Db&) = delete;
    ~Db();

    //! Opens (creating if asked) the file in WAL mode with the given synchronous level.
    Status Open(const std::string& path, bool create, std::string_view synchronous, int busy_timeout_ms);
    //! Runs one or more statements without results.
    Status Exec(std::string_view sql);
    //! A cached prepared statement, reset when the returned Stmt goes out of scope.
    Result<sqlite3_stmt*> Prepare(std::string_view sql);
    [[nodiscard]] sqlite3* raw() const { return db_; }
    [[nodiscard]] Error LastError(int rc, std::string_view what) const { return ToError(db_, rc, what); }

private:
    sqlite3* db_ = nullptr;
    std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

}  // namespace hookd::store::sqlite
