#pragma once
// The store: hookd's only durable state, and the delivery queue (rows, not a broker).
// One interface, two implementations: SQLite (sqlite/, the embedded default, one process
// per file) and PostgreSQL (postgres/, shared by several nodes).
//
// Thread-safety: every method may be called from any thread.
// Errors: kNotFound for a missing resource (scoped by site), kConflict for a duplicate,
// kUnavailable when the database cannot commit (busy past the timeout, disk full,
// read-only), kInternal otherwise.
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/crypto.hpp"
#include "core/domain.hpp"
#include "core/health.hpp"
#include "core/result.hpp"
#include "sched/scheduler.hpp"

namespace hookd::store {

//! Stored as 0..2 (on-disk format: never renumber).
enum class Role : std::uint8_t { kOperator = 0, kAdmin = 1, kPublisher = 2 };
[[nodiscard]] std::string_view ToString(Role r);
[[nodiscard]] std::optional<Role> ParseRole(std::string_view s);

struct Site {
    SiteId id;
    std::string name;
    TimeMs created_at = 0;
};

struct Token {
    TokenId id;
    std::optional<SiteId> site;  //!< nullopt for operator tokens
    Role role = Role::kAdmin;
    std::string name;
    TimeMs created_at = 0;
};

//! Cursor pagination, newest first (sites: in id order). `cursor` is the last id of the
//! previous page.
struct PageRequest {
    std::optional<std::string> cursor;
    int limit = 50;
};

template <typename T>
struct Page {
    std::vector<T> items;
    std::optional<std::string> next_cursor;
};

struct DeliveryFilter {
    std::optional<DeliveryState> state;
    std::optional<TimeMs> since;  //!< created_at >= since
    std::optional<TimeMs> until;  //!< created_at < until
};

struct IngestResult {
    std::vector<EventId> ids;  //!< in request order
    std::size_t deliveries = 0;
    bool replayed = false;  //!< answered from the idempotency record
};

//! A delivery claimed for sending. The claim is a lease held by the claiming node until
//! `now + lease_ms` of the Claim call, extended by the scheduler's Renew; an expired lease makes
//! the delivery due again.
struct Claimed {
    Delivery delivery;  //!< without attempts
    std::int64_t seq = 0;
    TimeMs webhook_updated_at = 0;
    //! Shared store: the delivery's partition and the ownership epoch it was claimed
    //! under (its fence); 0 where there is no partitioning (embedded store, test messages).
    std::int32_t part = 0;
    std::int64_t fence = 0;
};

//! The outcome of one attempt, to be recorded with the delivery's new state.
struct Outcome {
    std::int64_t seq = 0;
    Attempt attempt;
    DeliveryState state = DeliveryState::kPending;  //!< pending = retry at next_attempt_at
    std::optional<TimeMs> next_attempt_at;
    std::optional<std::string> disable_webhook_reason;  //!< set to disable the webhook now (410)
    WebhookId webhook_id;
    std::string lease_owner;  //!< the node that claimed it; empty for test messages
    std::int32_t part = 0;    //!< as claimed (Claimed::part)
    std::int64_t fence = 0;   //!< as claimed (Claimed::fence): recorded only while still current
    //! When the attempt failed: disable the webhook if every attempt since this long ago
    //! failed (auto-disable). 0 = never.
    DurationMs auto_disable_after_ms = 0;
};

//! Who changed what, when (the audit log, readable by the site's admins).
struct AuditEntry {
    std::string id;      //!< "aud_…", time-ordered
    SiteId site;
    TimeMs at = 0;
    std::string actor;   //!< token id, or "operator" for HOOKD_OPERATOR_TOKEN
    std::string action;  //!< e.g. "webhook.create", "webhook.rotate_secret"
    std::string target;  //!< the id acted on
    std::string detail;  //!< JSON object text: what changed (never a secret)
};

struct QueueStats {
    std::int64_t pending = 0;
    //! created_at of the oldest pending delivery of an enabled webhook with no attempt yet.
    std::optional<TimeMs> oldest_unattempted_at;
    //! Shared store only: this node's share of the partitioned queue.
    std::optional<int> partitions_owned;
    int nodes = 0;                      //!< live nodes seen
    std::int64_t partitions_acquired = 0;  //!< since start
    std::int64_t partitions_released = 0;  //!< handed over after draining, since start
    std::int64_t partitions_lost = 0;      //!< lost with the ownership session, since start
};

//! One webhook's health: its hourly attempt counters and since when it has been failing.
struct WebhookHealth {
    WebhookId webhook_id;
    std::optional<TimeMs> failing_since;  //!< every attempt since then failed; nullopt while healthy
    std::vector<health::Hour> hours;      //!< hours with attempts, oldest first
};

class Store {
public:
    virtual ~Store() = default;

    // --- sites and tokens ---
    virtual Status CreateSite(const Site& site) = 0;
    virtual Result<Site> GetSite(const SiteId& id) = 0;
    virtual Result<Page<Site>> ListSites(const PageRequest& page) = 0;
    //! `hash` is the SHA-256 hex of the token's secret; the secret itself is never stored.
    virtual Status CreateToken(const Token& token, std::string_view hash) = 0;
    //! The live (not revoked) token with this hash.
    virtual Result<Token> FindToken(std::string_view hash) = 0;
    virtual Result<Page<Token>> ListTokens(const SiteId& site, const PageRequest& page) = 0;
    virtual Status RevokeToken(const SiteId& site, const TokenId& id, TimeMs now) = 0;
    virtual Result<bool> HasOperatorToken() = 0;

    // --- webhooks ---
    virtual Status CreateWebhook(const Webhook& webhook) = 0;
    virtual Result<Webhook> GetWebhook(const SiteId& site, const WebhookId& id) = 0;
    //! Any site; for the dispatcher's cache.
    virtual Result<Webhook> GetWebhookById(const WebhookId& id) = 0;
    virtual Result<Page<Webhook>> ListWebhooks(const SiteId& site, const PageRequest& page) = 0;
    virtual Status UpdateWebhook(const Webhook& webhook) = 0;
    //! Deletes the webhook and cancels its pending deliveries.
    virtual Status DeleteWebhook(const SiteId& site, const WebhookId& id, TimeMs now) = 0;
    //! Disables a webhook unless it is already disabled (auto-disable, 410 Gone).
    virtual Status DisableWebhook(const WebhookId& id, std::string_view reason, TimeMs now) = 0;

    // --- audit log ---
    virtual Status AppendAudit(const AuditEntry& entry) = 0;
    virtual Result<Page<AuditEntry>> ListAudit(const SiteId& site, const PageRequest& page) = 0;

    //! Re-encrypts every secret with `new_box` and records the new key's check value,
    //! in one transaction. Afterwards the store uses the new key.
    virtual Status Rekey(const crypto::SecretBox& new_box) = 0;

    // --- events ---
    //! Durably commits the events and one pending delivery per matching enabled webhook
    //! of the site, in one transaction (grouped with concurrent callers). Returns only
    //! after the commit. With an idempotency key already seen for the site, returns the
    //! first call's ids and writes nothing.
    virtual Result<IngestResult> Ingest(const SiteId& site, std::vector<ChangeEvent> events,
                                        std::optional<std::string> idempotency_key, TimeMs now) = 0;

    // --- deliveries, for the API ---
    virtual Result<Page<Delivery>> ListDeliveries(const SiteId& site, const WebhookId& webhook,
                                                  const DeliveryFilter& filter, const PageRequest& page) = 0;
    virtual Result<Delivery> GetDelivery(const SiteId& site, const DeliveryId& id) = 0;  //!< with attempts
    //! Makes the delivery pending and due now (also a succeeded, failed or cancelled one),
    //! keeping its attempt count. A delivery claimed right now (in flight) is left alone and
    //! returned as it is: its outcome is about to be recorded.
    virtual Result<Delivery> RetryDelivery(const SiteId& site, const DeliveryId& id, TimeMs now) = 0;
    //! Makes every delivery of the webhook matching `filter` pending and due now, except test
    //! messages and deliveries claimed right now; returns how many it changed.
    virtual Result<std::int64_t> Replay(const SiteId& site, const WebhookId& webhook, const DeliveryFilter& filter,
                                        TimeMs now) = 0;
    //! Records a test message as a delivery that the dispatcher will not pick up.
    virtual Result<Claimed> CreateTestDelivery(const Webhook& webhook, EventType type, std::string_view entity,
                                               const EntityId& entity_id, TimeMs now) = 0;

    // --- the queue, for the dispatcher ---
    //! Feeds `scheduler` (sched/scheduler.hpp) from now on: loads the pending deliveries
    //! (the embedded store: all of them; the shared store: those of the partitions this
    //! node serves, and of those it takes later), and tells it of every delivery written,
    //! retried or replayed and of webhooks disabled, enabled or deleted. nullptr detaches:
    //! once that call returns, the previous scheduler is never used again. Without a
    //! scheduler, nothing is claimed.
    virtual void Attach(sched::Scheduler* scheduler) = 0;
    //! Leases up to `limit` due deliveries: the attached scheduler's pick (its order and
    //! limits), with their rows; a picked delivery whose row is no longer pending and due
    //! (finished, cancelled, rescheduled meanwhile) is not returned. A lease that is not
    //! completed by `now + lease_ms` makes the delivery due again.
    virtual Result<std::vector<Claimed>> Claim(std::string_view node, TimeMs now, DurationMs lease_ms, int limit) = 0;
    //! Records attempts and new states in one transaction, and ends their claims in the
    //! scheduler. Tracks, per webhook, since when every attempt failed; a success clears
    //! it; counts each recorded attempt in its webhook's hour (health::KindOf the new
    //! state, at the attempt's start time). Returns the webhooks it auto-disabled.
    virtual Result<std::vector<WebhookId>> Complete(std::span<const Outcome> outcomes, TimeMs now) = 0;
    //! Gives back claims `node` holds on `seqs` without an attempt (the webhook was disabled
    //! or deleted since the claim): they are pending and due at `now` again, claimable as
    //! soon as their webhook is. Deliveries no longer pending or no longer held are left alone.
    virtual Status ReleaseClaims(std::string_view node, std::span<const std::int64_t> seqs, TimeMs now) = 0;
    //! Registers a callback run (on a thread of the store's) when another process commits
    //! new work (PostgreSQL LISTEN/NOTIFY). An empty function unsubscribes: once that call
    //! returns, the previous callback is never run again, so its owner may be destroyed.
    //! The embedded store has no other writers and never calls it.
    virtual void OnNewWork(std::function<void()> wake) { (void)wake; }
    //! Whether a claimed delivery may still be started by this node: on the shared store,
    //! only while this node still owns its partition under the claim's epoch.
    [[nodiscard]] virtual bool MayStart(const Claimed& claimed) const {
        (void)claimed;
        return true;
    }
    //! Makes every claim due now (a single node's restart, a node stopping) and returns how many.
    virtual Result<std::int64_t> ReleaseLeases(std::string_view node, TimeMs now) = 0;
    virtual Result<QueueStats> Stats() = 0;
    //! The health of the site's webhooks, or of `webhook` only, in webhook id order: hours
    //! starting at or after `since`. Complete keeps the counters (one row per webhook and
    //! hour), so the cost depends on webhooks × hours, not on deliveries. kNotFound when
    //! `webhook` is not one of the site's.
    virtual Result<std::vector<WebhookHealth>> GetHealth(const SiteId& site, const std::optional<WebhookId>& webhook,
                                                         TimeMs since) = 0;
    //! Deletes up to `batch` final deliveries (and their attempts) created before `before`,
    //! and the hourly counters of hours that ended before it.
    virtual Result<std::int64_t> Purge(TimeMs before, int batch) = 0;
    //! Checks that the master key opens this database's secrets (recording a check
    //! value on first use). Errors with a clear message when the key is wrong.
    virtual Status VerifyMasterKey() = 0;
    //! Whether the database answers.
    virtual bool Ping() = 0;

    // --- change capture (added with issue 14) ---
    //! Several Ingest calls committed together: queued in order into one group commit (one
    //! transaction), each answered as Ingest would answer it (its own idempotency key, its
    //! own failure). Lets change capture commit many small source transactions at the cost
    //! of one. The default runs them one after another.
    struct IngestRequest {
        SiteId site;
        std::vector<ChangeEvent> events;
        std::optional<std::string> idempotency_key;
    };
    virtual std::vector<Result<IngestResult>> IngestMany(std::vector<IngestRequest>& requests, TimeMs now) {
        std::vector<Result<IngestResult>> out;
        out.reserve(requests.size());
        for (auto& r : requests) out.push_back(Ingest(r.site, std::move(r.events), r.idempotency_key, now));
        return out;
    }
};

}  // namespace hookd::store
