#include "store/postgres/pg_conn.hpp"

#include <functional>

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
        code == "40001" || code == "40P01" || code == "55P03" || code.rfind("58", 0) == 0) {
        return Error::Unavailable(std::move(msg));
    }
    return Error::Internal(std::move(msg));
}

Conn::~Conn() {
    if (conn_) PQfinish(conn_);
}

Status Conn::Connect() {
    if (conn_) PQfinish(conn_);
    prepared_.clear();
    conn_ = PQconnectdb(url_.c_str());
    if (PQstatus(conn_) != CONNECTION_OK) {
        std::string msg = PQerrorMessage(conn_);
        while (!msg.empty() && msg.back() == '\n') msg.pop_back();
        return Fail(Error::Unavailable("cannot connect to PostgreSQL: " + msg));
    }
    // Bounded waits: a lock holder that went away (or a stuck statement) must not stall
    // every node; the operation fails, is logged and is tried again.
    PQclear(PQexec(conn_,
                   "SET client_min_messages = warning; SET lock_timeout = '10s'; SET statement_timeout = '60s'; "
                   "SET idle_in_transaction_session_timeout = '60s'"));
    return {};
}

Result<PgResult> Conn::Check(PGresult* r, std::string_view what) {
    const auto st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return PgResult(r);
    Error e = ToError(conn_, r, what);
    PQclear(r);
    return Fail(std::move(e));
}

Result<PgResult> Conn::Simple(std::string_view sql) {
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
        if (auto r = Connect(); !r) return Fail(r.error());
    }
    return Check(PQexec(conn_, std::string(sql).c_str()), "query");
}

Result<PgResult> Conn::Exec(std::string_view sql, const std::vector<Param>& params) {
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
        if (auto r = Connect(); !r) return Fail(r.error());
    }
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

Pool::Lease Pool::Acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return !free_.empty(); });
    Conn* c = free_.back();
    free_.pop_back();
    return Lease(*this, c);
}

void Pool::Release(Conn* c) {
    {
        std::lock_guard lock(mu_);
        free_.push_back(c);
    }
    cv_.notify_one();
}

}  // namespace hookd::store::postgres
