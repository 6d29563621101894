#include "store/postgres/pg_conn.hpp"

#include <algorithm>
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
    retired_.clear();
    in_tx_ = false;
    tx_broken_ = false;
    begin_pending_ = false;
    conn_ = PQconnectdb(url_.c_str());
    if (PQstatus(conn_) != CONNECTION_OK) {
        std::string msg = PQerrorMessage(conn_);
        while (!msg.empty() && msg.back() == '\n') msg.pop_back();
        return Fail(Error::Unavailable("cannot connect to PostgreSQL: " + msg));
    }
    // Bounded waits: a lock holder that went away (or a stuck statement) must not stall
    // every node; the operation fails, is logged and is tried again.
    const std::string setup =
        "SET client_min_messages = warning; SET lock_timeout = '10s'; SET statement_timeout = '60s'; "
        "SET idle_in_transaction_session_timeout = '60s'" +
        (settings_.empty() ? std::string() : "; " + settings_);
    PGresult* r = PQexec(conn_, setup.c_str());
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

// The session is unusable (lost, or its protocol state unknown): closed, so the next
// transaction starts on a fresh one; a transaction in progress is lost with it.
void Conn::Drop() {
    if (conn_) PQfinish(conn_);
    conn_ = nullptr;
    prepared_.clear();
    retired_.clear();
    if (in_tx_) tx_broken_ = true;
}

Result<PgResult> Conn::Simple(std::string_view sql) {
    if (auto u = Usable(); !u) return Fail(u.error());
    if (begin_pending_) {
        // One simple query with the pending BEGIN: one round trip.
        begin_pending_ = false;
        return Check(PQexec(conn_, ("BEGIN; " + std::string(sql)).c_str()), "query");
    }
    return Check(PQexec(conn_, std::string(sql).c_str()), "query");
}

Result<PgResult> Conn::Exec(std::string_view sql, const std::vector<Param>& params) {
    if (auto u = Usable(); !u) return Fail(u.error());
    const Statement one{sql, params};
    auto r = RunPipeline(std::span<const Statement>(&one, 1), false);
    if (!r) return Fail(r.error());
    return std::move(r->front());
}


// The name `sql` runs under in this session; empty when it must be prepared first (again).
// PostgreSQL plans a prepared statement again only when its tables' statistics change,
// that is after autovacuum's ANALYZE: on a new database the plan made while `deliveries`
// was nearly empty (a sequential scan) would be kept while it grows, for a minute or more
// (the 202 at 1,000 events/s went from 3 to 15-20 ms). So a statement is prepared again
// after 64, 128, … 8,192 runs — its plan follows a table that grows with the work — and
// when its plan is over 30 s old; planning is otherwise paid once, not at every run.
std::string_view Conn::PlanFor(Plan& plan, std::chrono::steady_clock::time_point now) {
    constexpr std::int64_t kFirst = 64;
    constexpr std::int64_t kMost = 8192;
    constexpr auto kMaxAge = std::chrono::seconds(30);
    if (plan.replan_after == 0) plan.replan_after = kFirst;
    if (plan.name.empty()) return {};
    const bool used_up = plan.uses >= plan.replan_after;
    if (!used_up && now - plan.at < kMaxAge) {
        ++plan.uses;
        return plan.name;
    }
    retired_.push_back(std::move(plan.name));
    plan.name.clear();
    // Old, not much used: the tables may have changed since; follow them closely again.
    plan.replan_after = used_up ? std::min(plan.replan_after * 2, kMost) : kFirst;
    return {};
}

Result<std::vector<PgResult>> Conn::Pipeline(std::span<const Statement> statements) {
    if (auto u = Usable(); !u) return Fail(u.error());
    return RunPipeline(statements, false);
}

Result<std::vector<PgResult>> Conn::PipelineAndCommit(std::span<const Statement> statements) {
    if (!in_tx_) return Fail(Error::Internal("COMMIT outside a transaction"));
    if (tx_broken_ || !conn_ || PQstatus(conn_) != CONNECTION_OK) {
        Rollback();
        return Fail(Error::Unavailable("the PostgreSQL session was lost inside a transaction; nothing was committed"));
    }
    return RunPipeline(statements, true);
}

// Sends [BEGIN,] the statements (each prepared first when this session has not prepared
// it yet) [and COMMIT], then one sync, and reads the answers in order. A failed command
// makes the server skip the rest up to the sync (PGRES_PIPELINE_ABORTED).
Result<std::vector<PgResult>> Conn::RunPipeline(std::span<const Statement> statements, bool commit) {
    enum class Kind { kBegin, kDeallocate, kPrepare, kStatement, kCommit };
    struct Queued {
        Kind kind;
        std::size_t index;  // of the statement (kPrepare, kStatement)
        std::string name;   // of the statement prepared (kPrepare) or let go (kDeallocate)
    };
    if (PQenterPipelineMode(conn_) != 1) return Fail(ToError(conn_, nullptr, "entering pipeline mode"));
    std::vector<Queued> queued;
    std::unordered_map<std::string, std::string> preparing;  // sql → name, prepared by this pipeline
    bool sent = true;
    auto send = [&](int ok, Queued q) {
        if (ok == 1) queued.push_back(std::move(q));
        sent = sent && ok == 1;
    };
    auto send_plain = [&](const char* sql, Kind kind) {
        send(PQsendQueryParams(conn_, sql, 0, nullptr, nullptr, nullptr, nullptr, 0), {kind, 0, {}});
    };
    if (begin_pending_) send_plain("BEGIN", Kind::kBegin);
    // Statements planned again (PlanFor): their old names go. Not transactional, so
    // harmless inside a transaction that fails later.
    for (const std::string& old : retired_) {
        if (!sent) break;
        send(PQsendQueryParams(conn_, ("DEALLOCATE " + old).c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0),
             {Kind::kDeallocate, 0, old});
    }
    const auto now = std::chrono::steady_clock::now();
    std::vector<const char*> values;
    for (std::size_t i = 0; i < statements.size() && sent; ++i) {
        std::string sql(statements[i].sql);
        std::string name;
        if (auto p = preparing.find(sql); p != preparing.end()) {
            name = p->second;
        } else if (auto planned = PlanFor(prepared_[sql], now); !planned.empty()) {
            name = planned;
        } else {
            name = "s" + std::to_string(names_++);
            preparing.emplace(sql, name);
            send(PQsendPrepare(conn_, name.c_str(), sql.c_str(), 0, nullptr), {Kind::kPrepare, i, name});
            if (!sent) break;
        }
        values.clear();
        for (const auto& p : statements[i].params) values.push_back(p ? p->c_str() : nullptr);
        send(PQsendQueryPrepared(conn_, name.c_str(), static_cast<int>(values.size()), values.data(), nullptr, nullptr,
                                 0),
             {Kind::kStatement, i, {}});
    }
    if (sent && commit) send_plain("COMMIT", Kind::kCommit);
    if (sent) sent = PQpipelineSync(conn_) == 1;

    std::vector<PgResult> out(statements.size());
    std::optional<Error> failed;  // the first command that failed
    bool lost = !sent;
    bool committed = false;
    bool commit_answered = false;
    for (const Queued& q : queued) {
        if (lost) break;
        PGresult* r = PQgetResult(conn_);
        if (!r) {
            lost = true;
            break;
        }
        const auto st = PQresultStatus(r);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            switch (q.kind) {
                case Kind::kBegin:
                    begin_pending_ = false;
                    break;
                case Kind::kDeallocate:
                    std::erase(retired_, q.name);
                    break;
                case Kind::kPrepare: {
                    Plan& plan = prepared_[std::string(statements[q.index].sql)];
                    plan.name = q.name;
                    plan.uses = 1;
                    plan.at = now;
                    break;
                }
                case Kind::kStatement:
                    break;
                case Kind::kCommit:
                    // A transaction that had failed answers COMMIT with "ROLLBACK".
                    commit_answered = true;
                    committed = std::strcmp(PQcmdStatus(r), "COMMIT") == 0;
                    break;
            }
            if (q.kind == Kind::kStatement) {
                out[q.index] = PgResult(r);
            } else {
                PQclear(r);
            }
        } else {
            if (st != PGRES_PIPELINE_ABORTED && !failed) {
                const char* what = q.kind == Kind::kCommit       ? "COMMIT"
                                   : q.kind == Kind::kBegin      ? "BEGIN"
                                   : q.kind == Kind::kDeallocate ? "DEALLOCATE"
                                                                 : "query";
                failed = ToError(conn_, r, what);
            }
            PQclear(r);
        }
        // Each command's answer ends with a null result.
        while (PGresult* rest = PQgetResult(conn_)) PQclear(rest);
        if (PQstatus(conn_) != CONNECTION_OK) lost = true;
    }
    if (!lost) {
        PGresult* r = PQgetResult(conn_);
        lost = !r || PQresultStatus(r) != PGRES_PIPELINE_SYNC;
        if (r) PQclear(r);
    }
    if (!lost) lost = PQexitPipelineMode(conn_) != 1 || PQstatus(conn_) != CONNECTION_OK;

    if (lost) {
        Error e = ToError(conn_, nullptr, "pipeline");
        if (failed) e.message = failed->message;
        e.code = ErrorCode::kUnavailable;  // the answer was lost: whatever was sent may have been applied
        Drop();
        if (commit) Rollback();
        return Fail(std::move(e));
    }
    if (commit) {
        if (committed) {
            in_tx_ = false;
            tx_broken_ = false;
            begin_pending_ = false;
            return out;
        }
        // Not committed: a statement failed (the COMMIT was skipped) or the transaction had
        // failed before (COMMIT answered ROLLBACK). Either way it ends here.
        Rollback();
        if (failed) return Fail(std::move(*failed));
        return Fail(Error::Unavailable(commit_answered ? "COMMIT: the transaction had failed and was rolled back"
                                                       : "COMMIT: no answer"));
    }
    if (failed) return Fail(std::move(*failed));
    return out;
}

Status Conn::Begin() {
    if (in_tx_) return Fail(Error::Internal("BEGIN inside a transaction"));
    if (auto u = Usable(); !u) return u;
    in_tx_ = true;
    tx_broken_ = false;
    begin_pending_ = true;
    return {};
}

Status Conn::Commit() {
    if (!in_tx_) return Fail(Error::Internal("COMMIT outside a transaction"));
    if (tx_broken_ || !conn_ || PQstatus(conn_) != CONNECTION_OK) {
        Rollback();
        return Fail(Error::Unavailable("the PostgreSQL session was lost inside a transaction; nothing was committed"));
    }
    if (begin_pending_) {  // nothing was sent: nothing to commit
        in_tx_ = false;
        begin_pending_ = false;
        return {};
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
    // Nothing to end when BEGIN was never sent, or the server is outside a transaction
    // (a BEGIN that failed, a COMMIT that answered ROLLBACK).
    if (in_tx_ && !tx_broken_ && !begin_pending_ && conn_ && PQstatus(conn_) == CONNECTION_OK &&
        PQtransactionStatus(conn_) != PQTRANS_IDLE) {
        PQclear(PQexec(conn_, "ROLLBACK"));
    }
    in_tx_ = false;
    tx_broken_ = false;
    begin_pending_ = false;
}

Pool::Pool(std::string url, int size, const std::string& settings) {
    for (int i = 0; i < size; ++i) all_.push_back(std::make_unique<Conn>(url, settings));
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
