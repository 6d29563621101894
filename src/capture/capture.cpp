#include "capture/capture.hpp"

#include <poll.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "capture/pgoutput.hpp"
#include "capture/row_mapper.hpp"
#include "capture/source.hpp"

namespace hookd::capture {
namespace {

using Steady = std::chrono::steady_clock;

// Small transactions committed in one group commit at most (with at most chunk_rows rows).
constexpr std::size_t kMaxReadyRequests = 1000;

std::int64_t MsSince(Steady::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - t).count();
}

// Names logged once (unknown sites, unmapped tables): bounded so a flood of distinct names
// cannot grow memory; past the bound nothing more is logged (the counters still count).
class LogOnce final {
  public:
    bool First(const std::string& name) {
        if (seen_.size() >= 10'000) return false;
        return seen_.insert(name).second;
    }

  private:
    std::set<std::string> seen_;
};

}  // namespace

class Capture::Impl {
  public:
    Impl(store::Store& store, const Clock& clock, CaptureOptions options, AcceptedFn on_accepted)
        : store_(store), clock_(clock), options_(std::move(options)), on_accepted_(std::move(on_accepted)) {
        status_.state = "connecting";
        status_.slot = options_.map.slot;
        status_.publication = options_.map.publication;
    }

    ~Impl() { Stop(); }

    hookd::Status Prepare() {
        auto conn = PgSource::Connect(options_.url, false);
        auto checked = conn ? PrepareSource(**conn, options_.map) : SourceStatus(tl::unexpected(conn.error()));
        if (checked) return {};
        // A map the source cannot serve stops serve, which says why: not logged twice.
        if (checked.error().kind == Trouble::kMap) return Fail(Error::Invalid(checked.error().message));
        Failed(checked.error());
        return Fail(Error::Unavailable(checked.error().message));
    }

    void Start() {
        thread_ = std::thread([this] { Run(); });
    }

    void Stop() {
        {
            std::lock_guard lock(wait_mu_);
            stop_ = true;
        }
        wait_cv_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

    CaptureStatus State() const {
        std::lock_guard lock(mu_);
        return status_;
    }

  private:
    // One pending Ingest call: a site's events of the current chunk.
    struct SiteBatch {
        SiteId site;
        std::vector<ChangeEvent> events;
    };

    // The source transaction being received.
    struct Txn {
        bool open = false;
        Lsn final_lsn = 0;
        std::uint64_t rows = 0;   // row changes seen so far (all of them: chunking is by content)
        std::uint64_t chunk = 0;  // the chunk being filled
    };

    // ------------------------------------------------------------ the thread

    void Run() {
        pthread_setname_np(pthread_self(), "hookd-capture");
        DurationMs backoff = options_.min_backoff_ms;
        while (!Stopping()) {
            const auto started = Steady::now();
            auto r = Session();
            if (Stopping()) break;
            if (r) continue;
            // A session that streamed for a while earned a fresh backoff.
            if (MsSince(started) > 30'000) backoff = options_.min_backoff_ms;
            DurationMs wait = backoff;
            switch (r.error().kind) {
                case Trouble::kBusy:
                    wait = options_.busy_retry_ms;
                    break;
                case Trouble::kTransient:
                    backoff = std::min(backoff * 2, options_.max_backoff_ms);
                    break;
                case Trouble::kOperator:
                case Trouble::kMap:
                    wait = options_.error_retry_ms;
                    break;
            }
            Failed(r.error());
            Sleep(wait);
        }
    }

    bool Stopping() {
        std::lock_guard lock(wait_mu_);
        return stop_;
    }

    void Sleep(DurationMs ms) {
        std::unique_lock lock(wait_mu_);
        wait_cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stop_; });
    }

    // Records a failure in the status and logs it when it differs from the previous one.
    void Failed(const SourceError& e) {
        std::string state = "connecting";
        if (e.kind == Trouble::kOperator || e.kind == Trouble::kMap) state = "error";
        bool changed = false;
        {
            std::lock_guard lock(mu_);
            status_.state = state;
            if (e.kind == Trouble::kBusy) {
                status_.error.reset();  // a standby node: nothing is wrong
            } else {
                ++status_.errors;
                status_.error = e.message;
            }
            changed = e.message != last_logged_;
            last_logged_ = e.message;
        }
        if (!changed) return;
        if (e.kind == Trouble::kBusy) {
            spdlog::info("capture: another node streams the slot ({}); standing by", e.message);
        } else if (state == "error") {
            spdlog::error("capture: {}", e.message);
        } else {
            spdlog::warn("capture: {} (retrying)", e.message);
        }
    }

    // ------------------------------------------------------------ one connection

    SourceStatus Session() {
        auto conn = PgSource::Connect(options_.url, false);
        if (!conn) return tl::unexpected(conn.error());
        if (auto r = PrepareSource(**conn, options_.map); !r) return r;
        auto repl = PgSource::Connect(options_.url, true);
        if (!repl) return tl::unexpected(repl.error());
        auto ident = (*repl)->Query("IDENTIFY_SYSTEM");
        if (!ident) return tl::unexpected(ident.error());
        system_id_ = PQgetvalue(ident->get(), 0, 0);
        // Start from the slot's own position: another node may have moved it, and a status
        // update must never report less than it (older servers would move it back).
        auto slot = (*conn)->Query("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
                                   {options_.map.slot});
        if (!slot) return tl::unexpected(slot.error());
        const auto confirmed = PQntuples(slot->get()) == 1 ? ParseLsn(PQgetvalue(slot->get(), 0, 0)) : std::nullopt;
        if (!confirmed)
            return SourceFail(Trouble::kTransient, "the replication slot " + options_.map.slot + " vanished");
        SetFlushed(*confirmed);
        sent_flush_ = received_ = flushed_;
        if (auto r = StartReplication(**repl); !r) return r;

        normal_ = std::move(*conn);
        mapper_ = std::make_unique<RowMapper>(options_.map);
        txn_ = Txn{};
        pending_.clear();
        pending_index_.clear();
        ready_.clear();
        ready_rows_ = 0;
        ready_end_.reset();
        {
            std::lock_guard lock(mu_);
            status_.state = "streaming";
            status_.error.reset();
            last_logged_.clear();
        }
        spdlog::info("capture: streaming slot {} (publication {}) from {}", options_.map.slot, options_.map.publication,
                     FormatLsn(flushed_));
        auto r = Stream(**repl);
        // Whatever ended the stream, tell the source what is committed (best effort).
        SendStatus(**repl, false);
        PQputCopyEnd((*repl)->raw(), nullptr);
        PQflush((*repl)->raw());
        normal_.reset();
        {
            std::lock_guard lock(mu_);
            if (status_.state == "streaming") status_.state = "connecting";
        }
        return r;
    }

    SourceStatus StartReplication(PgSource& repl) {
        // 0/0: from the slot's confirmed flush position.
        const std::string sql = "START_REPLICATION SLOT " + QuoteIdent(options_.map.slot) +
                                " LOGICAL 0/0 (proto_version '1', publication_names '" +
                                QuoteIdent(options_.map.publication) + "')";
        PgResult res(PQexec(repl.raw(), sql.c_str()), &PQclear);
        if (res && PQresultStatus(res.get()) == PGRES_COPY_BOTH) return {};
        const std::string msg = res ? ResultError(res.get()) : repl.LastError();
        const std::string state = res ? ResultSqlState(res.get()) : "";
        if (state == "55006") return SourceFail(Trouble::kBusy, msg);  // object_in_use: "... is active for PID n"
        if (msg.find("invalidated") != std::string::npos ||
            msg.find("can no longer get changes") != std::string::npos) {
            return SourceFail(Trouble::kOperator,
                              "the replication slot " + options_.map.slot + " was invalidated: " + msg);
        }
        return SourceFail(PQstatus(repl.raw()) == CONNECTION_OK ? Trouble::kOperator : Trouble::kTransient,
                          "START_REPLICATION failed: " + msg);
    }

    SourceStatus Stream(PgSource& repl) {
        PGconn* c = repl.raw();
        while (!Stopping()) {
            char* buf = nullptr;
            const int n = PQgetCopyData(c, &buf, 1);
            if (n > 0) {
                auto r = OnCopyData(repl,
                                    std::span(reinterpret_cast<const std::uint8_t*>(buf), static_cast<std::size_t>(n)));
                PQfreemem(buf);
                if (!r) return r;
                idle_ = false;
                if (auto h = Housekeeping(repl); !h) return h;
                continue;
            }
            if (n == -1) {
                PgResult res(PQgetResult(c), &PQclear);
                std::string why = res ? ResultError(res.get()) : "";
                if (why.empty()) why = repl.LastError();
                if (why.empty()) why = "the connection was closed";
                return SourceFail(Trouble::kTransient, "the source ended the replication stream: " + why);
            }
            if (n < -1) return SourceFail(Trouble::kTransient, "replication stream lost: " + repl.LastError());
            // Nothing more is here. Small transactions arriving back to back are committed
            // together: wait up to 1 ms for the next one, but let none wait longer than
            // batch_wait_ms (the commit → receiver latency budget is a few milliseconds).
            if (!ready_.empty() && MsSince(ready_since_) < options_.batch_wait_ms) {
                pollfd p{PQsocket(c), POLLIN, 0};
                if (poll(&p, 1, 1) > 0) {
                    if (PQconsumeInput(c) == 0) {
                        return SourceFail(Trouble::kTransient, "replication stream lost: " + repl.LastError());
                    }
                    continue;
                }
            }
            if (auto f = Flush(); !f) return f;
            idle_ = !txn_.open;
            if (auto h = Housekeeping(repl); !h) return h;
            pollfd p{PQsocket(c), POLLIN, 0};
            if (poll(&p, 1, 100) < 0 && errno != EINTR) {
                return SourceFail(Trouble::kTransient, "poll on the replication connection failed");
            }
            if (PQconsumeInput(c) == 0) {
                return SourceFail(Trouble::kTransient, "replication stream lost: " + repl.LastError());
            }
        }
        return Flush();  // stopping: commit what is ready, then the last status update says so
    }

    // Periodic status updates (also keep the walsender from timing us out) and lag samples.
    SourceStatus Housekeeping(PgSource& repl) {
        if (MsSince(last_status_) >= options_.status_interval_ms ||
            (flushed_ != sent_flush_ && MsSince(last_status_) >= 100)) {
            if (!SendStatus(repl, false))
                return SourceFail(Trouble::kTransient, "replication stream lost: " + repl.LastError());
        }
        if (MsSince(last_lag_) >= options_.lag_interval_ms && normal_) {
            last_lag_ = Steady::now();
            auto cur = CurrentWalLsn(*normal_);
            if (!cur) return tl::unexpected(cur.error());
            const std::int64_t bytes = *cur > flushed_ ? static_cast<std::int64_t>(*cur - flushed_) : 0;
            // Behind: changes are arriving, or the source is still decoding a large backlog.
            const bool behind = bytes > 0 && (!idle_ || bytes > (1 << 20)) && last_commit_ms_ > 0;
            std::lock_guard lock(mu_);
            status_.lag_bytes = bytes;
            status_.lag_ms = behind ? std::max<std::int64_t>(0, clock_.Now() - last_commit_ms_) : 0;
        }
        return {};
    }

    bool SendStatus(PgSource& repl, bool reply) {
        const std::string msg = EncodeStandbyStatus(received_, flushed_, flushed_, UnixMsToPgTime(clock_.Now()), reply);
        last_status_ = Steady::now();
        if (PQputCopyData(repl.raw(), msg.data(), static_cast<int>(msg.size())) != 1 || PQflush(repl.raw()) != 0) {
            return false;
        }
        sent_flush_ = flushed_;
        return true;
    }

    // ------------------------------------------------------------ messages

    SourceStatus OnCopyData(PgSource& repl, std::span<const std::uint8_t> bytes) {
        auto m = DecodeCopyData(bytes);
        if (!m) return SourceFail(Trouble::kTransient, m.error().message);
        if (const auto* k = std::get_if<Keepalive>(&*m)) {
            received_ = std::max(received_, k->end);
            // Outside a transaction, once what is ready is committed, everything received is:
            // the slot may move on to the server's position (WAL of unpublished tables would
            // be retained otherwise).
            if (auto f = Flush(); !f) return f;
            if (!txn_.open && k->end > flushed_) SetFlushed(k->end);
            if (k->reply_requested && !SendStatus(repl, false)) {
                return SourceFail(Trouble::kTransient, "replication stream lost: " + repl.LastError());
            }
            return {};
        }
        const auto& x = std::get<XLogData>(*m);
        received_ = std::max(received_, x.start);
        auto msg = DecodePgOutput(x.payload);
        if (!msg) return SourceFail(Trouble::kTransient, msg.error().message);
        return std::visit([this](auto& v) { return On(v); }, *msg);
    }

    SourceStatus On(const Begin& b) {
        txn_ = Txn{true, b.final_lsn, 0, 0};
        pending_.clear();
        return {};
    }

    SourceStatus On(const Commit& c) {
        if (!txn_.open) return SourceFail(Trouble::kTransient, "pgoutput sent a Commit without a Begin");
        CloseChunk();
        txn_.open = false;
        ready_end_ = c.end_lsn;
        ready_commit_ms_ = PgTimeToUnixMs(c.commit_time);
        if (ready_rows_ >= options_.chunk_rows || ready_.size() >= kMaxReadyRequests) return Flush();
        return {};
    }

    SourceStatus On(const Relation& rel) {
        if (auto r = mapper_->OnRelation(rel); !r) return SourceFail(Trouble::kMap, r.error().message);
        return {};
    }

    SourceStatus On(const Insert& i) { return OnRow(mapper_->Map(i)); }
    SourceStatus On(const Update& u) { return OnRow(mapper_->Map(u)); }
    SourceStatus On(const Delete& d) { return OnRow(mapper_->Map(d)); }

    SourceStatus On(const Truncate& t) {
        for (auto rel : t.relations) {
            const std::string name = mapper_->NameOf(rel);
            if (truncates_.First(name)) {
                spdlog::warn("capture: TRUNCATE of {} is not turned into events (no row changes are sent for it)",
                             name);
            }
        }
        return {};
    }

    // Origin, Type and logical decoding messages carry nothing capture maps.
    SourceStatus On(const Origin&) { return {}; }
    SourceStatus On(const TypeInfo&) { return {}; }
    SourceStatus On(const LogicalMessage&) { return {}; }

    SourceStatus OnRow(Result<RowOutcome> outcome) {
        if (!outcome) return SourceFail(Trouble::kTransient, outcome.error().message);
        if (!txn_.open) return SourceFail(Trouble::kTransient, "pgoutput sent a row change outside a transaction");
        ++txn_.rows;
        switch (outcome->kind) {
            case RowOutcome::Kind::kUnmappedTable: {
                std::lock_guard lock(mu_);
                ++status_.skipped_unmapped_table;
                if (unmapped_.First(outcome->detail)) {
                    spdlog::warn("capture: changes of {} are skipped: the capture map does not name it",
                                 outcome->detail);
                }
                break;
            }
            case RowOutcome::Kind::kBadRow: {
                std::lock_guard lock(mu_);
                ++status_.skipped_bad_row;
                if (bad_rows_.First(outcome->detail)) spdlog::error("capture: row skipped: {}", outcome->detail);
                break;
            }
            case RowOutcome::Kind::kEvent: {
                auto known = KnownSite(outcome->site);
                if (!known) return tl::unexpected(known.error());
                if (!*known) {
                    std::lock_guard lock(mu_);
                    ++status_.skipped_unknown_site;
                    if (unknown_sites_.First(outcome->site)) {
                        spdlog::warn("capture: changes for site '{}' are skipped: hookd has no such site",
                                     outcome->site.substr(0, 80));
                    }
                    break;
                }
                Add(std::move(outcome->site), std::move(outcome->event));
                break;
            }
        }
        // Chunk boundaries depend only on the transaction's content (see capture.hpp).
        if (txn_.rows % options_.chunk_rows == 0) {
            CloseChunk();
            // Mid-transaction: committed now to bound memory; the slot's position moves
            // only with the transaction's last chunk.
            if (auto r = Flush(); !r) return r;
            ++txn_.chunk;
        }
        return {};
    }

    void Add(SiteId site, ChangeEvent event) {
        auto it = pending_index_.find(site);
        if (it == pending_index_.end()) {
            it = pending_index_.emplace(site, pending_.size()).first;
            pending_.push_back(SiteBatch{std::move(site), {}});
        }
        pending_[it->second].events.push_back(std::move(event));
    }

    // Ends the current chunk: its events become Ingest requests, one per site in order of
    // first appearance, each keyed by the transaction and the chunk.
    void CloseChunk() {
        for (auto& batch : pending_) {
            if (batch.events.empty()) continue;
            ready_rows_ += batch.events.size();
            std::string key =
                "capture:" + system_id_ + ":" + FormatLsn(txn_.final_lsn) + ":" + std::to_string(txn_.chunk);
            if (ready_.empty()) ready_since_ = Steady::now();
            ready_.push_back(
                store::Store::IngestRequest{std::move(batch.site), std::move(batch.events), std::move(key)});
        }
        pending_.clear();
        pending_index_.clear();
    }

    // Commits the ready requests in one group commit; then the position of the last complete
    // transaction among them is durable and may be confirmed.
    SourceStatus Flush() {
        if (!ready_.empty()) {
            auto results = store_.IngestMany(ready_, clock_.Now());
            std::size_t accepted = 0;
            std::size_t deliveries = 0;
            for (std::size_t i = 0; i < results.size(); ++i) {
                if (!results[i]) {
                    return SourceFail(Trouble::kTransient, "cannot commit captured events of site " + ready_[i].site +
                                                               ": " + results[i].error().message);
                }
                if (results[i]->replayed) continue;
                accepted += ready_[i].events.size();
                deliveries += results[i]->deliveries;
            }
            ready_.clear();
            ready_rows_ = 0;
            if (accepted > 0) {
                if (on_accepted_) on_accepted_(accepted, deliveries);
                std::lock_guard lock(mu_);
                status_.changes += accepted;
            }
        }
        if (ready_end_) {
            last_commit_ms_ = ready_commit_ms_;
            SetFlushed(*ready_end_);
            ready_end_.reset();
        }
        return {};
    }

    // Whether hookd has the site; unknown answers are re-checked after a while (the site
    // may be created meanwhile). A store that cannot answer is a transient failure.
    SourceResult<bool> KnownSite(const SiteId& site) {
        const auto now = Steady::now();
        if (auto it = sites_.find(site); it != sites_.end()) {
            if (it->second.known || now - it->second.checked < std::chrono::seconds(10)) return it->second.known;
        }
        bool known = false;
        if (IsValidSiteId(site)) {
            auto s = store_.GetSite(site);
            if (!s && s.error().code != ErrorCode::kNotFound) {
                return SourceFail(Trouble::kTransient, "cannot look up site " + site + ": " + s.error().message);
            }
            known = s.has_value();
        }
        if (sites_.size() > 100'000) sites_.clear();
        sites_[site] = SiteCheck{known, now};
        return known;
    }

    // Monotonic: a position only ever moves forward (keepalives, commits, the slot's own).
    void SetFlushed(Lsn lsn) {
        flushed_ = std::max(flushed_, lsn);
        std::lock_guard lock(mu_);
        status_.confirmed_lsn = FormatLsn(flushed_);
    }

    store::Store& store_;
    const Clock& clock_;
    const CaptureOptions options_;
    const AcceptedFn on_accepted_;

    mutable std::mutex mu_;  // guards status_ and last_logged_
    CaptureStatus status_;
    std::string last_logged_;

    std::mutex wait_mu_;  // guards stop_
    std::condition_variable wait_cv_;
    bool stop_ = false;
    std::thread thread_;

    // The streaming thread's own state.
    std::unique_ptr<PgSource> normal_;
    std::unique_ptr<RowMapper> mapper_;
    std::string system_id_;
    Txn txn_;
    std::vector<SiteBatch> pending_;
    std::unordered_map<SiteId, std::size_t> pending_index_;
    // Closed chunks not yet committed (of complete transactions, or of one in progress).
    std::vector<store::Store::IngestRequest> ready_;
    std::size_t ready_rows_ = 0;
    std::optional<Lsn> ready_end_;  // end of the last complete transaction in ready_
    TimeMs ready_commit_ms_ = 0;
    Steady::time_point ready_since_{};  // when the oldest of ready_ was closed
    Lsn received_ = 0;
    Lsn flushed_ = 0;     // every change up to here is committed in the store
    Lsn sent_flush_ = 0;  // the flush position last reported to the source
    TimeMs last_commit_ms_ = 0;
    bool idle_ = false;
    Steady::time_point last_status_{};
    Steady::time_point last_lag_{};
    struct SiteCheck {
        bool known = false;
        Steady::time_point checked;
    };
    std::unordered_map<SiteId, SiteCheck> sites_;
    LogOnce unknown_sites_;
    LogOnce unmapped_;
    LogOnce bad_rows_;
    LogOnce truncates_;
};

Capture::Capture(store::Store& store, const Clock& clock, CaptureOptions options, AcceptedFn on_accepted)
    : impl_(std::make_unique<Impl>(store, clock, std::move(options), std::move(on_accepted))) {}
Capture::~Capture() = default;
hookd::Status Capture::Prepare() { return impl_->Prepare(); }
void Capture::Start() { impl_->Start(); }
void Capture::Stop() { impl_->Stop(); }
CaptureStatus Capture::State() const { return impl_->State(); }

}  // namespace hookd::capture
