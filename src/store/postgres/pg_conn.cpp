#include "store/postgres/pg_conn.hpp"

#include <cstring>

namespace hookd::store::postgres {

std::int64_t PgResult::Affected() const {
    if (!r_) return 0;
    const char* n = PQcmdTuples(r_.get());
    return (n && *n) ? std::stoll(n) : 0;
}

Error ToError(PGconn* conn, const PGresult* r, std::string_view what) {
    std::string msg(what);
    msg += ": ";
    const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    msg += r ? PQresultErrorMessage(r) : (conn ? PQerrorMessage(conn) : "no connection");
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    const std::string code = state ? state : "";
    if (code == "23505") return Error::Conflict(std::move(msg));
    if (code.empty() || code.rfind("08", 0) == 0 || code.rfind("53", 0) == 0 || code.rfind("57", 0) == 0 ||
        code == "40001" || code == "40P01" || code == "55P03" || code.rfind("58", 0) == 0 ||
        (conn && PQstatus(conn) != CONNECTION_OK)) {
        return Error::Unavailable(std::move(msg));
    }
    return Error::Internal(std::move(msg));
}

std::string WithKeepalives(const std::string& url) {
    if (url.find("keepalives") != std::string::npos || url.find("tcp_user_timeout") != std::string::npos) return url;
    // Probes after 5 s idle, every 2 s, 3 lost probes end the session; unacknowledged
    // data ends it after 10 s.
    const bool uri = url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
    if (uri) {
        const char* kParams = "keepalives=1&keepalives_idle=5&keepalives_interval=2&keepalives_count=3&tcp_user_timeout=10000";
        return url + (url.find('?') == std::string::npos ? "?" : "&") + kParams;
    }
    return url + " keepalives=1 keepalives_idle=5 keepalives_interval=2 keepalives_count=3 tcp_user_timeout=10000";
}

std::string IntArray(const std::vector<int>& v) {
    std::string out = "{";
    for (std::size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + std::to_string(v[i]);
    return out + "}";
}

Conn::~Conn() {
    if (conn_) PQfinish(conn_);
}

Status Conn::Connect() {
    if (conn_) PQfinish(conn_);
    prepared_.clear();
    in_tx_ = false;
    tx_broken_ = false;
    conn_ = PQconnectdb(url_.c_str());
    if (PQstatus(conn_) != CONNECTION_OK) {
        std::string msg = PQerrorMessage(conn_);
        while (!msg.empty() && msg.back() == '\n') msg.pop_back();
        return Fail(Error::Unavailable("cannot connect to PostgreSQL: " + msg));
    }
    // Bounded waits: a lock holder that went away (or a stuck statement) must not stall
    // every node; the operation fails, is logged and is tried again.
    PGresult* r = PQexec(conn_,
                         "SET client_min_messages = warning; SET lock_timeout = '10s'; SET statement_timeout = '60s'; "
                         "SET idle_in_transaction_session_timeout = '60s'");
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        std::string msg = PQerrorMessage(conn_);
        while (!msg.empty() && msg.back() == '\n') msg.pop_back();
        return Fail(Error::Unavailable("cannot set up the PostgreSQL session: " + msg));
    }
    return {};
}

// Inside a transaction, a lost session is final for that transaction; between
// transactions it is replaced.
Status Conn::Usable() {
    if (conn_ && PQstatus(conn_) == CONNECTION_OK && !tx_broken_) return {};
    if (in_tx_) {
        tx_broken_ = true;
        return Fail(Error::Unavailable("the PostgreSQL session was lost inside a transaction"));
    }
    return Connect();
}

Result<PgResult> Conn::Check(PGresult* r, std::string_view what) {
    const auto st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return PgResult(r);
    Error e = ToError(conn_, r, what);
    PQclear(r);
    if (in_tx_ && PQstatus(conn_) != CONNECTION_OK) tx_broken_ = true;
    return Fail(std::move(e));
}

Result<PgResult> Conn::Simple(std::string_view sql) {
    if (auto u = Usable(); !u) return Fail(u.error());
    return Check(PQexec(conn_, std::string(sql).c_str()), "query");
}

Result<PgResult> Conn::Exec(std::string_view sql, const std::vector<Param>& params) {
    if (auto u = Usable(); !u) return Fail(u.error());
    std::string key(sql);
    auto it = prepared_.find(key);
    if (it == prepared_.end()) {
        const std::string name = "s" + std::to_string(prepared_.size());
        auto prep = Check(PQprepare(conn_, name.c_str(), key.c_str(), 0, nullptr), "prepare");
        if (!prep) return Fail(prep.error());
        it = prepared_.emplace(std::move(key), name).first;
    }
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    return Check(PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(values.size()), values.data(), nullptr,
                                nullptr, 0),
                 "query");
}

Status Conn::Begin() {
    if (in_tx_) return Fail(Error::Internal("BEGIN inside a transaction"));
    if (auto u = Usable(); !u) return u;
    auto r = Check(PQexec(conn_, "BEGIN"), "BEGIN");
    if (!r) return Fail(r.error());
    in_tx_ = true;
    tx_broken_ = false;
    return {};
}

Status Conn::Commit() {
    if (!in_tx_) return Fail(Error::Internal("COMMIT outside a transaction"));
    if (tx_broken_ || !conn_ || PQstatus(conn_) != CONNECTION_OK) {
        Rollback();
        return Fail(Error::Unavailable("the PostgreSQL session was lost inside a transaction; nothing was committed"));
    }
    PGresult* r = PQexec(conn_, "COMMIT");
    const bool sent = PQresultStatus(r) == PGRES_COMMAND_OK;
    // A transaction that had failed answers COMMIT with "ROLLBACK".
    const bool committed = sent && std::strcmp(PQcmdStatus(r), "COMMIT") == 0;
    Error e = committed ? Error{} : ToError(conn_, sent ? nullptr : r, "COMMIT");
    PQclear(r);
    in_tx_ = false;
    tx_broken_ = false;
    if (committed) return {};
    if (sent) return Fail(Error::Unavailable("COMMIT: the transaction had failed and was rolled back"));
    // The answer was lost: the commit may or may not have happened.
    if (e.code != ErrorCode::kUnavailable) e.code = ErrorCode::kUnavailable;
    return Fail(std::move(e));
}

void Conn::Rollback() {
    if (in_tx_ && !tx_broken_ && conn_ && PQstatus(conn_) == CONNECTION_OK) PQclear(PQexec(conn_, "ROLLBACK"));
    in_tx_ = false;
    tx_broken_ = false;
}

Pool::Pool(std::string url, int size) {
    for (int i = 0; i < size; ++i) all_.push_back(std::make_unique<Conn>(url));
    for (auto& c : all_) free_.push_back(c.get());
}

Status Pool::Connect() {
    for (auto& c : all_) {
        if (auto r = c->Connect(); !r) return r;
    }
    return {};
}

Pool::Lease::~Lease() {
    if (!conn_) return;
    // A connection goes back to the pool outside any transaction.
    if (conn_->in_transaction()) conn_->Rollback();
    pool_->Release(conn_);
}

Result<Pool::Lease> Pool::Acquire(std::chrono::milliseconds wait) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, wait, [this] { return !free_.empty(); })) {
        return Fail(Error::Unavailable("no PostgreSQL connection became free within " + std::to_string(wait.count()) +
                                       " ms"));
    }
    Conn* c = free_.back();
    free_.pop_back();
    return Lease(this, c);
}

void Pool::Release(Conn* c) {
    {
        std::lock_guard lock(mu_);
        free_.push_back(c);
    }
    cv_.notify_one();
}

}  // namespace hookd::store::postgres
