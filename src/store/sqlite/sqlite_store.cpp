#include "store/sqlite/sqlite_store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "store/common/hours.hpp"
#include "store/common/outcomes.hpp"
#include "store/common/rows.hpp"
#include "store/sqlite/checkpointer.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/sqlite_db.hpp"

namespace hookd::store {
namespace {

using sqlite::Db;
using sqlite::Stmt;

using namespace common;

Status Migrate(Db& db, int* version_out) {
    auto st = db.Prepare("PRAGMA user_version");
    if (!st) return Fail(st.error());
    int version = 0;
    {
        Stmt s(*st);
        if (s.Step() == SQLITE_ROW) version = static_cast<int>(s.Int(0));
    }
    if (version > static_cast<int>(sqlite::kMigrations.size())) {
        return Fail(Error::Internal("database schema version " + std::to_string(version) +
                                    " is newer than this hookd understands"));
    }
    for (int v = version; v < static_cast<int>(sqlite::kMigrations.size()); ++v) {
        std::string sql = "BEGIN IMMEDIATE;";
        sql += sqlite::kMigrations[static_cast<std::size_t>(v)];
        sql += "PRAGMA user_version=" + std::to_string(v + 1) + "; COMMIT;";
        if (auto r = db.Exec(sql); !r) {
            (void)db.Exec("ROLLBACK");
            return Fail(Error::Internal("migration " + std::to_string(v + 1) + " failed: " + r.error().message));
        }
    }
    if (version_out) *version_out = static_cast<int>(sqlite::kMigrations.size());
    return {};
}

class SqliteStore final : public Store {
public:
    SqliteStore(crypto::SecretBox box) : box_(std::move(box)) {}

    // Claims and attempt records may be lost on a power cut without breaking a promise
    // (the delivery is simply sent again), so they commit without their own fsync; the
    // next FULL commit (an ingest) syncs the WAL up to and including them.
    class RelaxedSync {
    public:
        RelaxedSync(Db& db, bool full) : db_(db), full_(full) {
            // A failure here only costs an fsync.
            if (full_) (void)db_.Exec("PRAGMA synchronous=NORMAL");
        }
        ~RelaxedSync() {
            // A connection setting (no I/O); should it ever fail, ingest would commit
            // without its own fsync: say so loudly.
            if (full_) {
                if (auto r = db_.Exec("PRAGMA synchronous=FULL"); !r) {
                    spdlog::error("cannot restore synchronous=FULL: {}", r.error().message);
                }
            }
        }
        RelaxedSync(const RelaxedSync&) = delete;
        RelaxedSync& operator=(const RelaxedSync&) = delete;

    private:
        Db& db_;
        bool full_;
    };

    Status Init(const SqliteOptions& o) {
        load_window_ = std::max(1, o.load_window);
        full_sync_ = o.synchronous == "FULL";
        if (auto r = w_.Open(o.path, true, o.synchronous, o.busy_timeout_ms); !r) return r;
        if (auto r = Migrate(w_, nullptr); !r) return r;
        if (auto r = r_.Open(o.path, false, o.synchronous, o.busy_timeout_ms); !r) return r;
        if (auto r = c_.Open(o.path, false, o.synchronous, o.busy_timeout_ms); !r) return r;
        if (auto r = LoadFailing(); !r) return r;
        return checkpointer_.Start(o.path, o.busy_timeout_ms, w_.raw());
    }

    Status LoadFailing() {
        std::lock_guard lock(wmu_);
        if (auto r = Run(w_, "UPDATE deliveries SET lease_owner = NULL WHERE state = 0 AND lease_owner IS NOT NULL");
            !r) {
            return r;
        }
        auto failing = w_.Prepare("SELECT id FROM webhooks WHERE failing_since IS NOT NULL");
        if (!failing) return Fail(failing.error());
        Stmt s(*failing);
        while (s.Step() == SQLITE_ROW) failing_.insert(s.Text(0));
        return {};
    }

    // The scheduler is fed from the pending rows (what a crashed run held is due now), then
    // by every change. wmu_ held throughout: no commit slips between the load and the switch.
    void Attach(sched::Scheduler* scheduler) override {
        std::lock_guard lock(wmu_);
        std::lock_guard qlock(qmu_);
        queue_ = scheduler;
        fresh_.clear();
        fresh_size_ = 0;
        if (!queue_) return;
        if (auto r = LoadQueue(); !r) spdlog::error("loading the queue: {}", r.error().message);
    }

    // wmu_ and qmu_ held.
    Status LoadQueue() {
        auto off = w_.Prepare("SELECT id FROM webhooks WHERE enabled = 0");
        if (!off) return Fail(off.error());
        {
            Stmt s(*off);
            while (s.Step() == SQLITE_ROW) queue_->SetEnabled(s.Text(0), false);
        }
        cursor_ = 0;
        complete_ = false;
        return LoadWindow();
    }

    // The next window of pending deliveries, in seq order (entity chains need their oldest
    // first). wmu_ and qmu_ held: no commit falls between the read and the cursor, so a
    // delivery left out of the scheduler for being beyond the window is always read later.
    Status LoadWindow() {
        auto st = w_.Prepare(
            "SELECT seq, webhook_id, next_at, order_key FROM deliveries WHERE state = 0 AND test = 0 AND seq > ? "
            "ORDER BY seq LIMIT ?");
        if (!st) return Fail(st.error());
        Stmt s(*st);
        s.BindAll(cursor_, load_window_);
        int rc;
        int n = 0;
        while ((rc = s.Step()) == SQLITE_ROW) {
            cursor_ = s.Int(0);
            queue_->Add(sched::Entry{cursor_, s.Text(1), s.OptInt(2).value_or(0), s.OptText(3)});
            ++n;
        }
        if (rc != SQLITE_DONE) return Fail(w_.LastError(rc, "loading the queue"));
        complete_ = n < load_window_;
        return {};
    }

    // Whether a delivery is beyond the loaded window (a later window brings it); qmu_ held.
    [[nodiscard]] bool Beyond(std::int64_t seq) const { return !complete_ && seq > cursor_; }

    // Tops the scheduler up with the next window when fewer than half a window is queued.
    // Never waits for a commit: when one is under way, a later claim tops up.
    void TopUp() {
        if (complete_) return;
        std::unique_lock w(wmu_, std::try_to_lock);
        if (!w) return;
        std::lock_guard q(qmu_);
        if (!queue_ || complete_ || queue_->QueuedIn(0) >= static_cast<std::size_t>(load_window_ / 2)) return;
        if (auto r = LoadWindow(); !r) spdlog::warn("loading the next window of the queue: {}", r.error().message);
    }

    // ---------------------------------------------------------------- sites, tokens
    Status CreateSite(const Site& site) override {
        std::lock_guard lock(wmu_);
        return Run(w_, "INSERT INTO sites(id, name, created_at) VALUES (?,?,?)", site.id, site.name, site.created_at);
    }

    Result<Site> GetSite(const SiteId& id) override {
        std::lock_guard lock(rmu_);
        auto st = r_.Prepare("SELECT id, name, created_at FROM sites WHERE id = ?");
        if (!st) return Fail(st.error());
        Stmt s(*st);
        s.BindAll(id);
        if (s.Step() != SQLITE_ROW) return Fail(Error::NotFound("site " + id + " not found"));
        return Site{s.Text(0), s.Text(1), s.Int(2)};
    }

    Result<Page<Site>> ListSites(const PageRequest& page) override {
        std::lock_guard lock(rmu_);
        auto st = r_.Prepare(
            "SELECT id, name, created_at FROM sites WHERE (?1 IS NULL OR id > ?1) ORDER BY id LIMIT ?2");
        if (!st) return Fail(st.error());
        Stmt s(*st);
        const int limit = ClampLimit(page.limit);
        s.BindAll(page.cursor, limit + 1);
        Page<Site> out;
        while (s.Step() == SQLITE_ROW) out.items.push_back(Site{s.Text(0), s.Text(1), s.Int(2)});
        return Paginate(std::move(out), limit, [](const Site& x) { return x.id; });
    }

    Status CreateToken(const Token& t, std::string_view hash) override {
        std::lock_guard lock(wmu_);
        return Run(w_, "INSERT INTO tokens(id, site, role, name, hash, created_at) VALUES (?,?,?,?,?,?)", t.id.str(),
                   t.site, static_cast<int>(t.role), t.name, hash, t.created_at);
    }

    Result<Token> FindToken(std::string_view hash) override {
        std::lock_guard lock(rmu_);
        auto st = r_.Prepare(
            "SELECT id, site, role, name, created_at FROM tokens WHERE hash = ? AND revoked_at IS NULL");
        if (!st) return Fail(st.error());
        Stmt s(*st);
        s.BindAll(hash);
        if (s.Step() != SQLITE_ROW) return Fail(Error::NotFound("unknown token"));
        return ReadToken(s);
    }

    Result<Page<Token>> ListTokens(const SiteId& site, const PageRequest& page) override {
        std::lock_guard lock(rmu_);
        auto st = r_.Prepare(
            "SELECT id, site, role, name, created_at FROM tokens WHERE site = ?1 AND revoked_at IS NULL "
            "AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3");
        if (!st) return Fail(st.error());
        Stmt s(*st);
        const int limit = ClampLimit(page.limit);
        s.BindAll(site, page.cursor, limit + 1);
        Page<Token> out;
        while (s.Step() == SQLITE_ROW) out.items.push_back(ReadToken(s));
        return Paginate(std::move(out), limit, [](const Token& x) { return x.id.str(); });
    }

    Status RevokeToken(const SiteId& site, const TokenId& id, TimeMs now) override {
        std::lock_guard lock(wmu_);
        if (auto r = Run(w_, "UPDATE tokens SET revoked_at = ? WHERE id = ? AND site = ? AND revoked_at IS NULL", now,
                         id.str(), site);
            !r) {
            return r;
        }
        if (sqlite3_changes(w_.raw()) == 0) return Fail(Error::NotFound("token " + id.str() + " not found"));
        return {};
    }

    Result<bool> HasOperatorToken() override {
        std::lock_guard lock(rmu_);
        auto st = r_.Prepare("SELECT 1 FROM tokens WHERE role = 0 AND revoked_at IS NULL LIMIT 1");
        if (!st) return Fail(st.error());
        Stmt s(*st);
        return s.Step() == SQLITE_ROW;
    }

    // ---------------------------------------------------------------- webhooks
    Status CreateWebhook(const Webhook& w) override {
        std::lock_guard lock(wmu_);
        InvalidateMatchCache();
        QueueEnabled(w.id.str(), w.enabled);
        return Run(w_,
                   "INSERT INTO webhooks(id, site, payload_url, secret, old_secret, old_secret_until, events, method, "
                   "send_everything, entities, description, enabled, ordering, timeout_ms, max_in_flight, rate_limit, "
                   "disabled_reason, disabled_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   w.id.str(), w.site, w.payload_url, box_.Seal(w.secret), SealOpt(w.old_secret), w.old_secret_until,
                   static_cast<int>(w.events), static_cast<int>(w.method), w.send_everything, JoinList(w.entities),
                   w.description, w.enabled, static_cast<int>(w.ordering), w.timeout_ms, w.max_in_flight,
                   w.rate_limit_per_second, w.disabled_reason, w.disabled_at, w.created_at, w.updated_at);
    }

    Result<Webhook> GetWebhook(const SiteId& site, const WebhookId& id) override {
        std::lock_guard lock(rmu_);
        auto st = r_.Prepare(std::string(kWebhookColumns) + " WHERE id = ? AND site = ?");
        if (!st) return Fail(st.error());
        Stmt s(*st);
        s.BindAll(id.str(), site);
        if (s.Step() != SQLITE_ROW) return Fail(Error::NotFound("webhook " + id.str() + " not found"));
        return ReadWebhook(s, box_);
    }

    Result<Webhook> GetWebhookById(const WebhookId& id) override {
        std::lock_guard lock(rmu_);
        auto st = r_.Prepare(std::string(kWebhookColumns) + " WHERE id = ?");
        if (!st) return Fail(st.error());
        Stmt s(*st);
        s.BindAll(id.str());
        if (s.Step() != SQLITE_ROW) return Fail(Error::NotFound("webhook " + id.str() + " not found"));
        return ReadWebhook(s, box_);
    }

    Result<Page<Webhook>> ListWebhooks(const SiteId& site, const PageRequest& page) override {
        std::lock_guard lock(rmu_);
        auto st = r_.Prepare(std::string(kWebhookColumns) +
                             " WHERE site = ?1 AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3");
        if (!st) return Fail(st.error());
        Stmt s(*st);
        const int limit = ClampLimit(page.limit);
        s.BindAll(site, page.cursor, limit + 1);
        Page<Webhook> out;
        while (s.Step() == SQLITE_ROW) {
            auto w = ReadWebhook(s, box_);
            if (!w) return Fail(w.error());
            out.items.push_back(std::move(*w));
        }
        return Paginate(std::move(out), limit, [](const Webhook& x) { return x.id.str(); });
    }

    Status UpdateWebhook(const Webhook& w) override {
        std::lock_guard lock(wmu_);
        InvalidateMatchCache();
        if (auto b = w_.Exec("BEGIN IMMEDIATE"); !b) return b;
        auto r = UpdateWebhookLocked(w);
        if (r) r = w_.Exec("COMMIT");
        if (!r) {
            (void)w_.Exec("ROLLBACK");  // best effort: a failed COMMIT has already ended it
            return r;
        }
        QueueEnabled(w.id.str(), w.enabled);
        return {};
    }

    Status DeleteWebhook(const SiteId& site, const WebhookId& id, TimeMs now) override {
        std::lock_guard lock(wmu_);
        InvalidateMatchCache();
        if (auto r = w_.Exec("BEGIN IMMEDIATE"); !r) return r;
        auto r = Run(w_, "DELETE FROM webhooks WHERE id = ? AND site = ?", id.str(), site);
        const bool found = r && sqlite3_changes(w_.raw()) > 0;
        if (r && found) {
            r = Run(w_,
                    "UPDATE deliveries SET state = 3, next_at = NULL, lease_owner = NULL, updated_at = ? "
                    "WHERE webhook_id = ? AND state = 0",
                    now, id.str());
        }
        if (!r || !found) {
            (void)w_.Exec("ROLLBACK");
            if (!r) return r;
            return Fail(Error::NotFound("webhook " + id.str() + " not found"));
        }
        if (auto c = w_.Exec("COMMIT"); !c) return c;
        std::lock_guard qlock(qmu_);
        if (queue_) queue_->RemoveWebhook(id.str());
        std::erase_if(fresh_, [&](const auto& kv) { return kv.second.delivery.webhook_id == id; });
        fresh_size_ = fresh_.size();
        return {};
    }

    Status DisableWebhook(const WebhookId& id, std::string_view reason, TimeMs now) override {
        std::lock_guard lock(wmu_);
        InvalidateMatchCache();
        auto r = Run(w_,
                     "UPDATE webhooks SET enabled = 0, disabled_reason = ?, disabled_at = ?, updated_at = ?, "
                     "version = version + 1 WHERE id = ? AND enabled = 1",
                     reason, now, now, id.str());
        if (r) QueueEnabled(id.str(), false);
        return r;
    }

    // ---------------------------------------------------------------- audit, rekey
    Status AppendAudit(const AuditEntry& e) override {
        std::lock_guard lock(wmu_);
        return Run(w_, "INSERT INTO audit(id, site, at, actor, action, target, detail) VALUES (?,?,?,?,?,?,?)", e.id,
                   e.site, e.at, e.actor, e.action, e.target, e.detail);
    }

    Result<Page<AuditEntry>> ListAudit(const SiteId& site, const PageRequest& page) override {
        std::lock_guard lock(rmu_);
        auto st = r_.Prepare(
            "SELECT id, site, at, actor, action, target, detail FROM audit WHERE site = ?1 AND (?2 IS NULL OR id < ?2) "
            "ORDER BY id DESC LIMIT ?3");
        if (!st) return Fail(st.error());
        Stmt s(*st);
        const int limit = ClampLimit(page.limit);
        s.BindAll(site, page.cursor, limit + 1);
        Page<AuditEntry> out;
        while (s.Step() == SQLITE_ROW) {
            out.items.push_back(AuditEntry{s.Text(0), s.Text(1), s.Int(2), s.Text(3), s.Text(4), s.Text(5), s.Text(6)});
        }
        return Paginate(std::move(out), limit, [](const AuditEntry& x) { return x.id; });
    }

    Status Rekey(const crypto::SecretBox& new_box) override {
        std::lock_guard lock(wmu_);
        if (auto r = w_.Exec("BEGIN IMMEDIATE"); !r) return r;
        struct Row {
            std::string id, secret;
            std::optional<std::string> old;
        };
        std::vector<Row> rows;
        Status r;
        {
            auto st = w_.Prepare("SELECT id, secret, old_secret FROM webhooks");
            if (!st) r = Fail(st.error());
            if (r) {
                Stmt s(*st);
                int rc;
                while ((rc = s.Step()) == SQLITE_ROW) {
                    auto secret = box_.Open(s.Text(1));
                    if (!secret) {
                        r = Fail(Error::Invalid("webhook " + s.Text(0) + ": " + secret.error().message));
                        break;
                    }
                    Row row{s.Text(0), new_box.Seal(*secret), std::nullopt};
                    if (auto old = s.OptText(2)) {
                        auto o = box_.Open(*old);
                        if (!o) {
                            r = Fail(Error::Invalid("webhook " + s.Text(0) + ": previous secret: " + o.error().message));
                            break;
                        }
                        row.old = new_box.Seal(*o);
                    }
                    rows.push_back(std::move(row));
                }
                if (r && rc != SQLITE_DONE) r = Fail(w_.LastError(rc, "rekey"));
            }
        }
        for (const auto& row : rows) {
            if (!r) break;
            r = Run(w_, "UPDATE webhooks SET secret = ?, old_secret = ? WHERE id = ?", row.secret, row.old, row.id);
        }
        if (r) r = Run(w_, "INSERT OR REPLACE INTO meta(key, value) VALUES ('key_check', ?)", new_box.Seal(kKeyCheck));
        if (!r) {
            (void)w_.Exec("ROLLBACK");
            return r;
        }
        if (auto c = w_.Exec("COMMIT"); !c) return c;
        box_ = new_box;
        return {};
    }

    // ---------------------------------------------------------------- ingest (group commit)
    Result<IngestResult> Ingest(const SiteId& site, std::vector<ChangeEvent> events,
                                std::optional<std::string> idempotency_key, TimeMs now) override {
        IngestJob job{&site, &events, std::move(idempotency_key), now, {}, false};
        return group_.Run(job, [this](std::vector<IngestJob*>& batch) { CommitIngest(batch); });
    }
    std::vector<Result<IngestResult>> IngestMany(std::vector<IngestRequest>& requests, TimeMs now) override {
        return group_.RunMany(requests, now, [this](std::vector<IngestJob*>& batch) { CommitIngest(batch); });
    }

    // ---------------------------------------------------------------- deliveries (API)
    Result<Page<Delivery>> ListDeliveries(const SiteId& site, const WebhookId& webhook, const DeliveryFilter& f,
                                          const PageRequest& page) override {
        std::lock_guard lock(rmu_);
        auto st = r_.Prepare(std::string(kDeliveryColumns) +
                             " WHERE webhook_id = ?1 AND site = ?2 AND (?3 IS NULL OR id < ?3) "
                             "AND (?4 IS NULL OR state = ?4) AND (?5 IS NULL OR created_at >= ?5) "
                             "AND (?6 IS NULL OR created_at < ?6) ORDER BY id DESC LIMIT ?7");
        if (!st) return Fail(st.error());
        Stmt s(*st);
        const int limit = ClampLimit(page.limit);
        std::optional<int> state;
        if (f.state) state = static_cast<int>(*f.state);
        s.BindAll(webhook.str(), site, page.cursor, state, f.since, f.until, limit + 1);
        Page<Delivery> out;
        while (s.Step() == SQLITE_ROW) out.items.push_back(ReadDelivery(s));
        return Paginate(std::move(out), limit, [](const Delivery& x) { return x.id.str(); });
    }

    Result<Delivery> GetDelivery(const SiteId& site, const DeliveryId& id) override {
        std::lock_guard lock(rmu_);
        return GetDeliveryLocked(r_, site, id, true);
    }

    Result<Delivery> RetryDelivery(const SiteId& site, const DeliveryId& id, TimeMs now) override {
        std::lock_guard lock(wmu_);
        auto st = w_.Prepare("SELECT seq, webhook_id, order_key FROM deliveries WHERE id = ? AND site = ?");
        if (!st) return Fail(st.error());
        std::vector<sched::Entry> entries;
        {
            Stmt s(*st);
            s.BindAll(id.str(), site);
            if (s.Step() == SQLITE_ROW) entries.push_back(sched::Entry{s.Int(0), s.Text(1), now, s.OptText(2)});
        }
        if (auto r = Requeue(entries, now); !r) return Fail(r.error());
        return GetDeliveryLocked(w_, site, id, false);
    }

    Result<std::int64_t> Replay(const SiteId& site, const WebhookId& webhook, const DeliveryFilter& f,
                                TimeMs now) override {
        std::lock_guard lock(wmu_);
        std::optional<int> state;
        if (f.state) state = static_cast<int>(*f.state);
        auto st = w_.Prepare(
            "SELECT seq, webhook_id, order_key FROM deliveries WHERE webhook_id = ?1 AND site = ?2 AND test = 0 "
            "AND (?3 IS NULL OR state = ?3) AND (?4 IS NULL OR created_at >= ?4) AND (?5 IS NULL OR created_at < ?5) "
            "ORDER BY seq");
        if (!st) return Fail(st.error());
        std::vector<sched::Entry> entries;
        {
            Stmt s(*st);
            s.BindAll(webhook.str(), site, state, f.since, f.until);
            while (s.Step() == SQLITE_ROW) entries.push_back(sched::Entry{s.Int(0), s.Text(1), now, s.OptText(2)});
        }
        return Requeue(entries, now);
    }

    Result<Claimed> CreateTestDelivery(const Webhook& w, EventType type, std::string_view entity,
                                       const EntityId& entity_id, TimeMs now) override {
        Claimed c = NewTestDelivery(w, type, entity, entity_id, now);
        const Delivery& d = c.delivery;
        std::lock_guard lock(wmu_);
        auto r = Run(w_,
                     "INSERT INTO deliveries(id, site, webhook_id, event_id, event, entity, entity_id, entity_num, "
                     "state, next_at, test, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,0,NULL,1,?,?)",
                     d.id.str(), d.site, d.webhook_id.str(), d.event_id.str(), static_cast<int>(type), d.entity,
                     entity_id.text, entity_id.is_number, now, now);
        if (!r) return Fail(r.error());
        c.seq = sqlite3_last_insert_rowid(w_.raw());
        return c;
    }

    // ---------------------------------------------------------------- queue
    // The scheduler picks the deliveries; the rows are read on a connection
    // of their own, so a claim never waits behind an ingest commit.
    Result<std::vector<Claimed>> Claim(std::string_view node, TimeMs now, DurationMs lease_ms, int limit) override {
        (void)node;  // one process owns the database: leases are held in memory
        TopUp();
        std::vector<Claimed> out;
        std::vector<std::size_t> misses;  // positions in `out` to read from the database
        {
            std::lock_guard lock(qmu_);
            if (!queue_) return out;
            const std::vector<std::int64_t> seqs = queue_->Claim(now, lease_ms, limit);
            out.resize(seqs.size());
            for (std::size_t i = 0; i < seqs.size(); ++i) {
                if (auto cached = fresh_.extract(seqs[i])) {
                    out[i] = std::move(cached.mapped());
                } else {
                    out[i].seq = seqs[i];
                    misses.push_back(i);
                }
            }
            fresh_size_ = fresh_.size();
        }
        if (misses.empty()) return out;
        std::vector<std::int64_t> gone;
        {
            std::lock_guard lock(cmu_);
            auto st = c_.Prepare(
                "SELECT seq, id, site, webhook_id, event_id, event, entity, entity_id, entity_num, attempt_count, "
                "created_at, " + std::string(kEventTraceColumns) + " FROM deliveries WHERE seq = ? AND state = 0");
            if (!st) return Fail(st.error());
            // One read transaction for all the rows: each one starts by dropping the page
            // cache if another connection wrote since, which is almost always the case.
            if (auto r = Run(c_, "BEGIN"); !r) return Fail(r.error());
            struct End {
                SqliteStore& self;
                ~End() { (void)self.Run(self.c_, "COMMIT"); }  // ends a read: nothing to lose
            } end{*this};
            for (auto i : misses) {
                Stmt s(*st);
                s.BindAll(out[i].seq);
                const int rc = s.Step();
                if (rc == SQLITE_ROW) {
                    out[i] = ReadClaimed(s);
                    out[i].delivery.traceparent = s.OptText(11);
                    out[i].delivery.tracestate = s.OptText(12);
                } else if (rc == SQLITE_DONE) {
                    gone.push_back(out[i].seq);  // cancelled meanwhile (webhook deleted)
                    out[i].seq = 0;
                } else {
                    return Fail(c_.LastError(rc, "claim"));
                }
            }
        }
        if (!gone.empty()) {
            std::erase_if(out, [](const Claimed& c) { return c.seq == 0; });
            std::lock_guard lock(qmu_);
            for (auto seq : gone) {
                if (queue_) queue_->Finish(seq, std::nullopt);
            }
        }
        return out;
    }

    Result<std::vector<WebhookId>> Complete(std::span<const Outcome> outcomes, TimeMs now) override {
        std::vector<WebhookId> disabled;
        if (outcomes.empty()) return disabled;
        std::lock_guard lock(wmu_);
        RelaxedSync relaxed(w_, full_sync_);
        if (auto r = w_.Exec("BEGIN IMMEDIATE"); !r) return Fail(r.error());
        FailureClocks clocks;
        std::vector<bool> applied;
        auto r = RecordOutcomes(outcomes, now, disabled, clocks, applied);
        if (r) r = RecordHours(outcomes, applied);
        if (r) r = w_.Exec("COMMIT");
        if (!r) {
            (void)w_.Exec("ROLLBACK");
            // Not recorded: the claims stay held until their leases run out, then the
            // deliveries are sent again (at-least-once).
            return Fail(r.error());
        }
        for (auto& id : clocks.started) failing_.insert(std::move(id));
        for (const auto& id : clocks.cleared) failing_.erase(id);
        std::lock_guard qlock(qmu_);
        if (!queue_) return disabled;
        for (std::size_t i = 0; i < outcomes.size(); ++i) {
            const Outcome& o = outcomes[i];
            if (!applied[i]) {
                // A late report: the delivery was cancelled or re-sent meanwhile; a lease
                // still held for it is dropped only when the row is no longer pending.
                if (queue_->Held(o.seq) && !PendingLocked(o.seq)) queue_->Finish(o.seq, std::nullopt);
                continue;
            }
            queue_->Finish(o.seq, o.state == DeliveryState::kPending ? o.next_attempt_at : std::nullopt);
            if (o.disable_webhook_reason) queue_->SetEnabled(o.webhook_id.str(), false);
        }
        for (const auto& id : disabled) queue_->SetEnabled(id.str(), false);
        return disabled;
    }

    Status ReleaseClaims(std::string_view node, std::span<const std::int64_t> seqs, TimeMs now) override {
        (void)node;  // every lease is this process's
        std::lock_guard lock(qmu_);
        if (!queue_) return {};
        for (auto seq : seqs) {
            if (queue_->Held(seq)) queue_->Finish(seq, now);
        }
        return {};
    }

    Result<std::int64_t> ReleaseLeases(std::string_view node, TimeMs now) override {
        (void)node;  // every lease is this process's
        std::lock_guard lock(qmu_);
        if (!queue_) return std::int64_t{0};
        return queue_->ReleaseAll(now);
    }

    Result<QueueStats> Stats() override {
        std::lock_guard lock(rmu_);
        // The oldest unattempted one: pending rows walked in seq (creation) order on deliveries_pending,
        // never the whole history (CROSS JOIN keeps deliveries the outer loop).
        auto st = r_.Prepare(
            "SELECT (SELECT count(*) FROM deliveries WHERE state = 0), (SELECT d.created_at FROM deliveries d "
            "INDEXED BY deliveries_pending CROSS JOIN webhooks w ON w.id = d.webhook_id WHERE d.state = 0 "
            "AND d.attempt_count = 0 AND d.test = 0 AND w.enabled = 1 ORDER BY d.seq LIMIT 1)");
        if (!st) return Fail(st.error());
        Stmt s(*st);
        QueueStats q;
        if (s.Step() == SQLITE_ROW) {
            q.pending = s.Int(0);
            q.oldest_unattempted_at = s.OptInt(1);
        }
        return q;
    }

    Result<std::vector<WebhookHealth>> GetHealth(const SiteId& site, const std::optional<WebhookId>& webhook,
                                                 TimeMs since) override {
        static const std::string kSql = [] {
            std::string cols;
            for (const auto& c : HourColumns()) cols += ", h." + c;
            return "SELECT w.id, w.failing_since, h.hour" + cols +
                   " FROM webhooks w LEFT JOIN webhook_hours h ON h.webhook_id = w.id AND h.hour >= ?1 "
                   "WHERE w.site = ?2 AND (?3 IS NULL OR w.id = ?3) ORDER BY w.id, h.hour";
        }();
        std::lock_guard lock(rmu_);
        auto st = r_.Prepare(kSql);
        if (!st) return Fail(st.error());
        Stmt s(*st);
        std::optional<std::string> only;
        if (webhook) only = webhook->str();
        s.BindAll(since, site, only);
        int rc = SQLITE_ROW;
        auto out = ReadHealth([&](auto&& each) {
            while ((rc = s.Step()) == SQLITE_ROW) each(s);
        });
        if (rc != SQLITE_DONE) return Fail(r_.LastError(rc, "reading webhook health"));
        if (webhook && out.empty()) return Fail(Error::NotFound("webhook " + webhook->str() + " not found"));
        return out;
    }

    // Rows are walked in creation order (seq, and the time-ordered event ids) and the walk
    // stops at the first row newer than the cut-off, so a sweep costs what it deletes.
    Result<std::int64_t> Purge(TimeMs before, int batch) override {
        std::lock_guard lock(wmu_);
        if (auto r = w_.Exec("BEGIN IMMEDIATE"); !r) return Fail(r.error());
        auto r = PurgeLocked(before, batch);
        if (r) {
            if (auto c = w_.Exec("COMMIT"); !c) r = Fail(c.error());
        }
        if (!r) (void)w_.Exec("ROLLBACK");
        return r;
    }

    Status VerifyMasterKey() override {
        std::lock_guard lock(wmu_);
        std::optional<std::string> check;
        {
            auto st = w_.Prepare("SELECT value FROM meta WHERE key = 'key_check'");
            if (!st) return Fail(st.error());
            Stmt s(*st);
            if (s.Step() == SQLITE_ROW) check = s.Text(0);
        }
        if (!check) return Run(w_, "INSERT INTO meta(key, value) VALUES ('key_check', ?)", box_.Seal(kKeyCheck));
        auto plain = box_.Open(*check);
        if (!plain || *plain != kKeyCheck) {
            return Fail(Error::Invalid(
                "the master key does not match the one this database's secrets were encrypted with"));
        }
        return {};
    }

    bool Ping() override {
        std::lock_guard lock(rmu_);
        auto st = r_.Prepare("SELECT 1");
        if (!st) return false;
        Stmt s(*st);
        return s.Step() == SQLITE_ROW;
    }

private:
    static constexpr std::string_view kKeyCheck = "hookd-master-key-check";
    Result<std::int64_t> PurgeLocked(TimeMs before, int batch) {
        std::vector<std::int64_t> seqs;
        {
            auto st = w_.Prepare("SELECT seq, created_at, state FROM deliveries ORDER BY seq");
            if (!st) return Fail(st.error());
            Stmt s(*st);
            while (static_cast<int>(seqs.size()) < batch && s.Step() == SQLITE_ROW && s.Int(1) < before) {
                if (s.Int(2) != 0) seqs.push_back(s.Int(0));
            }
        }
        for (auto seq : seqs) {
            if (auto r = Run(w_, "DELETE FROM attempts WHERE delivery_seq = ?", seq); !r) return Fail(r.error());
            if (auto r = Run(w_, "DELETE FROM deliveries WHERE seq = ?", seq); !r) return Fail(r.error());
        }
        std::vector<std::string> events;
        {
            auto st = w_.Prepare("SELECT id, created_at FROM events ORDER BY id");
            if (!st) return Fail(st.error());
            Stmt s(*st);
            while (static_cast<int>(events.size()) < batch && s.Step() == SQLITE_ROW && s.Int(1) < before) {
                events.push_back(s.Text(0));
            }
        }
        for (const auto& id : events) {
            if (auto r = Run(w_, "DELETE FROM events WHERE id = ?", id); !r) return Fail(r.error());
        }
        if (auto r = Run(w_, "DELETE FROM idempotency WHERE created_at < ?", before); !r) return Fail(r.error());
        if (auto r = Run(w_, "DELETE FROM webhook_hours WHERE hour < ?", health::HourOf(before)); !r) {
            return Fail(r.error());
        }
        return static_cast<std::int64_t>(seqs.size());
    }

    // Inside UpdateWebhook's transaction; wmu_ held.
    Status UpdateWebhookLocked(const Webhook& w) {
        if (w.enabled) {
            // Enabling restarts the failure clock.
            if (auto r = Run(w_, "UPDATE webhooks SET failing_since = NULL WHERE id = ? AND enabled = 0 AND version = ?",
                             w.id.str(), w.version);
                !r) {
                return r;
            }
        }
        auto r = Run(w_,
                     "UPDATE webhooks SET payload_url=?, secret=?, old_secret=?, old_secret_until=?, events=?, method=?, "
                     "send_everything=?, entities=?, description=?, enabled=?, ordering=?, timeout_ms=?, "
                     "max_in_flight=?, rate_limit=?, disabled_reason=?, disabled_at=?, updated_at=?, "
                     "version = version + 1 WHERE id=? AND site=? AND version=?",
                     w.payload_url, box_.Seal(w.secret), SealOpt(w.old_secret), w.old_secret_until,
                     static_cast<int>(w.events), static_cast<int>(w.method), w.send_everything, JoinList(w.entities),
                     w.description, w.enabled, static_cast<int>(w.ordering), w.timeout_ms, w.max_in_flight,
                     w.rate_limit_per_second, w.disabled_reason, w.disabled_at, w.updated_at, w.id.str(), w.site,
                     w.version);
        if (!r) return r;
        if (sqlite3_changes(w_.raw()) > 0) return {};
        auto st = w_.Prepare("SELECT 1 FROM webhooks WHERE id = ? AND site = ?");
        if (!st) return Fail(st.error());
        Stmt s(*st);
        s.BindAll(w.id.str(), w.site);
        if (s.Step() != SQLITE_ROW) return Fail(Error::NotFound("webhook " + w.id.str() + " not found"));
        return Fail(Error::Conflict("webhook " + w.id.str() + " was changed meanwhile (version " +
                                    std::to_string(w.version) + " is no longer current)"));
    }

    // Whether the delivery is still pending; wmu_ held.
    bool PendingLocked(std::int64_t seq) {
        auto st = w_.Prepare("SELECT 1 FROM deliveries WHERE seq = ? AND state = 0");
        if (!st) return true;  // unknown: keep the lease, it expires by itself
        Stmt s(*st);
        s.BindAll(seq);
        return s.Step() == SQLITE_ROW;
    }

    void QueueEnabled(const std::string& webhook, bool enabled) {
        std::lock_guard lock(qmu_);
        if (queue_) queue_->SetEnabled(webhook, enabled);
    }

    // Makes the deliveries pending and due at `now`, except those claimed right now
    // (their outcome is about to be recorded); wmu_ held.
    Result<std::int64_t> Requeue(std::vector<sched::Entry>& entries, TimeMs now) {
        {
            std::lock_guard lock(qmu_);
            if (queue_) std::erase_if(entries, [&](const sched::Entry& e) { return queue_->Held(e.seq); });
        }
        if (entries.empty()) return std::int64_t{0};
        if (auto r = w_.Exec("BEGIN IMMEDIATE"); !r) return Fail(r.error());
        Status r;
        for (const auto& e : entries) {
            r = Run(w_, "UPDATE deliveries SET state = 0, next_at = ?1, lease_owner = NULL, updated_at = ?1 WHERE seq = ?2",
                    now, e.seq);
            if (!r) break;
        }
        if (r) r = w_.Exec("COMMIT");
        if (!r) {
            (void)w_.Exec("ROLLBACK");
            return Fail(r.error());
        }
        const auto n = static_cast<std::int64_t>(entries.size());
        std::lock_guard lock(qmu_);
        std::erase_if(entries, [&](const sched::Entry& e) { return Beyond(e.seq); });
        if (queue_) queue_->Requeue(std::move(entries));
        return n;
    }

    // Failure clocks a Complete call started or cleared: applied to failing_ once committed.
    struct FailureClocks {
        std::vector<std::string> started;
        std::vector<std::string> cleared;
    };

    // The attempts and new states of one Complete call, inside its transaction; wmu_ held.
    // The policy (which outcomes apply, what they do to their webhook) is the shared one
    // of store/common/outcomes.hpp. Healthy webhooks (not in failing_) need no write at
    // all for a success. `applied[i]` tells whether outcomes[i] passed the fence.
    Status RecordOutcomes(std::span<const Outcome> outcomes, TimeMs now, std::vector<WebhookId>& disabled,
                          FailureClocks& clocks, std::vector<bool>& applied) {
        std::vector<const Outcome*> kept;
        applied.assign(outcomes.size(), false);
        for (std::size_t i = 0; i < outcomes.size(); ++i) {
            const Outcome& o = outcomes[i];
            const Attempt& a = o.attempt;
            // The fence: the delivery as it was claimed (one process owns the database,
            // so the lease itself is in memory and needs no check here).
            if (auto r = Run(w_,
                             "UPDATE deliveries SET state = ?, attempt_count = ?, next_at = ?, last_status = ?, "
                             "last_error = ?, updated_at = ? WHERE seq = ? AND state = 0 AND attempt_count = ?",
                             static_cast<int>(o.state), a.number, o.next_attempt_at, a.status,
                             static_cast<int>(a.error), now, o.seq, a.number - 1);
                !r) {
                return r;
            }
            if (sqlite3_changes(w_.raw()) == 0) continue;  // late or duplicate: changes nothing
            if (auto r = Run(w_,
                             "INSERT INTO attempts(delivery_seq, number, started_at, duration_ms, status, error, snippet) "
                             "VALUES (?,?,?,?,?,?,?)",
                             o.seq, a.number, a.started_at, a.duration_ms, a.status, static_cast<int>(a.error),
                             a.response_snippet);
                !r) {
                return r;
            }
            applied[i] = true;
            kept.push_back(&o);
        }
        for (const WebhookVerdict& v : DecideWebhooks(kept)) {
            const std::string id = v.id.str();
            Status r;
            switch (v.clock) {
                case WebhookVerdict::Clock::kClear:
                    if (failing_.contains(id)) {
                        r = Run(w_, "UPDATE webhooks SET failing_since = NULL WHERE id = ? AND failing_since IS NOT NULL",
                                id);
                        clocks.cleared.push_back(id);
                    }
                    break;
                case WebhookVerdict::Clock::kStart:
                    r = Run(w_, "UPDATE webhooks SET failing_since = ? WHERE id = ? AND failing_since IS NULL", v.since,
                            id);
                    clocks.started.push_back(id);
                    break;
                case WebhookVerdict::Clock::kRestart:
                    r = Run(w_, "UPDATE webhooks SET failing_since = ? WHERE id = ?", v.since, id);
                    clocks.started.push_back(id);
                    break;
            }
            if (!r) return r;
            if (v.disable_reason) {
                InvalidateMatchCache();
                r = Run(w_,
                        "UPDATE webhooks SET enabled = 0, disabled_reason = ?, disabled_at = ?, updated_at = ?, "
                        "version = version + 1 WHERE id = ? AND enabled = 1",
                        *v.disable_reason, now, now, id);
            } else if (v.auto_disable_after_ms > 0) {
                r = Run(w_,
                        "UPDATE webhooks SET enabled = 0, disabled_reason = ?, disabled_at = ?, updated_at = ?, "
                        "version = version + 1 WHERE id = ? AND enabled = 1 AND failing_since IS NOT NULL "
                        "AND failing_since <= ?",
                        AutoDisableReason(v.auto_disable_after_ms), now, now, id, now - v.auto_disable_after_ms);
                if (r && sqlite3_changes(w_.raw()) > 0) {
                    InvalidateMatchCache();
                    disabled.push_back(v.id);
                }
            }
            if (!r) return r;
        }
        return {};
    }

    // Adds the outcomes that applied to their webhooks' hourly counters (Complete's
    // transaction; wmu_ held). One upsert per webhook and hour.
    Status RecordHours(std::span<const Outcome> outcomes, const std::vector<bool>& applied) {
        std::vector<const Outcome*> kept;
        for (std::size_t i = 0; i < outcomes.size(); ++i) {
            if (applied[i]) kept.push_back(&outcomes[i]);
        }
        if (kept.empty()) return {};
        static const std::string kSql = [] {
            const auto cols = HourColumns();
            std::string sql = "INSERT INTO webhook_hours(webhook_id, hour, " + HourColumnList() + ") VALUES (?1, ?2";
            for (std::size_t i = 0; i < cols.size(); ++i) sql += ", ?" + std::to_string(i + 3);
            sql += ") ON CONFLICT(webhook_id, hour) DO UPDATE SET ";
            for (std::size_t i = 0; i < cols.size(); ++i) {
                sql += (i ? ", " : "") + cols[i] + " = " + cols[i] + " + excluded." + cols[i];
            }
            return sql;
        }();
        auto st = w_.Prepare(kSql);
        if (!st) return Fail(st.error());
        for (const auto& [key, c] : CountHours(kept)) {
            Stmt s(*st);
            s.BindAll(key.first, key.second, c.succeeded, c.retried, c.failed);
            for (std::size_t i = 0; i < c.latency.size(); ++i) s.Bind(static_cast<int>(i) + 6, c.latency[i]);
            if (const int rc = s.Step(); rc != SQLITE_DONE) return Fail(w_.LastError(rc, "hourly counters"));
        }
        return {};
    }

    template <typename... Args>
    Status Run(Db& db, std::string_view sql, const Args&... args) {
        auto st = db.Prepare(sql);
        if (!st) return Fail(st.error());
        Stmt s(*st);
        s.BindAllInPlace(args...);  // the arguments live until this call returns
        int rc;
        while ((rc = s.Step()) == SQLITE_ROW) {
        }
        if (rc != SQLITE_DONE) return Fail(db.LastError(rc, "write"));
        return {};
    }

    std::optional<std::string> SealOpt(const std::optional<std::string>& s) const {
        if (!s) return std::nullopt;
        return box_.Seal(*s);
    }

    Result<Delivery> GetDeliveryLocked(Db& db, const SiteId& site, const DeliveryId& id, bool with_attempts) {
        std::int64_t seq = 0;
        Delivery d;
        {
            auto st = db.Prepare(std::string(kDeliveryColumns) + " WHERE id = ? AND site = ?");
            if (!st) return Fail(st.error());
            Stmt s(*st);
            s.BindAll(id.str(), site);
            if (s.Step() != SQLITE_ROW) return Fail(Error::NotFound("delivery " + id.str() + " not found"));
            seq = s.Int(0);
            d = ReadDelivery(s);
        }
        if (!with_attempts) return d;
        auto st = db.Prepare(
            "SELECT number, started_at, duration_ms, status, error, snippet FROM attempts WHERE delivery_seq = ? "
            "ORDER BY number");
        if (!st) return Fail(st.error());
        Stmt s(*st);
        s.BindAll(seq);
        while (s.Step() == SQLITE_ROW) d.attempts.push_back(ReadAttempt(s));
        return d;
    }

    void InvalidateMatchCache() {
        std::lock_guard lock(match_mu_);
        match_cache_.clear();
    }

    // Called with wmu_ held.
    Result<std::shared_ptr<const std::vector<MatchInfo>>> MatchersFor(const SiteId& site) {
        {
            std::lock_guard lock(match_mu_);
            if (auto it = match_cache_.find(site); it != match_cache_.end()) return it->second;
        }
        auto st = w_.Prepare(
            "SELECT id, events, send_everything, entities, ordering FROM webhooks WHERE site = ? AND enabled = 1");
        if (!st) return Fail(st.error());
        auto list = std::make_shared<std::vector<MatchInfo>>();
        {
            Stmt s(*st);
            s.BindAll(site);
            while (s.Step() == SQLITE_ROW) list->push_back(ReadMatchInfo(s));
        }
        std::lock_guard lock(match_mu_);
        match_cache_[site] = list;
        return std::shared_ptr<const std::vector<MatchInfo>>(list);
    }

    // One job inside the group transaction; wmu_ held.
    Result<IngestResult> IngestOne(IngestJob& job, std::vector<sched::Entry>& added, std::vector<Claimed>& fresh) {
        IngestResult res;
        if (job.key) {
            auto st = w_.Prepare("SELECT ids FROM idempotency WHERE site = ? AND key = ?");
            if (!st) return Fail(st.error());
            Stmt s(*st);
            s.BindAll(*job.site, *job.key);
            if (s.Step() == SQLITE_ROW) {
                for (auto& id : SplitList(s.Text(0))) res.ids.emplace_back(std::move(id));
                res.replayed = true;
                return res;
            }
        }
        auto matchers = MatchersFor(*job.site);
        if (!matchers) return Fail(matchers.error());
        for (ChangeEvent& e : *job.events) {
            e.id = NewTypedId<EventId>(kEventPrefix);
            e.created_at = job.now;
            if (auto r = Run(w_,
                             "INSERT INTO events(id, site, event, entity, entity_id, entity_num, created_at, "
                             "traceparent, tracestate) VALUES (?,?,?,?,?,?,?,?,?)",
                             e.id.str(), *job.site, static_cast<int>(e.type), e.entity, e.entity_id.text,
                             e.entity_id.is_number, job.now, e.traceparent, e.tracestate);
                !r) {
                return Fail(r.error());
            }
            res.ids.push_back(e.id);
            for (const MatchInfo& m : **matchers) {
                if (!m.Matches(e)) continue;
                const auto order_key = m.OrderKey(e);
                std::string id = NewId(kDeliveryPrefix);
                if (auto r = Run(w_,
                                 "INSERT INTO deliveries(id, site, webhook_id, event_id, event, entity, entity_id, "
                                 "entity_num, state, next_at, order_key, created_at, updated_at) "
                                 "VALUES (?,?,?,?,?,?,?,?,0,?,?,?,?)",
                                 id, *job.site, m.id.str(), e.id.str(), static_cast<int>(e.type), e.entity,
                                 e.entity_id.text, e.entity_id.is_number, job.now, order_key, job.now, job.now);
                    !r) {
                    return Fail(r.error());
                }
                const std::int64_t seq = sqlite3_last_insert_rowid(w_.raw());
                added.push_back(sched::Entry{seq, m.id.str(), job.now, order_key});
                if (fresh_size_ + fresh.size() < kFreshMax) {
                    fresh.push_back(NewClaimed(DeliveryId(std::move(id)), *job.site, m.id, e.id, e.type, e.entity,
                                               e.entity_id, job.now));
                    fresh.back().seq = seq;
                    fresh.back().delivery.traceparent = e.traceparent;
                    fresh.back().delivery.tracestate = e.tracestate;
                }
                ++res.deliveries;
            }
        }
        if (job.key) {
            std::vector<std::string> ids;
            for (const auto& id : res.ids) ids.push_back(id.str());
            if (auto r = Run(w_, "INSERT INTO idempotency(site, key, ids, created_at) VALUES (?,?,?,?)", *job.site,
                             *job.key, JoinList(ids), job.now);
                !r) {
                return Fail(r.error());
            }
        }
        return res;
    }

    void CommitIngest(std::vector<IngestJob*>& batch) {
        std::lock_guard lock(wmu_);
        auto fail_all = [&](const Error& e) {
            for (auto* j : batch) j->result = Fail(e);
        };
        if (auto r = w_.Exec("BEGIN IMMEDIATE"); !r) return fail_all(r.error());
        std::vector<sched::Entry> added;
        std::vector<Claimed> fresh;
        // A job that fails on its own is rolled back to its savepoint; when that (or the
        // savepoint itself) fails, the transaction is in doubt and every job fails.
        auto abort = [&](const Error& e) {
            (void)w_.Exec("ROLLBACK");  // best effort: SQLite may have rolled back already
            InvalidateMatchCache();
            fail_all(e);
        };
        for (auto* j : batch) {
            if (auto r = w_.Exec("SAVEPOINT job"); !r) return abort(r.error());
            const auto mark = added.size();
            const auto fresh_mark = fresh.size();
            j->result = IngestOne(*j, added, fresh);
            if (!j->result) {
                if (auto r = w_.Exec("ROLLBACK TO job"); !r) return abort(r.error());
                added.resize(mark);
                fresh.resize(fresh_mark);
            }
            if (auto r = w_.Exec("RELEASE job"); !r) return abort(r.error());
        }
        if (auto r = w_.Exec("COMMIT"); !r) return abort(r.error());
        // Committed: now the deliveries may be claimed.
        std::lock_guard qlock(qmu_);
        if (!queue_) return;
        std::erase_if(added, [&](const sched::Entry& e) { return Beyond(e.seq); });
        std::erase_if(fresh, [&](const Claimed& c) { return Beyond(c.seq); });
        queue_->Add(std::move(added));
        for (auto& c : fresh) {
            const std::int64_t seq = c.seq;
            fresh_.emplace(seq, std::move(c));
        }
        fresh_size_ = fresh_.size();
    }

    crypto::SecretBox box_;
    bool full_sync_ = true;
    std::mutex wmu_;  // guards w_ (all writes)
    Db w_;
    std::mutex rmu_;  // guards r_ (reads for the API)
    Db r_;
    sqlite::Checkpointer checkpointer_;  // after w_: stops before w_ closes
    std::mutex cmu_;  // guards c_ (reads of claimed rows)
    Db c_;
    std::mutex qmu_;  // guards queue_ and fresh_; taken after wmu_ when both are held
    sched::Scheduler* queue_ = nullptr;  // fed with the pending deliveries (Attach)
    // Windowed loading: pending deliveries up to cursor_ are in the scheduler (all of them
    // once complete_); written under wmu_ and qmu_, read under either.
    std::int64_t cursor_ = 0;
    std::atomic<bool> complete_{true};
    int load_window_ = 100'000;
    // New deliveries as a claim returns them, kept from their ingest until claimed, so a
    // claim need not read them back: most are claimed within moments, and each claim's
    // read transaction starts with an empty page cache (another connection wrote since),
    // ~10 µs per row with 100 webhooks. Bounded (~9 MB); a delivery not in it is read.
    // Only a first attempt comes from here; deleting a webhook drops its entries.
    static constexpr std::size_t kFreshMax = 16384;
    std::unordered_map<std::int64_t, Claimed> fresh_;
    std::atomic<std::size_t> fresh_size_{0};  // fresh_.size(), read without qmu_ by ingest
    // Webhooks whose failing_since may be set (guarded by wmu_): only outcomes set it, so a
    // success of any other webhook writes nothing to the webhooks table.
    std::unordered_set<std::string> failing_;
    std::mutex match_mu_;
    std::unordered_map<SiteId, std::shared_ptr<const std::vector<MatchInfo>>> match_cache_;

    GroupCommit group_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options, crypto::SecretBox box) {
    auto store = std::make_unique<SqliteStore>(std::move(box));
    if (auto r = store->Init(options); !r) return Fail(r.error());
    return std::unique_ptr<Store>(std::move(store));
}

Result<int> MigrateSqlite(const std::string& path) {
    Db db;
    if (auto r = db.Open(path, true, "FULL", 5000); !r) return Fail(r.error());
    int version = 0;
    if (auto r = Migrate(db, &version); !r) return Fail(r.error());
    return version;
}

}  // namespace hookd::store
