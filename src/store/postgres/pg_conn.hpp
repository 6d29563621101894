#pragma once
// A thin layer over libpq: connections with per-connection prepared statements, a
// small pool, and typed access to result rows. Not part of the store's interface.
//
// Transactions and lost sessions: a connection reconnects by itself only *between*
// transactions. Once Begin() succeeded, a lost session fails every later statement of
// that transaction (kUnavailable) until Rollback(); nothing runs on a fresh session
// as if it were part of the old transaction. Commit() succeeds only when the server
// answered COMMIT (an aborted transaction answers ROLLBACK to a COMMIT: that is an error).
// A COMMIT whose answer was lost is reported as kUnavailable: the caller cannot know
// whether it was applied, and must treat it as not acknowledged.
//
// Round trips: Begin() sends nothing; BEGIN goes out with the transaction's first
// statement (in one round trip with it). Pipeline() sends several statements (and, with
// PipelineAndCommit, the COMMIT) in libpq's pipeline mode: one round trip for all of them.
#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.hpp"

namespace hookd::store::postgres {

using Param = std::optional<std::string>;

inline Param P(std::int64_t v) { return std::to_string(v); }
inline Param P(int v) { return std::to_string(v); }
inline Param P(bool v) { return v ? "1" : "0"; }
inline Param P(std::string_view v) { return std::string(v); }
inline Param P(const std::string& v) { return v; }
inline Param P(const char* v) { return std::string(v); }
template <typename T>
Param P(const std::optional<T>& v) {
    if (!v) return std::nullopt;
    return P(*v);
}

//! An owned PGresult.
class PgResult final {
public:
    PgResult() = default;
    explicit PgResult(PGresult* r) : r_(r, PQclear) {}
    [[nodiscard]] int Rows() const { return r_ ? PQntuples(r_.get()) : 0; }
    [[nodiscard]] std::int64_t Affected() const;
    [[nodiscard]] PGresult* raw() const { return r_.get(); }

private:
    std::shared_ptr<PGresult> r_;
};

//! One row of a PgResult, with the accessors the shared row readers expect.
class RowRef final {
public:
    RowRef(const PgResult& r, int row) : r_(r.raw()), row_(row) {}
    [[nodiscard]] bool IsNull(int col) const { return PQgetisnull(r_, row_, col) != 0; }
    [[nodiscard]] std::string Text(int col) const {
        return std::string(PQgetvalue(r_, row_, col), static_cast<std::size_t>(PQgetlength(r_, row_, col)));
    }
    [[nodiscard]] std::int64_t Int(int col) const { return IsNull(col) ? 0 : std::stoll(PQgetvalue(r_, row_, col)); }
    [[nodiscard]] std::optional<std::int64_t> OptInt(int col) const {
        if (IsNull(col)) return std::nullopt;
        return Int(col);
    }
    [[nodiscard]] std::optional<std::string> OptText(int col) const {
        if (IsNull(col)) return std::nullopt;
        return Text(col);
    }

private:
    PGresult* r_;
    int row_;
};

//! A PostgreSQL int[] literal, e.g. {1,2,3}.
std::string IntArray(const std::vector<int>& v);

//! TCP keepalive settings added to every connection string that does not set them, so a
//! silent network cut ends a session in seconds rather than hours.
std::string WithKeepalives(const std::string& url);

//! Session settings for connections that only look rows up by key (of rows named by
//! arrays of ids): their statements run on cached generic plans made with sequential
//! scans off. With arrays PostgreSQL otherwise plans afresh at every run (a custom plan
//! knows the array's length), and a plan made while a table is nearly empty scans it
//! whole. They do not wait for their commits' WAL flush either (see the store's use).
inline constexpr std::string_view kLookupSession =
    "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off; SET synchronous_commit = off";

//! One statement of a Pipeline, run as a prepared statement like Conn::Exec.
struct Statement {
    std::string_view sql;
    std::vector<Param> params;
};

//! One session. Not thread-safe: one caller at a time (the pool hands it out).
class Conn final {
public:
    //! `settings`: SET statements run at the start of every session (e.g. kLookupSession).
    explicit Conn(std::string url, std::string settings = {})
        : url_(std::move(url)), settings_(std::move(settings)) {}
    ~Conn();
    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;

    [[nodiscard]] Status Connect();
    //! Runs `sql` as a prepared statement with text params (prepared with its first run, in
    //! the same round trip; planned again as described at Conn::PlanFor).
    [[nodiscard]] Result<PgResult> Exec(std::string_view sql, const std::vector<Param>& params = {});
    //! Runs one or more statements without parameters (DDL, SET, LISTEN). Not BEGIN/COMMIT:
    //! use Begin/Commit/Rollback, which track the transaction.
    [[nodiscard]] Result<PgResult> Simple(std::string_view sql);

    //! Runs `statements` in order, sent together and answered in one round trip (libpq's
    //! pipeline mode; a pending BEGIN goes with them). Returns their results in order, or
    //! the first failure: the statements after a failed one do not run, and inside a
    //! transaction the failure aborts it (Commit then fails; Rollback ends it). Outside a
    //! transaction the statements form one implicit transaction: all or none apply.
    [[nodiscard]] Result<std::vector<PgResult>> Pipeline(std::span<const Statement> statements);
    //! Pipeline() followed by COMMIT in the same round trip; ends the transaction. Success
    //! means committed. An error means not known to be committed: kUnavailable when the
    //! answer was lost (it may have been applied), else the statement's error (it was not).
    [[nodiscard]] Result<std::vector<PgResult>> PipelineAndCommit(std::span<const Statement> statements);

    //! Starts a transaction (reconnecting first if the session was lost between
    //! transactions). Sends nothing: BEGIN goes out with the first statement.
    [[nodiscard]] Status Begin();
    //! Commits; an error means the transaction is not known to be committed.
    [[nodiscard]] Status Commit();
    //! Ends the transaction without applying it; never fails (a lost session has no transaction).
    void Rollback();
    [[nodiscard]] bool in_transaction() const { return in_tx_; }
    [[nodiscard]] PGconn* raw() const { return conn_; }

private:
    Status Usable();
    Result<PgResult> Check(PGresult* r, std::string_view what);
    Result<std::vector<PgResult>> RunPipeline(std::span<const Statement> statements, bool commit);
    struct Plan;
    std::string_view PlanFor(Plan& plan, std::chrono::steady_clock::time_point now);
    void Drop();
    std::string url_;
    std::string settings_;
    PGconn* conn_ = nullptr;
    bool in_tx_ = false;
    bool begin_pending_ = false;  // Begin() was called, BEGIN not sent yet
    bool tx_broken_ = false;  // the session was lost inside the current transaction
    //! A statement prepared in this session: under which name, how often it ran since.
    struct Plan {
        std::string name;  // empty: to be prepared (again) with its next run
        std::int64_t uses = 0;
        std::int64_t replan_after = 0;
        std::chrono::steady_clock::time_point at;
    };
    std::unordered_map<std::string, Plan> prepared_;  // by sql
    std::vector<std::string> retired_;  // names to DEALLOCATE with the next round trip
    std::uint64_t names_ = 0;
};

//! A fixed set of connections handed out one caller at a time.
class Pool final {
public:
    Pool(std::string url, int size, const std::string& settings = {});
    [[nodiscard]] Status Connect();

    class Lease {
    public:
        Lease(Pool* pool, Conn* conn) : pool_(pool), conn_(conn) {}
        ~Lease();
        Lease(Lease&& o) noexcept : pool_(o.pool_), conn_(o.conn_) { o.conn_ = nullptr; }
        Lease& operator=(Lease&&) = delete;
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        Conn* operator->() const { return conn_; }
        Conn& operator*() const { return *conn_; }

    private:
        Pool* pool_;
        Conn* conn_;
    };
    //! Waits up to `wait` for a free connection; kUnavailable when none became free.
    [[nodiscard]] Result<Lease> Acquire(std::chrono::milliseconds wait = std::chrono::milliseconds(5000));

private:
    void Release(Conn* c);
    std::vector<std::unique_ptr<Conn>> all_;
    std::vector<Conn*> free_;
    std::mutex mu_;
    std::condition_variable cv_;
};

//! Maps a libpq failure to a hookd error (connection/disk/serialisation → kUnavailable,
//! unique violation → kConflict).
Error ToError(PGconn* conn, const PGresult* r, std::string_view what);

}  // namespace hookd::store::postgres
