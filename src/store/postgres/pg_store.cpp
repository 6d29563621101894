#include "store/postgres/pg_store.hpp"

#include <poll.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <cerrno>
#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <thread>

#include "core/crypto.hpp"
#include "store/common/hours.hpp"
#include "store/common/outcomes.hpp"
#include "store/common/rows.hpp"
#include "store/postgres/pg_conn.hpp"
#include "store/postgres/ownership.hpp"
#include "store/postgres/pg_migrations.hpp"

namespace hookd::store {
namespace {

using namespace common;
using postgres::Conn;
using postgres::IntArray;
using postgres::P;
using postgres::Param;
using postgres::PgResult;
using postgres::Pool;
using postgres::RowRef;
using postgres::Statement;

constexpr std::string_view kKeyCheck = "hookd-master-key-check";
constexpr std::int64_t kMigrationLock = 0x686f6f6b64;  // "hookd"

// The queued deliveries (migration 10: a row in `pending` while state = 0, not a test
// message and due at some time), as the scheduler needs them; a WHERE on p.part, p.seq
// (pending's primary key) follows. Only these statements read `pending`: the claim's read
// and the outcome's UPDATE go by deliveries_pkey, so they never walk the queue.
constexpr std::string_view kQueuedColumns =
    "SELECT d.seq, d.webhook_id, d.next_at, d.order_key, d.part FROM pending p JOIN deliveries d ON d.seq = p.seq ";

// What a notification on `hookd_work` says (one per NOTIFY, fields separated by spaces):
//   n SENDER LO HI P,P,…  new deliveries with seq in [LO, HI] in partitions P (one ingest
//                          transaction: every row of the range it wrote is committed)
//   s SENDER PART SEQ      a delivery was made due (retry)
//   r SENDER PART WEBHOOK  some of the webhook's deliveries were made due (replay)
//   e SENDER PART WEBHOOK  the webhook was enabled, disabled or changed
//   x SENDER PART WEBHOOK  the webhook was deleted with its pending deliveries
// SENDER names the process (a random id per store), so a node skips its own notices: it
// applied them to its queue already, before notifying.
struct Notice {
    char kind = 0;
    std::string sender;
    std::vector<int> parts;  // "n": several; otherwise one
    std::int64_t lo = 0, hi = 0;
    std::string key;  // webhook id, or the seq as text
};

std::optional<Notice> ParseNotice(std::string_view text) {
    std::vector<std::string> f;
    std::string cur;
    for (char ch : text) {
        if (ch == ' ') {
            f.push_back(std::move(cur));
            cur.clear();
        } else {
            cur.push_back(ch);
        }
    }
    f.push_back(std::move(cur));
    if (f.empty() || f[0].size() != 1) return std::nullopt;
    Notice n;
    n.kind = f[0][0];
    auto num = [](const std::string& x, std::int64_t& out) {
        char* end = nullptr;
        out = std::strtoll(x.c_str(), &end, 10);
        return !x.empty() && end && *end == '\0';
    };
    if (n.kind == 'n' && f.size() == 5) {
        n.sender = f[1];
        if (!num(f[2], n.lo) || !num(f[3], n.hi)) return std::nullopt;
        for (const auto& item : SplitList(f[4])) {
            std::int64_t p = 0;
            if (num(item, p) && p >= 0 && p < postgres::kPartitions) n.parts.push_back(static_cast<int>(p));
        }
        return n;
    }
    if (std::string_view("srexk").find(n.kind) != std::string_view::npos && f.size() == 4) {
        n.sender = f[1];
        std::int64_t p = 0;
        if (!num(f[2], p) || p < 0 || p >= postgres::kPartitions) return std::nullopt;
        n.parts.push_back(static_cast<int>(p));
        n.key = f[3];
        return n;
    }
    return std::nullopt;
}

std::string Payload(const Notice& n) {
    std::string out(1, n.kind);
    out += " " + n.sender + " ";
    if (n.kind == 'n') {
        out += std::to_string(n.lo) + " " + std::to_string(n.hi) + " ";
        for (std::size_t i = 0; i < n.parts.size(); ++i) out += (i ? "," : "") + std::to_string(n.parts[i]);
    } else {
        out += std::to_string(n.parts.at(0)) + " " + n.key;
    }
    return out;
}

// A PostgreSQL array literal of text values; nullopt becomes NULL.
std::string ArrayLiteral(const std::vector<Param>& items) {
    std::string out = "{";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out.push_back(',');
        if (!items[i]) {
            out += "NULL";
            continue;
        }
        out.push_back('"');
        for (char c : *items[i]) {
            if (c == '"' || c == '\\') out.push_back('\\');
            out.push_back(c);
        }
        out.push_back('"');
    }
    out.push_back('}');
    return out;
}

// Applies pending migrations in one transaction under a transaction-level advisory lock,
// so concurrent nodes migrate once and a lost session leaves nothing half applied.
Status Migrate(Conn& c, int* version_out) {
    if (auto b = c.Begin(); !b) return b;
    auto fail = [&](Error e) -> Status {
        c.Rollback();
        return Fail(std::move(e));
    };
    if (auto l = c.Simple("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLock) + ")"); !l) {
        return fail(l.error());
    }
    if (auto r = c.Simple("CREATE TABLE IF NOT EXISTS schema_migrations (version INT PRIMARY KEY, "
                          "applied_at TIMESTAMPTZ DEFAULT now())");
        !r) {
        return fail(r.error());
    }
    auto v = c.Simple("SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (!v) return fail(v.error());
    const int version = static_cast<int>(RowRef(*v, 0).Int(0));
    if (version > static_cast<int>(postgres::kMigrations.size())) {
        return fail(Error::Internal("database schema version " + std::to_string(version) +
                                    " is newer than this hookd understands"));
    }
    for (int i = version; i < static_cast<int>(postgres::kMigrations.size()); ++i) {
        std::string sql(postgres::kMigrations[static_cast<std::size_t>(i)]);
        sql += "INSERT INTO schema_migrations(version) VALUES (" + std::to_string(i + 1) + ");";
        if (auto m = c.Simple(sql); !m) {
            return fail(Error{m.error().code == ErrorCode::kUnavailable ? ErrorCode::kUnavailable : ErrorCode::kInternal,
                              "migration " + std::to_string(i + 1) + " failed: " + m.error().message,
                              {}});
        }
    }
    if (auto cm = c.Commit(); !cm) return cm;
    if (version_out) *version_out = static_cast<int>(postgres::kMigrations.size());
    return {};
}

class PgStore final : public Store {
public:
    PgStore(const PostgresOptions& o, crypto::SecretBox box)
        : url_(postgres::WithKeepalives(o.url)),
          node_(o.node_id),
          pool_(url_, o.pool_size),
          lookups_(url_, 2, std::string(postgres::kLookupSession)),
          box_(std::move(box)),
          ownership_({url_, o.node_id, o.ownership_interval_ms, 30'000},
                     {.acquired = [this](const std::vector<int>& parts) { Acquired(parts); },
                      .stopped = [this](const std::vector<int>& parts) { Stopped(parts); }}),
          sender_(crypto::Base64UrlEncode(crypto::RandomBytes(9))),
          load_window_(std::max(1, o.load_window)) {}

    ~PgStore() override {
        ownership_.Stop(0);
        stop_ = true;
        if (listener_.joinable()) listener_.join();
    }

    Status Init() {
        if (auto r = pool_.Connect(); !r) return r;
        if (auto r = lookups_.Connect(); !r) return r;
        {
            auto c = pool_.Acquire();
            if (!c) return Fail(c.error());
            if (auto m = Migrate(**c, nullptr); !m) return m;
        }
        // Listening before taking partitions: what commits after a partition's load is
        // announced to a listener that is already there.
        listener_ = std::thread([this] {
            pthread_setname_np(pthread_self(), "hookd-listen");
            Listen();
        });
        for (int i = 0; i < 100 && !listening_.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        ownership_.Start();
        return {};
    }

    // ---------------------------------------------------------------- helpers
    template <typename... Args>
    Result<PgResult> Q(std::string_view sql, const Args&... args) {
        auto c = pool_.Acquire();
        if (!c) return Fail(c.error());
        return (**c).Exec(sql, {P(args)...});
    }
    template <typename... Args>
    static Result<PgResult> QOn(Conn& c, std::string_view sql, const Args&... args) {
        return c.Exec(sql, {P(args)...});
    }

    // Runs `fn(conn)` inside BEGIN/COMMIT on one connection. A session lost at any point
    // fails the whole call (Conn never reconnects inside a transaction).
    template <typename Fn>
    auto Tx(Fn&& fn) -> decltype(fn(std::declval<Conn&>())) {
        auto c = pool_.Acquire();
        if (!c) return Fail(c.error());
        Conn& conn = **c;
        if (auto b = conn.Begin(); !b) return Fail(b.error());
        auto r = fn(conn);
        if (!r) {
            conn.Rollback();
            return r;
        }
        if (auto cm = conn.Commit(); !cm) return Fail(cm.error());
        return r;
    }

    // ---------------------------------------------------------------- sites, tokens
    Status CreateSite(const Site& s) override {
        auto r = Q("INSERT INTO sites(id, name, created_at) VALUES ($1,$2,$3)", s.id, s.name, s.created_at);
        if (!r) return Fail(r.error());
        return {};
    }

    Result<Site> GetSite(const SiteId& id) override {
        auto r = Q("SELECT id, name, created_at FROM sites WHERE id = $1", id);
        if (!r) return Fail(r.error());
        if (r->Rows() == 0) return Fail(Error::NotFound("site " + id + " not found"));
        RowRef row(*r, 0);
        return Site{row.Text(0), row.Text(1), row.Int(2)};
    }

    Result<Page<Site>> ListSites(const PageRequest& page) override {
        const int limit = ClampLimit(page.limit);
        auto r = Q("SELECT id, name, created_at FROM sites WHERE ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2",
                   page.cursor, limit + 1);
        if (!r) return Fail(r.error());
        Page<Site> out;
        for (int i = 0; i < r->Rows(); ++i) {
            RowRef row(*r, i);
            out.items.push_back(Site{row.Text(0), row.Text(1), row.Int(2)});
        }
        return Paginate(std::move(out), limit, [](const Site& x) { return x.id; });
    }

    Status CreateToken(const Token& t, std::string_view hash) override {
        auto r = Q("INSERT INTO tokens(id, site, role, name, hash, created_at) VALUES ($1,$2,$3,$4,$5,$6)", t.id.str(),
                   t.site, static_cast<int>(t.role), t.name, hash, t.created_at);
        if (!r) return Fail(r.error());
        return {};
    }

    // Every API request looks its token up: live tokens are kept for kTokenTtl, so a busy
    // publisher costs no round trip. A revocation clears every node's cache (a 'k' notice,
    // applied by the revoking node before it answers); a node whose listener lost its
    // session clears its own when it comes back, and kTokenTtl bounds what a lost notice
    // could keep alive. Unknown tokens are never kept: a new token works at once everywhere.
    Result<Token> FindToken(std::string_view hash) override {
        const auto now = std::chrono::steady_clock::now();
        std::uint64_t generation = 0;
        {
            std::lock_guard lock(token_mu_);
            if (auto it = tokens_.find(hash); it != tokens_.end() && now - it->second.at < kTokenTtl) {
                return it->second.token;
            }
            generation = token_generation_;
        }
        auto r = Q("SELECT id, site, role, name, created_at FROM tokens WHERE hash = $1 AND revoked_at IS NULL", hash);
        if (!r) return Fail(r.error());
        if (r->Rows() == 0) return Fail(Error::NotFound("unknown token"));
        Token t = ReadToken(RowRef(*r, 0));
        std::lock_guard lock(token_mu_);
        // Not when a revocation came in while reading: the row may be from before it.
        if (generation == token_generation_) {
            if (tokens_.size() >= kTokensKept) tokens_.clear();
            tokens_.insert_or_assign(std::string(hash), CachedToken{t, now});
        }
        return t;
    }

    void ForgetTokens() {
        std::lock_guard lock(token_mu_);
        tokens_.clear();
        ++token_generation_;
    }

    Result<Page<Token>> ListTokens(const SiteId& site, const PageRequest& page) override {
        const int limit = ClampLimit(page.limit);
        auto r = Q(
            "SELECT id, site, role, name, created_at FROM tokens WHERE site = $1 AND revoked_at IS NULL "
            "AND ($2::text IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
            site, page.cursor, limit + 1);
        if (!r) return Fail(r.error());
        Page<Token> out;
        for (int i = 0; i < r->Rows(); ++i) out.items.push_back(ReadToken(RowRef(*r, i)));
        return Paginate(std::move(out), limit, [](const Token& x) { return x.id.str(); });
    }

    Status RevokeToken(const SiteId& site, const TokenId& id, TimeMs now) override {
        auto r = Q("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND site = $3 AND revoked_at IS NULL", now, id.str(),
                   site);
        if (!r) return Fail(r.error());
        if (r->Affected() == 0) return Fail(Error::NotFound("token " + id.str() + " not found"));
        Announce(Notice{'k', sender_, {0}, 0, 0, id.str()});
        return {};
    }

    Result<bool> HasOperatorToken() override {
        auto r = Q("SELECT 1 FROM tokens WHERE role = 0 AND revoked_at IS NULL LIMIT 1");
        if (!r) return Fail(r.error());
        return r->Rows() > 0;
    }

    // ---------------------------------------------------------------- webhooks
    Status CreateWebhook(const Webhook& w) override {
        auto r = Q(
            "INSERT INTO webhooks(id, site, payload_url, secret, old_secret, old_secret_until, events, method, "
            "send_everything, entities, description, enabled, ordering, timeout_ms, max_in_flight, rate_limit, "
            "disabled_reason, disabled_at, created_at, updated_at, part) "
            "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20, "
            "(hashtext($1)::bigint & 255)::int)",
            w.id.str(), w.site, w.payload_url, box_.Seal(w.secret), SealOpt(w.old_secret), w.old_secret_until,
            static_cast<int>(w.events), static_cast<int>(w.method), w.send_everything, JoinList(w.entities),
            w.description, w.enabled, static_cast<int>(w.ordering), w.timeout_ms, w.max_in_flight,
            w.rate_limit_per_second, w.disabled_reason, w.disabled_at, w.created_at, w.updated_at);
        if (!r) return Fail(r.error());
        return {};
    }

    Result<Webhook> GetWebhook(const SiteId& site, const WebhookId& id) override {
        auto r = Q(std::string(kWebhookColumns) + " WHERE id = $1 AND site = $2", id.str(), site);
        if (!r) return Fail(r.error());
        if (r->Rows() == 0) return Fail(Error::NotFound("webhook " + id.str() + " not found"));
        return ReadWebhook(RowRef(*r, 0), box_);
    }

    Result<Webhook> GetWebhookById(const WebhookId& id) override {
        auto r = Q(std::string(kWebhookColumns) + " WHERE id = $1", id.str());
        if (!r) return Fail(r.error());
        if (r->Rows() == 0) return Fail(Error::NotFound("webhook " + id.str() + " not found"));
        return ReadWebhook(RowRef(*r, 0), box_);
    }

    Result<Page<Webhook>> ListWebhooks(const SiteId& site, const PageRequest& page) override {
        const int limit = ClampLimit(page.limit);
        auto r = Q(std::string(kWebhookColumns) +
                       " WHERE site = $1 AND ($2::text IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
                   site, page.cursor, limit + 1);
        if (!r) return Fail(r.error());
        Page<Webhook> out;
        for (int i = 0; i < r->Rows(); ++i) {
            auto w = ReadWebhook(RowRef(*r, i), box_);
            if (!w) return Fail(w.error());
            out.items.push_back(std::move(*w));
        }
        return Paginate(std::move(out), limit, [](const Webhook& x) { return x.id.str(); });
    }

    Status UpdateWebhook(const Webhook& w) override {
        auto r = Q(
            "UPDATE webhooks SET failing_since = CASE WHEN $12::int = 1 AND enabled = 0 THEN NULL ELSE failing_since END, "
            "payload_url=$1, secret=$2, old_secret=$3, old_secret_until=$4, events=$5, method=$6, "
            "send_everything=$7, entities=$8, description=$9, enabled=$12, ordering=$10, timeout_ms=$11, "
            "max_in_flight=$13, rate_limit=$14, disabled_reason=$15, disabled_at=$16, updated_at=$17, "
            "version = version + 1 WHERE id=$18 AND site=$19 AND version=$20 RETURNING part",
            w.payload_url, box_.Seal(w.secret), SealOpt(w.old_secret), w.old_secret_until, static_cast<int>(w.events),
            static_cast<int>(w.method), w.send_everything, JoinList(w.entities), w.description,
            static_cast<int>(w.ordering), w.timeout_ms, w.enabled, w.max_in_flight, w.rate_limit_per_second,
            w.disabled_reason, w.disabled_at, w.updated_at, w.id.str(), w.site, w.version);
        if (!r) return Unsure(r.error());
        if (r->Rows() > 0) {
            Announce(Notice{'e', sender_, {static_cast<int>(RowRef(*r, 0).Int(0))}, 0, 0, w.id.str()});
            return {};
        }
        auto e = Q("SELECT 1 FROM webhooks WHERE id = $1 AND site = $2", w.id.str(), w.site);
        if (!e) return Fail(e.error());
        if (e->Rows() == 0) return Fail(Error::NotFound("webhook " + w.id.str() + " not found"));
        return Fail(Error::Conflict("webhook " + w.id.str() + " was changed meanwhile (version " +
                                    std::to_string(w.version) + " is no longer current)"));
    }

    Status DeleteWebhook(const SiteId& site, const WebhookId& id, TimeMs now) override {
        int part = 0;
        auto r = Tx([&](Conn& c) -> Status {
            auto d = QOn(c, "DELETE FROM webhooks WHERE id = $1 AND site = $2 RETURNING part", id.str(), site);
            if (!d) return Fail(d.error());
            if (d->Rows() == 0) return Fail(Error::NotFound("webhook " + id.str() + " not found"));
            part = static_cast<int>(RowRef(*d, 0).Int(0));
            auto u = QOn(c,
                         "WITH u AS (UPDATE deliveries SET state = 3, next_at = NULL, lease_owner = NULL, "
                         "updated_at = $1 WHERE webhook_id = $2 AND state = 0 RETURNING seq, part) "
                         "DELETE FROM pending p USING u WHERE p.part = u.part AND p.seq = u.seq",
                         now, id.str());
            if (!u) return Fail(u.error());
            return {};
        });
        if (r) Announce(Notice{'x', sender_, {part}, 0, 0, id.str()});
        if (!r && r.error().code == ErrorCode::kUnavailable) reload_.store(true);
        return r;
    }

    Status DisableWebhook(const WebhookId& id, std::string_view reason, TimeMs now) override {
        auto r = Q(
            "UPDATE webhooks SET enabled = 0, disabled_reason = $1, disabled_at = $2, updated_at = $2, "
            "version = version + 1 WHERE id = $3 AND enabled = 1 RETURNING part",
            reason, now, id.str());
        if (!r) return Unsure(r.error());
        if (r->Rows() > 0) Announce(Notice{'e', sender_, {static_cast<int>(RowRef(*r, 0).Int(0))}, 0, 0, id.str()});
        return {};
    }

    // ---------------------------------------------------------------- audit, rekey
    Status AppendAudit(const AuditEntry& e) override {
        auto r = Q("INSERT INTO audit(id, site, at, actor, action, target, detail) VALUES ($1,$2,$3,$4,$5,$6,$7)", e.id,
                   e.site, e.at, e.actor, e.action, e.target, e.detail);
        if (!r) return Fail(r.error());
        return {};
    }

    Result<Page<AuditEntry>> ListAudit(const SiteId& site, const PageRequest& page) override {
        const int limit = ClampLimit(page.limit);
        auto r = Q(
            "SELECT id, site, at, actor, action, target, detail FROM audit WHERE site = $1 "
            "AND ($2::text IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
            site, page.cursor, limit + 1);
        if (!r) return Fail(r.error());
        Page<AuditEntry> out;
        for (int i = 0; i < r->Rows(); ++i) {
            RowRef s(*r, i);
            out.items.push_back(AuditEntry{s.Text(0), s.Text(1), s.Int(2), s.Text(3), s.Text(4), s.Text(5), s.Text(6)});
        }
        return Paginate(std::move(out), limit, [](const AuditEntry& x) { return x.id; });
    }

    Status Rekey(const crypto::SecretBox& new_box) override {
        auto r = Tx([&](Conn& c) -> Status {
            auto rows = QOn(c, "SELECT id, secret, old_secret FROM webhooks FOR UPDATE");
            if (!rows) return Fail(rows.error());
            for (int i = 0; i < rows->Rows(); ++i) {
                RowRef s(*rows, i);
                auto secret = box_.Open(s.Text(1));
                if (!secret) return Fail(Error::Invalid("webhook " + s.Text(0) + ": " + secret.error().message));
                std::optional<std::string> old;
                if (auto o = s.OptText(2)) {
                    auto plain = box_.Open(*o);
                    if (!plain) {
                        return Fail(Error::Invalid("webhook " + s.Text(0) + ": previous secret: " + plain.error().message));
                    }
                    old = new_box.Seal(*plain);
                }
                auto u = QOn(c, "UPDATE webhooks SET secret = $1, old_secret = $2 WHERE id = $3",
                             new_box.Seal(*secret), old, s.Text(0));
                if (!u) return Fail(u.error());
            }
            auto m = QOn(c,
                         "INSERT INTO meta(key, value) VALUES ('key_check', $1) "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                         new_box.Seal(kKeyCheck));
            if (!m) return Fail(m.error());
            return {};
        });
        if (r) box_ = new_box;
        return r;
    }

    Status VerifyMasterKey() override {
        auto r = Q("SELECT value FROM meta WHERE key = 'key_check'");
        if (!r) return Fail(r.error());
        if (r->Rows() == 0) {
            auto i = Q("INSERT INTO meta(key, value) VALUES ('key_check', $1) ON CONFLICT (key) DO NOTHING",
                       box_.Seal(kKeyCheck));
            if (!i) return Fail(i.error());
            return VerifyMasterKey();
        }
        auto plain = box_.Open(RowRef(*r, 0).Text(0));
        if (!plain || *plain != kKeyCheck) {
            return Fail(Error::Invalid("the master key does not match the one this database's secrets were encrypted with"));
        }
        return {};
    }

    // ---------------------------------------------------------------- ingest
    Result<IngestResult> Ingest(const SiteId& site, std::vector<ChangeEvent> events,
                                std::optional<std::string> idempotency_key, TimeMs now) override {
        IngestJob job{&site, &events, std::move(idempotency_key), now, {}, false};
        return group_.Run(job, [this](std::vector<IngestJob*>& batch) { CommitAndFeed(batch); });
    }
    std::vector<Result<IngestResult>> IngestMany(std::vector<IngestRequest>& requests, TimeMs now) override {
        return group_.RunMany(requests, now, [this](std::vector<IngestJob*>& batch) { CommitAndFeed(batch); });
    }

    // ---------------------------------------------------------------- deliveries (API)
    Result<Page<Delivery>> ListDeliveries(const SiteId& site, const WebhookId& webhook, const DeliveryFilter& f,
                                          const PageRequest& page) override {
        const int limit = ClampLimit(page.limit);
        std::optional<int> state;
        if (f.state) state = static_cast<int>(*f.state);
        auto r = Q(std::string(kDeliveryColumns) +
                       " WHERE webhook_id = $1 AND site = $2 AND ($3::text IS NULL OR id < $3) "
                       "AND ($4::int IS NULL OR state = $4) AND ($5::bigint IS NULL OR created_at >= $5) "
                       "AND ($6::bigint IS NULL OR created_at < $6) ORDER BY id DESC LIMIT $7",
                   webhook.str(), site, page.cursor, state, f.since, f.until, limit + 1);
        if (!r) return Fail(r.error());
        Page<Delivery> out;
        for (int i = 0; i < r->Rows(); ++i) out.items.push_back(ReadDelivery(RowRef(*r, i)));
        return Paginate(std::move(out), limit, [](const Delivery& x) { return x.id.str(); });
    }

    Result<Delivery> GetDelivery(const SiteId& site, const DeliveryId& id) override {
        auto r = Q(std::string(kDeliveryColumns) + " WHERE id = $1 AND site = $2", id.str(), site);
        if (!r) return Fail(r.error());
        if (r->Rows() == 0) return Fail(Error::NotFound("delivery " + id.str() + " not found"));
        RowRef row(*r, 0);
        Delivery d = ReadDelivery(row);
        auto a = Q("SELECT number, started_at, duration_ms, status, error, snippet FROM attempts "
                   "WHERE delivery_seq = $1 ORDER BY number",
                   row.Int(0));
        if (!a) return Fail(a.error());
        for (int i = 0; i < a->Rows(); ++i) d.attempts.push_back(ReadAttempt(RowRef(*a, i)));
        return d;
    }

    Result<Delivery> RetryDelivery(const SiteId& site, const DeliveryId& id, TimeMs now) override {
        // A delivery in flight is pending already: its owner's queue leaves a held
        // delivery alone, and its outcome is recorded as usual.
        auto r =
            Q("WITH u AS (UPDATE deliveries SET state = 0, next_at = $1, lease_owner = NULL, updated_at = $1 "
              "WHERE id = $2 AND site = $3 AND test = 0 RETURNING seq, part), "
              "q AS (INSERT INTO pending(part, seq) SELECT part, seq FROM u ON CONFLICT DO NOTHING) "
              "SELECT seq, part FROM u",
              now, id.str(), site);
        if (!r) return Unsure(r.error());
        if (r->Rows() > 0) {
            Announce(Notice{'s', sender_, {static_cast<int>(RowRef(*r, 0).Int(1))}, 0, 0, RowRef(*r, 0).Text(0)});
        }
        auto d = GetDelivery(site, id);
        if (d) d->attempts.clear();
        return d;
    }

    Result<std::int64_t> Replay(const SiteId& site, const WebhookId& webhook, const DeliveryFilter& f,
                                TimeMs now) override {
        std::optional<int> state;
        if (f.state) state = static_cast<int>(*f.state);
        auto r =
            Q("WITH u AS (UPDATE deliveries SET state = 0, next_at = $1, lease_owner = NULL, updated_at = $1 "
              "WHERE webhook_id = $2 AND site = $3 AND test = 0 AND ($4::int IS NULL OR state = $4) "
              "AND ($5::bigint IS NULL OR created_at >= $5) AND ($6::bigint IS NULL OR created_at < $6) "
              "RETURNING seq, part), q AS (INSERT INTO pending(part, seq) SELECT part, seq FROM u ON CONFLICT DO "
              "NOTHING) "
              "SELECT count(*), min(part) FROM u",
              now, webhook.str(), site, state, f.since, f.until);
        if (!r) return Unsure(r.error());
        const std::int64_t n = RowRef(*r, 0).Int(0);
        if (n > 0) Announce(Notice{'r', sender_, {static_cast<int>(RowRef(*r, 0).Int(1))}, 0, 0, webhook.str()});
        return n;
    }

    Result<Claimed> CreateTestDelivery(const Webhook& w, EventType type, std::string_view entity,
                                       const EntityId& entity_id, TimeMs now) override {
        Claimed c = NewTestDelivery(w, type, entity, entity_id, now);
        const Delivery& d = c.delivery;
        auto r = Q(
            "INSERT INTO deliveries(id, site, webhook_id, event_id, event, entity, entity_id, entity_num, state, "
            "next_at, test, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,0,NULL,1,$9,$9) RETURNING seq",
            d.id.str(), d.site, d.webhook_id.str(), d.event_id.str(), static_cast<int>(type), d.entity, entity_id.text,
            entity_id.is_number, now);
        if (!r) return Fail(r.error());
        c.seq = RowRef(*r, 0).Int(0);
        return c;
    }

    // ---------------------------------------------------------------- queue
    // The owner of a partition alone sends its deliveries, so it keeps their due queue in
    // memory (the dispatcher's sched::Scheduler, fed from here): a claim is a few heap
    // operations and one read of the rows it picked, and writes nothing. Leases live in
    // that memory too; what makes a stale owner harmless is the partition epoch every
    // outcome is fenced with, not a lease column.
    Result<std::vector<Claimed>> Claim(std::string_view node, TimeMs now, DurationMs lease_ms, int limit) override {
        (void)node;  // leases are this process's memory
        std::vector<std::int64_t> seqs;
        {
            std::lock_guard lock(qmu_);
            if (queue_) seqs = queue_->Claim(now, lease_ms, limit);
        }
        std::vector<Claimed> out;
        if (seqs.empty()) return out;
        std::vector<Param> ids;
        for (auto seq : seqs) ids.push_back(std::to_string(seq));
        // The row decides: a delivery finished, cancelled or rescheduled since it was
        // queued (a notice that came twice, a reload racing an outcome) is not sent.
        static const std::string kSql =
            "SELECT seq, id, site, webhook_id, event_id, event, entity, entity_id, entity_num, attempt_count, "
            "created_at, part, next_at, " + std::string(kEventTraceColumns) +
            " FROM deliveries WHERE seq = ANY($1::bigint[]) AND state = 0";
        auto r = [&]() -> Result<PgResult> {
            auto c = lookups_.Acquire();
            if (!c) return Fail(c.error());
            return (**c).Exec(kSql, {ArrayLiteral(ids)});
        }();
        if (!r) {
            std::lock_guard lock(qmu_);
            if (queue_) {
                for (auto seq : seqs) queue_->Finish(seq, now + 1000);  // try again in a second
            }
            return Fail(r.error());
        }
        std::unordered_set<std::int64_t> found;
        std::vector<std::pair<std::int64_t, TimeMs>> later;
        std::vector<std::int64_t> dropped;
        for (int i = 0; i < r->Rows(); ++i) {
            RowRef row(*r, i);
            Claimed c = ReadClaimed(row);
            found.insert(c.seq);
            c.part = static_cast<std::int32_t>(row.Int(11));
            c.fence = ownership_.ServingEpoch(c.part);
            const auto next_at = row.OptInt(12);
            c.delivery.traceparent = row.OptText(13);
            c.delivery.tracestate = row.OptText(14);
            if (c.fence == 0) {
                dropped.push_back(c.seq);  // no longer ours: the next owner loads it
            } else if (!next_at || *next_at > now) {
                later.emplace_back(c.seq, next_at.value_or(now));
            } else {
                out.push_back(std::move(c));
            }
        }
        {
            std::lock_guard lock(qmu_);
            if (!queue_) return std::vector<Claimed>{};
            for (auto seq : seqs) {
                if (!found.contains(seq)) queue_->Finish(seq, std::nullopt);  // not pending any more
            }
            for (auto seq : dropped) queue_->Finish(seq, std::nullopt);
            for (const auto& [seq, due] : later) queue_->Finish(seq, due);
        }
        std::sort(out.begin(), out.end(), [](const Claimed& a, const Claimed& b) { return a.seq < b.seq; });
        Track(out);
        return out;
    }

    bool MayStart(const Claimed& c) const override { return c.fence == 0 || ownership_.Owns(c.part, c.fence); }

    // The shared outcome policy (store/common/outcomes.hpp); the fence also checks that
    // the reporting node still holds the lease (test messages report no owner).
    Result<std::vector<WebhookId>> Complete(std::span<const Outcome> outcomes, TimeMs now) override {
        std::vector<WebhookId> disabled;
        if (outcomes.empty()) return disabled;
        std::unordered_set<std::int64_t> applied_seqs;
        auto r = RecordOutcomes(outcomes, now, applied_seqs, disabled);
        Untrack(outcomes);
        if (!r) return Fail(r.error());  // not recorded: the leases run out, and they are sent again
        std::lock_guard lock(qmu_);
        if (!queue_) return disabled;
        for (const Outcome& o : outcomes) {
            if (!applied_seqs.contains(o.seq)) {
                // Not applied: cancelled, fenced or recorded already. The row decides at the
                // next claim whether anything is left to send.
                if (queue_->Held(o.seq)) queue_->Finish(o.seq, now);
                continue;
            }
            queue_->Finish(o.seq, o.state == DeliveryState::kPending ? o.next_attempt_at : std::nullopt);
            if (o.disable_webhook_reason) queue_->SetEnabled(o.webhook_id.str(), false);
        }
        for (const auto& id : disabled) queue_->SetEnabled(id.str(), false);
        return disabled;
    }

    Status ReleaseClaims(std::string_view node, std::span<const std::int64_t> seqs, TimeMs now) override {
        (void)node;
        UntrackSeqs(seqs);
        std::lock_guard lock(qmu_);
        if (!queue_) return {};
        for (auto seq : seqs) {
            if (queue_->Held(seq)) queue_->Finish(seq, now);
        }
        return {};
    }

    void OnNewWork(std::function<void()> wake) override {
        std::lock_guard lock(wake_mu_);
        wake_ = std::move(wake);
    }

    Result<std::int64_t> ReleaseLeases(std::string_view node, TimeMs now) override {
        (void)node;
        {
            std::lock_guard lock(track_mu_);
            for (const auto& [seq, part] : tracked_) ownership_.AddInFlight(part, -1);
            tracked_.clear();
        }
        std::lock_guard lock(qmu_);
        if (!queue_) return std::int64_t{0};
        return queue_->ReleaseAll(now);
    }

    // From now on `scheduler` is fed: every served partition is loaded into it (by the
    // listener, as after a reconnect), and later changes reach it as they happen.
    void Attach(sched::Scheduler* scheduler) override {
        {
            std::lock_guard lock(qmu_);
            queue_ = scheduler;
        }
        if (!scheduler) return;
        std::vector<int> served;
        for (const auto& [p, epoch] : ownership_.Serving()) served.push_back(p);
        if (auto r = LoadPartitions(served); !r) {
            spdlog::warn("loading the queue: {}", r.error().message);
            reload_.store(true);  // the listener tries again
        }
    }

    Result<QueueStats> Stats() override {
        // The queued rows (`pending`; a test message in flight is not queued).
        auto r =
            Q("SELECT (SELECT count(*) FROM pending), (SELECT min(d.created_at) FROM pending p "
              "JOIN deliveries d ON d.seq = p.seq JOIN webhooks w ON w.id = d.webhook_id "
              "WHERE d.attempt_count = 0 AND w.enabled = 1)");
        if (!r) return Fail(r.error());
        QueueStats q;
        q.pending = RowRef(*r, 0).Int(0);
        q.oldest_unattempted_at = RowRef(*r, 0).OptInt(1);
        const auto o = ownership_.Stats();
        q.partitions_owned = o.owned;
        q.nodes = o.nodes;
        q.partitions_acquired = o.acquired;
        q.partitions_released = o.released;
        q.partitions_lost = o.lost;
        return q;
    }

    Result<std::int64_t> Purge(TimeMs before, int batch) override {
        return Tx([&](Conn& c) -> Result<std::int64_t> {
            auto pick = QOn(c,
                            "SELECT seq FROM deliveries WHERE created_at < $1 AND state <> 0 ORDER BY seq LIMIT $2 "
                            "FOR UPDATE SKIP LOCKED",
                            before, batch);
            if (!pick) return Fail(pick.error());
            std::vector<Param> seqs;
            for (int i = 0; i < pick->Rows(); ++i) seqs.push_back(RowRef(*pick, i).Text(0));
            const std::string arr = ArrayLiteral(seqs);
            if (auto a = QOn(c, "DELETE FROM attempts WHERE delivery_seq = ANY($1::bigint[])", arr); !a) {
                return Fail(a.error());
            }
            auto d = QOn(c, "DELETE FROM deliveries WHERE seq = ANY($1::bigint[])", arr);
            if (!d) return Fail(d.error());
            auto e = QOn(c, "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE created_at < $1 LIMIT $2)",
                         before, batch);
            if (!e) return Fail(e.error());
            auto i = QOn(c, "DELETE FROM idempotency WHERE created_at < $1", before);
            if (!i) return Fail(i.error());
            auto h = QOn(c, "DELETE FROM webhook_hours WHERE hour < $1", health::HourOf(before));
            if (!h) return Fail(h.error());
            return d->Affected();
        });
    }

    Result<std::vector<WebhookHealth>> GetHealth(const SiteId& site, const std::optional<WebhookId>& webhook,
                                                 TimeMs since) override {
        static const std::string kSql = [] {
            std::string cols;
            for (const auto& c : HourColumns()) cols += ", h." + c;
            return "SELECT w.id, w.failing_since, h.hour" + cols +
                   " FROM webhooks w LEFT JOIN webhook_hours h ON h.webhook_id = w.id AND h.hour >= $1 "
                   "WHERE w.site = $2 AND ($3::text IS NULL OR w.id = $3) ORDER BY w.id, h.hour";
        }();
        std::optional<std::string> only;
        if (webhook) only = webhook->str();
        auto r = Q(kSql, since, site, only);
        if (!r) return Fail(r.error());
        auto out = ReadHealth([&](auto&& each) {
            for (int i = 0; i < r->Rows(); ++i) each(RowRef(*r, i));
        });
        if (webhook && out.empty()) return Fail(Error::NotFound("webhook " + webhook->str() + " not found"));
        return out;
    }

    bool Ping() override { return static_cast<bool>(Q("SELECT 1")); }

private:
    // Complete's transaction, in two round trips:
    //   1. BEGIN, and every outcome in one statement: the fenced UPDATE of the deliveries
    //      (HOT: it changes no indexed column), the queue rows of those it took out of the
    //      queue (looked up by pending's key) and the attempts of those that passed it. The
    //      same delivery twice in a batch: the first report counts (as it would, recorded
    //      one after the other).
    //   2. the webhooks' failure clocks and disables (they depend on which outcomes applied),
    //      the hourly counts, COMMIT.
    // A lost attempt record only repeats a delivery (at least once): lookups_ sessions do
    // not wait for a flush.
    Status RecordOutcomes(std::span<const Outcome> outcomes, TimeMs now, std::unordered_set<std::int64_t>& applied_seqs,
                          std::vector<WebhookId>& disabled) {
        auto lease = lookups_.Acquire();
        if (!lease) return Fail(lease.error());
        Conn& c = **lease;
        if (auto b = c.Begin(); !b) return Fail(b.error());
        std::vector<const Outcome*> firsts;
        {
            std::unordered_set<std::int64_t> seen;
            for (const auto& o : outcomes) {
                if (seen.insert(o.seq).second) firsts.push_back(&o);
            }
        }
        std::vector<Param> seq, state, number, next_at, status, error, fence, started, duration, snippet;
        for (const Outcome* o : firsts) {
            const Attempt& a = o->attempt;
            seq.push_back(std::to_string(o->seq));
            state.push_back(std::to_string(static_cast<int>(o->state)));
            number.push_back(std::to_string(a.number));
            next_at.push_back(P(o->next_attempt_at));
            status.push_back(P(a.status));
            error.push_back(std::to_string(static_cast<int>(a.error)));
            fence.push_back(std::to_string(o->fence));
            started.push_back(std::to_string(a.started_at));
            duration.push_back(std::to_string(a.duration_ms));
            snippet.push_back(a.response_snippet);
        }
        auto u = c.Exec(
            "WITH v AS (SELECT * FROM unnest($1::bigint[], $2::int[], $3::int[], $4::bigint[], $5::int[], "
             "$6::int[], $7::bigint[], $8::bigint[], $9::bigint[], $10::text[]) "
             "AS v(seq, state, number, next_at, status, err, fence, started, duration, snippet)), "
             "u AS (UPDATE deliveries d SET state = v.state, attempt_count = v.number, next_at = v.next_at, "
             "lease_owner = NULL, last_status = v.status, last_error = v.err, updated_at = $11 FROM v "
             // seq = ANY($1) as well: the plan reads the rows by key, not by a join with
             // unnest (which it takes for 100 rows).
             "WHERE d.seq = ANY($1::bigint[]) AND d.seq = v.seq AND d.state = 0 "
             "AND d.attempt_count = v.number - 1 "
             "AND (v.fence = 0 OR EXISTS (SELECT 1 FROM partitions p WHERE p.part = d.part "
             "AND p.epoch = v.fence)) RETURNING d.seq, d.part, d.state, d.next_at), "
             "q AS (DELETE FROM pending p USING u WHERE p.part = u.part AND p.seq = u.seq "
             "AND (u.state <> 0 OR u.next_at IS NULL)) "
             "INSERT INTO attempts(delivery_seq, number, started_at, duration_ms, status, error, snippet) "
             "SELECT v.seq, v.number, v.started, v.duration, v.status, v.err, v.snippet FROM v "
             "WHERE v.seq IN (SELECT seq FROM u) RETURNING delivery_seq",
            {ArrayLiteral(seq), ArrayLiteral(state), ArrayLiteral(number), ArrayLiteral(next_at), ArrayLiteral(status),
             ArrayLiteral(error), ArrayLiteral(fence), ArrayLiteral(started), ArrayLiteral(duration),
             ArrayLiteral(snippet), P(now)});
        if (!u) return Fail(u.error());  // the lease's end rolls the transaction back
        applied_seqs.clear();
        for (int i = 0; i < u->Rows(); ++i) applied_seqs.insert(RowRef(*u, i).Int(0));
        std::vector<const Outcome*> applied;  // in the order reported
        for (const Outcome* o : firsts) {
            if (applied_seqs.contains(o->seq)) applied.push_back(o);
        }

        std::vector<Statement> second;
        std::vector<std::pair<std::size_t, WebhookId>> auto_disables;  // statement → webhook
        for (const WebhookVerdict& v : DecideWebhooks(applied)) {
            const std::string id = v.id.str();
            switch (v.clock) {
                case WebhookVerdict::Clock::kClear:
                    second.push_back(
                        {"UPDATE webhooks SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL", {id}});
                    break;
                case WebhookVerdict::Clock::kStart:
                    second.push_back({"UPDATE webhooks SET failing_since = $1 WHERE id = $2 AND failing_since IS NULL",
                                      {P(v.since), id}});
                    break;
                case WebhookVerdict::Clock::kRestart:
                    second.push_back({"UPDATE webhooks SET failing_since = $1 WHERE id = $2", {P(v.since), id}});
                    break;
            }
            if (v.disable_reason) {
                second.push_back({"UPDATE webhooks SET enabled = 0, disabled_reason = $1, disabled_at = $2, "
                                  "updated_at = $2, version = version + 1 WHERE id = $3 AND enabled = 1",
                                  {*v.disable_reason, P(now), id}});
            } else if (v.auto_disable_after_ms > 0) {
                auto_disables.emplace_back(second.size(), v.id);
                second.push_back({"UPDATE webhooks SET enabled = 0, disabled_reason = $1, disabled_at = $2, "
                                  "updated_at = $2, version = version + 1 WHERE id = $3 AND enabled = 1 "
                                  "AND failing_since IS NOT NULL AND failing_since <= $4",
                                  {AutoDisableReason(v.auto_disable_after_ms), P(now), id,
                                   P(now - v.auto_disable_after_ms)}});
            }
        }
        if (auto h = HoursStatement(applied)) second.push_back(std::move(*h));
        auto r2 = c.PipelineAndCommit(second);
        if (!r2) return Fail(r2.error());
        for (const auto& [i, id] : auto_disables) {
            if ((*r2)[i].Affected() > 0) disabled.push_back(id);
        }
        return {};
    }

    // Adds the outcomes that applied to their webhooks' hourly counters, in Complete's
    // transaction: one statement, rows in (webhook, hour) order so concurrent writers lock
    // them in the same order. nullopt when none applied.
    static std::optional<Statement> HoursStatement(std::span<const Outcome* const> applied) {
        if (applied.empty()) return std::nullopt;
        static const std::string kSql = [] {
            const auto cols = HourColumns();
            std::string sql = "INSERT INTO webhook_hours(webhook_id, hour, " + HourColumnList() +
                              ") SELECT * FROM unnest($1::text[], $2::bigint[]";
            for (std::size_t i = 0; i < cols.size(); ++i) sql += ", $" + std::to_string(i + 3) + "::bigint[]";
            sql += ") ON CONFLICT (webhook_id, hour) DO UPDATE SET ";
            for (std::size_t i = 0; i < cols.size(); ++i) {
                sql += (i ? ", " : "") + cols[i] + " = webhook_hours." + cols[i] + " + EXCLUDED." + cols[i];
            }
            return sql;
        }();
        std::vector<std::vector<Param>> columns(2 + kHourColumns);
        for (const auto& [key, n] : CountHours(applied)) {
            columns[0].push_back(key.first);
            columns[1].push_back(std::to_string(key.second));
            const std::int64_t kinds[] = {n.succeeded, n.retried, n.failed};
            for (std::size_t i = 0; i < 3; ++i) columns[2 + i].push_back(std::to_string(kinds[i]));
            for (std::size_t i = 0; i < n.latency.size(); ++i) columns[5 + i].push_back(std::to_string(n.latency[i]));
        }
        std::vector<Param> params;
        for (const auto& col : columns) params.push_back(ArrayLiteral(col));
        return Statement{kSql, std::move(params)};
    }

    // Claims in flight per partition, so a draining partition is handed over only when
    // they are finished or given back.
    void Track(const std::vector<Claimed>& claimed) {
        std::lock_guard lock(track_mu_);
        for (const auto& c : claimed) {
            if (c.fence == 0) continue;
            if (tracked_.emplace(c.seq, c.part).second) ownership_.AddInFlight(c.part, 1);
        }
    }
    void Untrack(std::span<const Outcome> outcomes) {
        std::lock_guard lock(track_mu_);
        for (const auto& o : outcomes) {
            if (auto n = tracked_.extract(o.seq)) ownership_.AddInFlight(n.mapped(), -1);
        }
    }
    void UntrackSeqs(std::span<const std::int64_t> seqs) {
        std::lock_guard lock(track_mu_);
        for (auto seq : seqs) {
            if (auto n = tracked_.extract(seq)) ownership_.AddInFlight(n.mapped(), -1);
        }
    }

    void WakeSubscriber() {
        std::lock_guard lock(wake_mu_);
        if (wake_) wake_();
    }

    std::optional<std::string> SealOpt(const std::optional<std::string>& s) const {
        if (!s) return std::nullopt;
        return box_.Seal(*s);
    }

    // ---------------------------------------------------------------- the owner's queue
    // Partitions taken: load their pending deliveries (and which of their webhooks are
    // disabled). Runs on the ownership thread, after the epochs are current, so anything
    // committed later reaches the queue through a notice or this node's own ingest.
    void Acquired(const std::vector<int>& parts) {
        if (auto r = LoadPartitions(parts); !r) {
            // Served but not loaded: the listener reloads every served partition when
            // its session comes back; until then a later notice or reload finds them.
            spdlog::warn("loading the queue of {} partitions: {}", parts.size(), r.error().message);
            reload_.store(true);
        }
        WakeSubscriber();
    }

    // A change whose statement failed may have been committed all the same (a lost
    // answer), unannounced: reload what this node serves.
    tl::unexpected<Error> Unsure(Error e) {
        if (e.code == ErrorCode::kUnavailable) reload_.store(true);
        return Fail(std::move(e));
    }

    void Stopped(const std::vector<int>& parts) {
        {
            std::lock_guard lock(window_mu_);
            for (int p : parts) windows_[static_cast<std::size_t>(p)] = Window{};
        }
        std::lock_guard lock(qmu_);
        if (!queue_) return;
        for (int p : parts) queue_->RemovePartition(p);
    }

    // Loads the first window of each partition's pending deliveries (and which of their
    // webhooks are disabled); the listener loads the next window of a partition whose
    // queue runs low (TopUp), so a partition with millions pending is never loaded whole.
    Status LoadPartitions(const std::vector<int>& parts) {
        if (parts.empty()) return {};
        auto off = Q("SELECT id, part FROM webhooks WHERE part = ANY($1::int[]) AND enabled = 0", IntArray(parts));
        if (!off) return Fail(off.error());
        {
            std::lock_guard lock(qmu_);
            if (!queue_) return {};
            for (int i = 0; i < off->Rows(); ++i) {
                if (ownership_.Serves(static_cast<int>(RowRef(*off, i).Int(1)))) {
                    queue_->SetEnabled(RowRef(*off, i).Text(0), false);
                }
            }
        }
        std::size_t loaded = 0;
        for (int p : parts) {
            {
                std::lock_guard lock(window_mu_);
                windows_[static_cast<std::size_t>(p)] = Window{0, false};
            }
            auto n = LoadWindow(p);
            if (!n) return Fail(n.error());
            loaded += *n;
        }
        if (loaded > 0) spdlog::info("queue: {} pending deliveries of {} partitions loaded", loaded, parts.size());
        return {};
    }

    // The next window of partition `p`: up to load_window pending deliveries after its
    // cursor, in seq order (entity chains need their oldest first). window_mu_ is held
    // across the read, so a notice is filtered either before it (its row was committed,
    // so the read sees it) or after it (against the new cursor): none is skipped for good.
    Result<std::size_t> LoadWindow(int p) {
        std::lock_guard wlock(window_mu_);
        Window& w = windows_[static_cast<std::size_t>(p)];
        if (w.complete || !ownership_.Serves(p)) return std::size_t{0};
        auto r = Q(std::string(kQueuedColumns) + "WHERE p.part = $1 AND p.seq > $2 ORDER BY p.seq LIMIT $3", p,
                   w.cursor, load_window_);
        if (!r) return Fail(r.error());
        std::vector<sched::Entry> entries;
        for (int i = 0; i < r->Rows(); ++i) entries.push_back(ReadEntry(RowRef(*r, i)));
        if (!entries.empty()) w.cursor = entries.back().seq;
        w.complete = r->Rows() < load_window_;
        const std::size_t n = entries.size();
        std::lock_guard lock(qmu_);
        if (queue_ && ownership_.Serves(p)) queue_->Add(std::move(entries));
        return n;
    }

    // Whether a partition has pending deliveries not loaded yet.
    bool Loading() {
        std::lock_guard wlock(window_mu_);
        return std::any_of(windows_.begin(), windows_.end(), [](const Window& w) { return !w.complete; });
    }

    // Loads the next window of every partition whose loaded queue ran low. On the listener.
    void TopUp() {
        std::vector<int> low;
        {
            std::lock_guard wlock(window_mu_);
            std::lock_guard lock(qmu_);
            if (!queue_) return;
            for (int p = 0; p < postgres::kPartitions; ++p) {
                if (!windows_[static_cast<std::size_t>(p)].complete && ownership_.Serves(p) &&
                    queue_->QueuedIn(p) < static_cast<std::size_t>(load_window_ / 2)) {
                    low.push_back(p);
                }
            }
        }
        bool woke = false;
        for (int p : low) {
            auto n = LoadWindow(p);
            if (!n) {
                spdlog::warn("loading the next window of partition {}: {}", p, n.error().message);
                return;
            }
            woke = woke || *n > 0;
        }
        if (woke) WakeSubscriber();
    }

    // Leaves out the deliveries of partitions not yet loaded up to them (a later window
    // brings them in seq order, so an entity's older delivery is never overtaken), then
    // feeds the rest. window_mu_ held.
    void FeedLocked(std::vector<sched::Entry> entries, bool requeue) {
        std::erase_if(entries, [&](const sched::Entry& e) {
            const Window& w = windows_[static_cast<std::size_t>(e.part)];
            return !ownership_.Serves(e.part) || (!w.complete && e.seq > w.cursor);
        });
        std::lock_guard lock(qmu_);
        if (!queue_ || entries.empty()) return;
        if (requeue) {
            queue_->Requeue(std::move(entries));
        } else {
            queue_->Add(std::move(entries));
        }
    }

    static sched::Entry ReadEntry(const RowRef& row) {
        return sched::Entry{row.Int(0), row.Text(1), row.OptInt(2).value_or(0), row.OptText(3),
                               static_cast<int>(row.Int(4))};
    }

    // Applies a change to this node's queue (if it serves the partition), then tells the
    // other nodes. A notice that does not reach the owner (its listener was away) is
    // covered by the reload the listener does when its session comes back.
    void Announce(const Notice& n) {
        (void)Apply(n);
        if (auto r = Q("SELECT pg_notify('hookd_work', $1)", Payload(n)); !r) {
            spdlog::warn("notifying the other nodes: {}", r.error().message);
        }
    }

    // What a notice does to this node's queue; false when it does not concern this node.
    bool Apply(const Notice& n) {
        if (n.kind == 'k') {  // a token was revoked: every node forgets the tokens it kept
            ForgetTokens();
            return false;
        }
        std::vector<int> mine;
        for (int p : n.parts) {
            if (ownership_.Serves(p)) mine.push_back(p);
        }
        if (mine.empty()) return false;
        if (n.kind == 'x') {
            std::lock_guard lock(qmu_);
            if (queue_) queue_->RemoveWebhook(n.key);
            return true;
        }
        if (n.kind == 'e') {
            auto r = Q("SELECT enabled FROM webhooks WHERE id = $1", n.key);
            if (!r) return false;
            std::lock_guard lock(qmu_);
            if (!queue_) return true;
            if (r->Rows() == 0) {
                queue_->RemoveWebhook(n.key);
            } else {
                queue_->SetEnabled(n.key, RowRef(*r, 0).Int(0) != 0);
            }
            return true;
        }
        Result<PgResult> r = Fail(Error::Internal("unknown notice"));
        if (n.kind == 'n') {
            r = Q(std::string(kQueuedColumns) + "WHERE p.part = ANY($3::int[]) AND p.seq BETWEEN $1 AND $2", n.lo, n.hi,
                  IntArray(mine));
        } else if (n.kind == 's') {
            r =
                Q("SELECT seq, webhook_id, next_at, order_key, part FROM deliveries WHERE seq = $1::bigint "
                  "AND state = 0 AND test = 0",
                  n.key);
        } else if (n.kind == 'r') {
            r = Q(std::string(kQueuedColumns) + "WHERE p.part = ANY($2::int[]) AND d.webhook_id = $1", n.key,
                  IntArray(mine));
        }
        if (!r) {
            spdlog::warn("reading new work: {}", r.error().message);
            reload_.store(true);
            return false;
        }
        std::vector<sched::Entry> entries;
        for (int i = 0; i < r->Rows(); ++i) entries.push_back(ReadEntry(RowRef(*r, i)));
        std::lock_guard lock(window_mu_);
        FeedLocked(std::move(entries), n.kind != 'n');
        return true;
    }

    // The group transaction, set-based: a fixed number of statements whatever the number
    // of jobs, sent in two round trips (libpq's pipeline mode; the cost of a commit is
    // round trips and the WAL flush, not rows):
    //   1. BEGIN, (keyed jobs only) the idempotency records, INSERT … ON CONFLICT DO
    //      NOTHING: a key already recorded (or committed meanwhile by another node: the
    //      insert waits for it) makes its job a replay, answered with the recorded ids
    //      (one more round trip reads them); and the enabled webhooks of the batch's sites;
    //   2. every event, every delivery with one NOTIFY for the owners (the seq range written
    //      and its partitions), and COMMIT.
    // Anything that fails fails every job of the group, and no caller is told "committed"
    // unless COMMIT itself was answered.
    // The group commit, then (its connection back in the pool: a window being read may
    // need one) its deliveries fed to the scheduler.
    void CommitAndFeed(std::vector<IngestJob*>& batch) {
        committed_ = false;
        CommitIngest(batch);
        if (!committed_) return;
        std::lock_guard lock(window_mu_);
        FeedLocked(std::move(job_added_), false);
        job_added_.clear();
    }

    void CommitIngest(std::vector<IngestJob*>& batch) {
        auto fail_all = [&](const Error& e) {
            for (auto* j : batch) j->result = Fail(e);
        };
        auto lease = pool_.Acquire();
        if (!lease) return fail_all(lease.error());
        Conn& c = **lease;
        if (auto b = c.Begin(); !b) return fail_all(b.error());
        auto abort = [&](const Error& e) {
            c.Rollback();
            fail_all(e);
        };
        // Ids first: the idempotency record names them.
        for (auto* j : batch) {
            IngestResult res;
            for (ChangeEvent& ev : *j->events) {
                ev.id = NewTypedId<EventId>(kEventPrefix);
                ev.created_at = j->now;
                res.ids.push_back(ev.id);
            }
            j->result = std::move(res);
        }

        // Round trip 1: the keys and (they do not depend on each other) the enabled webhooks
        // of the batch's sites (of replays too: they are not matched).
        KeyClaim keys = KeysOf(batch);
        std::vector<Param> sites;
        for (auto* j : batch) sites.push_back(*j->site);
        std::vector<Statement> first;
        if (keys.statement) first.push_back(std::move(*keys.statement));
        first.push_back({"SELECT id, events, send_everything, entities, ordering, part, site FROM webhooks "
                         "WHERE site = ANY($1::text[]) AND enabled = 1",
                         {ArrayLiteral(sites)}});
        auto r1 = c.Pipeline(first);
        if (!r1) return abort(r1.error());
        if (keys.statement) {
            if (auto k = ApplyKeys(c, batch, keys, r1->front()); !k) return abort(k.error());
        }
        const PgResult& hooks = r1->back();

        // Round trip 2: every event, every delivery and the notice, COMMIT.
        std::vector<Param> ev_id, ev_site, ev_type, ev_entity, ev_eid, ev_num, ev_at, ev_trace, ev_state;
        for (auto* j : batch) {
            if (j->result->replayed) continue;
            const std::string at = std::to_string(j->now);
            for (const ChangeEvent& e : *j->events) {
                ev_id.push_back(e.id.str());
                ev_site.push_back(*j->site);
                ev_type.push_back(std::to_string(static_cast<int>(e.type)));
                ev_entity.push_back(e.entity);
                ev_eid.push_back(e.entity_id.text);
                ev_num.push_back(e.entity_id.is_number ? "1" : "0");
                ev_at.push_back(at);
                ev_trace.push_back(e.traceparent);
                ev_state.push_back(e.tracestate);
            }
        }
        job_added_.clear();
        std::vector<Statement> second;
        if (!ev_id.empty()) {
            second.push_back({"INSERT INTO events(id, site, event, entity, entity_id, entity_num, created_at, "
                              "traceparent, tracestate) "
                              "SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], "
                              "$6::int[], $7::bigint[], $8::text[], $9::text[])",
                              {ArrayLiteral(ev_id), ArrayLiteral(ev_site), ArrayLiteral(ev_type),
                               ArrayLiteral(ev_entity), ArrayLiteral(ev_eid), ArrayLiteral(ev_num), ArrayLiteral(ev_at),
                               ArrayLiteral(ev_trace), ArrayLiteral(ev_state)}});
            if (auto d = DeliveriesOf(batch, hooks)) second.push_back(std::move(*d));
        }
        auto r2 = c.PipelineAndCommit(second);
        if (!r2) {
            // Committed or not, nobody knows when the answer was lost: the notice, if it went
            // out, is this node's own and skipped, so reload what this node serves.
            if (second.size() > 1 && r2.error().code == ErrorCode::kUnavailable) reload_.store(true);
            return fail_all(r2.error());
        }
        if (second.size() > 1) {
            const PgResult& d = (*r2)[1];
            for (int i = 0; i < d.Rows(); ++i) job_added_.push_back(ReadEntry(RowRef(d, i)));
        }
        committed_ = true;
    }

    // Statement 2 of CommitIngest's second round trip: one delivery per matching webhook
    // and event, and in the same statement the notice for the owners of the partitions that
    // got work. It names exactly this transaction's rows: [lo, hi] holds all of them, and
    // every one is committed when the notice arrives (NOTIFY is delivered on commit). Rows
    // of other transactions in the range come with their own notices; adding one twice is
    // harmless. Counts each job's deliveries; nullopt when there are none.
    std::optional<Statement> DeliveriesOf(std::vector<IngestJob*>& batch, const PgResult& hooks) {
        std::unordered_map<std::string, std::vector<std::pair<MatchInfo, std::string>>> by_site;
        for (int i = 0; i < hooks.Rows(); ++i) {
            RowRef row(hooks, i);
            by_site[row.Text(6)].emplace_back(ReadMatchInfo(row), row.Text(5));
        }
        std::vector<Param> d_id, d_site, d_hook, d_event, d_type, d_entity, d_eid, d_num, d_order, d_part, d_at;
        for (auto* j : batch) {
            if (j->result->replayed) continue;
            const auto found = by_site.find(*j->site);
            if (found == by_site.end()) continue;
            const std::string at = std::to_string(j->now);
            for (const ChangeEvent& e : *j->events) {
                for (const auto& [m, part] : found->second) {
                    if (!m.Matches(e)) continue;
                    d_id.push_back(NewId(kDeliveryPrefix));
                    d_site.push_back(*j->site);
                    d_hook.push_back(m.id.str());
                    d_event.push_back(e.id.str());
                    d_type.push_back(std::to_string(static_cast<int>(e.type)));
                    d_entity.push_back(e.entity);
                    d_eid.push_back(e.entity_id.text);
                    d_num.push_back(e.entity_id.is_number ? "1" : "0");
                    d_order.push_back(m.OrderKey(e));
                    d_part.push_back(part);
                    d_at.push_back(at);
                    ++j->result->deliveries;
                }
            }
        }
        if (d_id.empty()) return std::nullopt;
        return Statement{
            "WITH d AS (INSERT INTO deliveries(id, site, webhook_id, event_id, event, entity, entity_id, "
            "entity_num, state, next_at, order_key, created_at, updated_at, part) "
            "SELECT u.id, u.site, u.hook, u.evt, u.ev, u.en, u.eid, u.num, 0, u.at, u.ord, u.at, u.at, u.part "
            "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[], "
            "$8::int[], $9::text[], $10::int[], $11::bigint[]) WITH ORDINALITY "
            "AS u(id, site, hook, evt, ev, en, eid, num, ord, part, at, n) "
            "ORDER BY u.n RETURNING seq, webhook_id, next_at, order_key, part), "
            "q AS (INSERT INTO pending(part, seq) SELECT part, seq FROM d), "
            "n AS (SELECT pg_notify('hookd_work', 'n ' || $12 || ' ' || min(seq) || ' ' || max(seq) || ' ' || "
            "string_agg(DISTINCT part::text, ',')) FROM d HAVING count(*) > 0) "
            "SELECT seq, webhook_id, next_at, order_key, part, (SELECT count(*) FROM n) FROM d",
            {ArrayLiteral(d_id), ArrayLiteral(d_site), ArrayLiteral(d_hook), ArrayLiteral(d_event),
             ArrayLiteral(d_type), ArrayLiteral(d_entity), ArrayLiteral(d_eid), ArrayLiteral(d_num),
             ArrayLiteral(d_order), ArrayLiteral(d_part), ArrayLiteral(d_at), sender_}};
    }

    // The idempotency records of a group's keyed jobs (KeysOf), and the first job of each
    // key: a later job with the same key in the batch replays it.
    struct KeyClaim {
        std::optional<Statement> statement;  // nullopt: no keyed job
        std::map<std::pair<std::string, std::string>, IngestJob*> first;
        std::size_t count = 0;  // keys in the statement
    };

    KeyClaim KeysOf(std::vector<IngestJob*>& batch) {
        KeyClaim out;
        std::vector<Param> k_site, k_key, k_ids, k_at;
        for (auto* j : batch) {
            if (!j->key) continue;
            auto [it, fresh] = out.first.emplace(std::pair{*j->site, *j->key}, j);
            if (!fresh) {  // the same key twice in one batch: the second replays the first
                j->result->ids = it->second->result->ids;
                j->result->replayed = true;
                continue;
            }
            std::vector<std::string> ids;
            for (const auto& id : j->result->ids) ids.push_back(id.str());
            k_site.push_back(*j->site);
            k_key.push_back(*j->key);
            k_ids.push_back(JoinList(ids));
            k_at.push_back(std::to_string(j->now));
        }
        out.count = k_key.size();
        if (k_key.empty()) return out;
        out.statement = Statement{"INSERT INTO idempotency(site, key, ids, created_at) "
                                  "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) "
                                  "ON CONFLICT DO NOTHING RETURNING site, key",
                                  {ArrayLiteral(k_site), ArrayLiteral(k_key), ArrayLiteral(k_ids), ArrayLiteral(k_at)}};
        return out;
    }

    // Reads the answer to KeysOf's statement: a job whose key was recorded before becomes a
    // replay of the recorded ids (read in one more round trip).
    Status ApplyKeys(Conn& c, std::vector<IngestJob*>& batch, const KeyClaim& keys, const PgResult& ins) {
        if (ins.Rows() == static_cast<int>(keys.count)) return {};
        std::set<std::pair<std::string, std::string>> recorded;
        for (int i = 0; i < ins.Rows(); ++i) recorded.emplace(RowRef(ins, i).Text(0), RowRef(ins, i).Text(1));
        std::vector<Param> seen_site, seen_key;
        for (const auto& [sk, j] : keys.first) {
            if (!recorded.contains(sk)) {
                seen_site.push_back(sk.first);
                seen_key.push_back(sk.second);
            }
        }
        auto old = QOn(c,
                       "SELECT i.site, i.key, i.ids FROM idempotency i JOIN unnest($1::text[], $2::text[]) AS u(site, key) "
                       "ON i.site = u.site AND i.key = u.key",
                       ArrayLiteral(seen_site), ArrayLiteral(seen_key));
        if (!old) return Fail(old.error());
        for (int i = 0; i < old->Rows(); ++i) {
            RowRef row(*old, i);
            IngestJob* j = keys.first.at({row.Text(0), row.Text(1)});
            j->result->ids.clear();
            for (auto& id : SplitList(row.Text(2))) j->result->ids.emplace_back(std::move(id));
            j->result->replayed = true;
        }
        // Jobs replaying another job of this batch copy its ids after the fact.
        for (auto* j : batch) {
            if (!j->key || !j->result->replayed) continue;
            IngestJob* f = keys.first.at({*j->site, *j->key});
            if (f != j) j->result->ids = f->result->ids;
        }
        return {};
    }

    // LISTEN on a dedicated connection; reconnects after a failure. Notices sent while it
    // was away are lost, so after a reconnect it reloads every served partition (adds
    // are idempotent). Other nodes' notices are applied to the queue here.
    void Listen() {
        bool first = true;
        while (!stop_) {
            Conn conn(url_);
            if (!conn.Connect() || !conn.Simple("LISTEN hookd_work")) {
                listening_.store(true);  // (Init waits for the first try only)
                for (int i = 0; i < 10 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
                continue;
            }
            if (!first) {
                reload_.store(true);
                ForgetTokens();  // a revocation's notice may have gone by
            }
            first = false;
            listening_.store(true);
            while (!stop_ && PQstatus(conn.raw()) == CONNECTION_OK) {
                if (reload_.exchange(false)) {
                    std::vector<int> served;
                    for (const auto& [p, epoch] : ownership_.Serving()) served.push_back(p);
                    if (auto r = LoadPartitions(served); !r) {
                        reload_.store(true);
                    } else {
                        WakeSubscriber();
                    }
                }
                TopUp();
                pollfd pfd{PQsocket(conn.raw()), POLLIN, 0};
                if (poll(&pfd, 1, Loading() ? 20 : 200) < 0 && errno != EINTR) break;
                if (!PQconsumeInput(conn.raw())) break;
                bool woke = false;
                while (PGnotify* n = PQnotifies(conn.raw())) {
                    const auto notice = ParseNotice(n->extra ? n->extra : "");
                    PQfreemem(n);
                    if (notice && notice->sender != sender_) woke = Apply(*notice) || woke;
                }
                if (woke) WakeSubscriber();
            }
        }
    }

    std::string url_;
    std::string node_;
    Pool pool_;
    // The claim's read of the picked rows and the outcomes' transaction: lookups by key,
    // on sessions that keep generic plans made with sequential scans off and do not wait
    // for their commits' flush (kLookupSession). Both run on the dispatcher's threads.
    Pool lookups_;
    crypto::SecretBox box_;
    postgres::Ownership ownership_;
    std::string sender_;  // names this process's notices
    struct CachedToken {
        Token token;
        std::chrono::steady_clock::time_point at;
    };
    static constexpr auto kTokenTtl = std::chrono::seconds(5);
    static constexpr std::size_t kTokensKept = 10'000;
    std::mutex token_mu_;
    std::map<std::string, CachedToken, std::less<>> tokens_;  // by hash, see FindToken
    std::uint64_t token_generation_ = 0;  // counts ForgetTokens
    std::mutex qmu_;      // guards queue_; never held across a database call
    sched::Scheduler* queue_ = nullptr;  // fed with the pending deliveries of the served partitions (Attach)
    // Windowed loading: per partition, the seq up to which its pending rows are loaded.
    struct Window {
        std::int64_t cursor = 0;
        bool complete = true;  // everything pending is loaded (or the partition is not served)
    };
    std::mutex window_mu_;  // guards windows_; taken before qmu_; held across a window's read
    std::array<Window, postgres::kPartitions> windows_{};
    int load_window_ = 20'000;  // PostgresOptions::load_window
    std::vector<sched::Entry> job_added_;  // deliveries written by the group being committed (leader only)
    bool committed_ = false;               // the group being committed was (leader only)
    std::atomic<bool> reload_{false};     // reload every served partition (a notice may have been missed)
    std::atomic<bool> listening_{false};  // the listener tried its first LISTEN
    std::mutex track_mu_;
    std::unordered_map<std::int64_t, int> tracked_;  // claimed seq → partition; guarded by track_mu_
    GroupCommit group_;
    std::mutex wake_mu_;           // held while wake_ runs: clearing it waits for a call under way
    std::function<void()> wake_;   // guarded by wake_mu_
    std::atomic<bool> stop_{false};
    std::thread listener_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenPostgresStore(const PostgresOptions& options, crypto::SecretBox box) {
    auto store = std::make_unique<PgStore>(options, std::move(box));
    if (auto r = store->Init(); !r) return Fail(r.error());
    return std::unique_ptr<Store>(std::move(store));
}

Result<int> MigratePostgres(const std::string& url) {
    Conn c(url);
    if (auto r = c.Connect(); !r) return Fail(r.error());
    int version = 0;
    if (auto r = Migrate(c, &version); !r) return Fail(r.error());
    return version;
}

Result<std::int64_t> CopySqliteToPostgres(const std::string& sqlite_path, const std::string& pg_url) {
    static constexpr const char* kTables[] = {"sites",  "tokens",   "webhooks",    "events", "deliveries",
                                              "attempts", "meta", "idempotency", "audit", "webhook_hours"};
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(sqlite_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
        std::string msg = db ? sqlite3_errmsg(db) : "cannot open";
        sqlite3_close(db);
        return Fail(Error::Invalid("cannot open " + sqlite_path + ": " + msg));
    }
    std::unique_ptr<sqlite3, decltype(&sqlite3_close)> guard(db, sqlite3_close);
    Conn pg(postgres::WithKeepalives(pg_url));
    if (auto r = pg.Connect(); !r) return Fail(r.error());
    if (auto r = Migrate(pg, nullptr); !r) return Fail(r.error());
    auto existing = pg.Simple("SELECT (SELECT count(*) FROM sites) + (SELECT count(*) FROM deliveries)");
    if (!existing) return Fail(existing.error());
    if (RowRef(*existing, 0).Int(0) > 0) return Fail(Error::Conflict("the PostgreSQL database is not empty"));
    if (auto r = pg.Begin(); !r) return Fail(r.error());
    std::int64_t copied = 0;
    for (const char* table : kTables) {
        sqlite3_stmt* st = nullptr;
        const std::string select = std::string("SELECT * FROM ") + table;
        if (sqlite3_prepare_v2(db, select.c_str(), -1, &st, nullptr) != SQLITE_OK) continue;  // older schema
        std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> sg(st, sqlite3_finalize);
        const int cols = sqlite3_column_count(st);
        std::string insert = std::string("INSERT INTO ") + table + "(";
        std::string values;
        for (int i = 0; i < cols; ++i) {
            insert += (i ? "," : "") + std::string(sqlite3_column_name(st, i));
            values += (i ? ",$" : "$") + std::to_string(i + 1);
        }
        insert += ") VALUES (" + values + ")";
        while (sqlite3_step(st) == SQLITE_ROW) {
            std::vector<Param> params;
            for (int i = 0; i < cols; ++i) {
                if (sqlite3_column_type(st, i) == SQLITE_NULL) {
                    params.emplace_back(std::nullopt);
                } else {
                    const auto* t = sqlite3_column_text(st, i);
                    params.emplace_back(std::string(reinterpret_cast<const char*>(t),
                                                    static_cast<std::size_t>(sqlite3_column_bytes(st, i))));
                }
            }
            if (auto r = pg.Exec(insert, params); !r) {
                pg.Rollback();
                return Fail(Error::Internal(std::string("copying ") + table + ": " + r.error().message));
            }
            ++copied;
        }
    }
    if (auto r = pg.Simple("SELECT setval('deliveries_seq_seq', greatest((SELECT max(seq) FROM deliveries), 1))"); !r) {
        pg.Rollback();
        return Fail(r.error());
    }
    // Partitions: assigned here as for webhooks created on PostgreSQL.
    if (auto r = pg.Simple("UPDATE webhooks SET part = (hashtext(id)::bigint & 255)::int; "
                           "UPDATE deliveries d SET part = w.part FROM webhooks w WHERE w.id = d.webhook_id");
        !r) {
        pg.Rollback();
        return Fail(r.error());
    }
    // Leases of the old single node are void in the new home; its queued deliveries are queued here.
    if (auto r = pg.Simple("UPDATE deliveries SET lease_owner = NULL WHERE state = 0; "
                           "INSERT INTO pending(part, seq) SELECT part, seq FROM deliveries "
                           "WHERE state = 0 AND test = 0 AND next_at IS NOT NULL");
        !r) {
        pg.Rollback();
        return Fail(r.error());
    }
    if (auto r = pg.Commit(); !r) return Fail(r.error());
    return copied;
}

}  // namespace hookd::store
