#pragma once
// The embedded store's queue index: which pending delivery is due next, kept in memory.
//
// One process owns a SQLite database, so there is no need to ask the database which
// delivery to send next, nor to write a lease into it: the rows record what happened
// (events, deliveries, attempts, states) and this index, rebuilt from the pending rows
// at start, says what to do next. A claim is then a few heap operations instead of an
// UPDATE over an index, and a crash loses nothing: every row still pending is due again
// when the index is rebuilt.
//
// Per webhook a min-heap of (due, seq); claims go round-robin across webhooks that are
// enabled and not skipped, so a backlog behind one webhook is never scanned for another.
// Entity ordering: the pending deliveries of one (webhook, order key) form a chain in
// seq order; only its head is ever in the heap or claimed, the next one enters the heap
// when the head reaches a final state.
//
// Claims are leases, as in the shared store: a claimed delivery is held until its
// outcome is recorded, or until `lease_until`, after which a claim may hand it out again.
//
// Used by both stores: the embedded store keeps every pending delivery here; on the shared
// store each node keeps the pending deliveries of the partitions it owns (their webhooks
// carry the partition, so a partition handed over is dropped in one call), and adds are
// idempotent there, because the same delivery can be announced twice (its own ingest and a
// reload after a missed notification).
//
// Not thread-safe: the store serialises access. Memory: about 16 bytes per pending
// delivery (plus the order key for entity-ordered webhooks, plus ~40 bytes with
// idempotent adds).
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/domain.hpp"
#include "core/time.hpp"

namespace hookd::store::common {

class DueQueue final {
public:
    struct Entry {
        std::int64_t seq = 0;
        std::string webhook;
        TimeMs due = 0;
        std::optional<std::string> order_key;
        int part = 0;  //!< the webhook's partition (shared store); 0 on the embedded store
    };

    //! `idempotent_adds`: Add ignores a delivery it already queues or holds (costs a set).
    explicit DueQueue(bool idempotent_adds = false) : idempotent_(idempotent_adds) {}

    //! A pending delivery that is not claimed (new, or loaded at start).
    void Add(Entry e);
    //! Makes pending deliveries due at their `due` (retry, replay): moves them if they are
    //! already queued; leaves claimed ones alone. Returns the seqs it left alone.
    std::vector<std::int64_t> Requeue(std::vector<Entry> entries);

    //! Leases up to `limit` due deliveries of enabled, not skipped webhooks, round-robin
    //! across webhooks; expired leases first.
    std::vector<std::int64_t> Claim(TimeMs now, DurationMs lease_ms, int limit, std::span<const WebhookId> skip);
    [[nodiscard]] bool Held(std::int64_t seq) const { return held_.contains(seq); }
    void Renew(std::span<const std::int64_t> seqs, TimeMs until);
    //! Records the outcome of a claimed delivery: pending again at `due`, or final.
    void Finish(std::int64_t seq, std::optional<TimeMs> due);
    //! Every claimed delivery is due again at `now`; returns how many.
    std::int64_t ReleaseAll(TimeMs now);

    void SetEnabled(const std::string& webhook, bool enabled);
    //! The webhook is gone with its pending deliveries.
    void RemoveWebhook(const std::string& webhook);
    //! Forgets every webhook of partition `part` (handed over or lost) with its queued and
    //! claimed deliveries: nothing of it is claimed again, the outcomes of its claims still
    //! out change nothing here, and a reload can queue them all again.
    void RemovePartition(int part);
    //! Whether the delivery is queued or held (idempotent mode only; false otherwise).
    [[nodiscard]] bool Contains(std::int64_t seq) const { return members_.contains(seq) || held_.contains(seq); }

    //! The earliest due time among queued deliveries of enabled webhooks.
    [[nodiscard]] std::optional<TimeMs> NextDue() const;
    [[nodiscard]] std::size_t queued() const { return queued_; }
    [[nodiscard]] std::size_t held() const { return held_.size(); }

private:
    struct Item {
        TimeMs due = 0;
        std::int64_t seq = 0;
    };
    struct Hook {
        std::string id;
        int part = 0;
        std::vector<Item> heap;  // min-heap by (due, seq)
        std::unordered_map<std::string, std::deque<Item>> chains;  // order key → pending, head first
        std::unordered_map<std::int64_t, std::string> heads;        // chain heads (queued or held) → key
        bool active = false;  // in active_
    };
    struct Lease {
        std::string webhook;
        std::optional<std::string> order_key;
        TimeMs until = 0;
    };

    Hook& HookFor(const std::string& webhook, int part);
    void Forget(Hook& h);
    void Push(Hook& h, Item item);
    Item Pop(Hook& h);
    //! Advances the chain after its head `seq` reached a final state.
    void AdvanceChain(Hook& h, const std::string& key, std::int64_t seq);

    std::unordered_map<std::string, std::unique_ptr<Hook>> hooks_;
    std::vector<Hook*> active_;  // webhooks whose heap may be non-empty
    std::size_t cursor_ = 0;     // round-robin start
    std::unordered_map<std::int64_t, Lease> held_;
    std::unordered_set<std::string> disabled_;
    std::size_t queued_ = 0;     // items in heaps
    bool idempotent_ = false;
    std::unordered_set<std::int64_t> members_;  // idempotent mode: queued (heap or chain), not held
    TimeMs earliest_lease_ = INT64_MAX;
};

}  // namespace hookd::store::common
