#pragma once
// The scheduler: which pending delivery is sent next, and when it may start. One component
// for both stores and every node: the single node on its embedded store, and each
// partition owner on the shared store, schedule with the same code.
//
// The dispatcher owns it; the store feeds it (Attach): the pending deliveries it loads or
// writes (Add), those made due again by a retry or a replay (Requeue), webhooks disabled,
// enabled or deleted, partitions handed over or lost (RemovePartition). The store then only
// stores rows: a claim is the scheduler's pick plus one read of the picked rows.
//
// Two halves, one lock:
// - The queue. Per webhook a min-heap of (due, seq); claims go round-robin across webhooks
//   that are enabled, not paused and whose buffer has room, so a backlog behind one
//   webhook is never scanned for another. Entity ordering: the pending deliveries of one
//   (webhook, order key) form a chain in seq order; only its head is ever in the heap or
//   claimed, the next one enters the heap when the head reaches a final state (Finish).
//   A claim is a lease, held until its outcome is recorded or until it runs out.
// - The gate. What may start now: per webhook at most `max_in_flight` requests, a token
//   bucket for `rateLimitPerSecond`, a pause for Retry-After; overall at most
//   `global_max_in_flight` requests, of which at most `busy_max_in_flight` younger than
//   `slow_after_ms` (the busy window: fast receivers share it; a request unanswered that
//   long leaves it, so hanging receivers cannot take it from healthy ones). Ready claims
//   start round-robin across webhooks, one per webhook per turn.
//
// Thread-safe (one mutex; the store calls in from its threads, the dispatcher from its
// own). Memory: about 16 bytes per queued delivery (plus the order key for entity-ordered
// webhooks, plus ~40 bytes with idempotent adds).
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/time.hpp"

namespace hookd::sched {

struct Entry {
    std::int64_t seq = 0;
    std::string webhook;
    TimeMs due = 0;
    std::optional<std::string> order_key;
    int part = 0;  //!< the webhook's partition (shared store); 0 on the embedded store
};

//! One webhook's sending limits (from its stored settings).
struct Limits {
    int max_in_flight = 1;
    std::optional<double> rate_per_second;
};

struct SchedulerOptions {
    //! Add ignores a delivery it already queues or holds (the shared store: a delivery may
    //! be announced twice, by its own ingest and by a reload).
    bool idempotent_adds = false;
    int global_max_in_flight = 512;
    int busy_max_in_flight = 64;
    DurationMs slow_after_ms = 10;
    //! Claims held (not yet started) per webhook: max_in_flight × this, and this many × 8
    //! for a webhook whose limits are not known yet; 0 = unbounded (the store's own tests
    //! and benchmarks, which claim without starting).
    int buffer_per_slot = 4;
};

class Scheduler final {
public:
    explicit Scheduler(SchedulerOptions options = {});
    ~Scheduler();
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    // --- fed by the store -------------------------------------------------------------
    //! A pending delivery that is not claimed (new, or loaded).
    void Add(Entry e);
    void Add(std::vector<Entry> entries);
    //! Makes pending deliveries due at their `due` (retry, replay): moves them if queued;
    //! leaves claimed ones alone and returns their seqs.
    std::vector<std::int64_t> Requeue(std::vector<Entry> entries);
    void SetEnabled(const std::string& webhook, bool enabled);
    //! The webhook is gone with its pending deliveries.
    void RemoveWebhook(const std::string& webhook);
    //! Forgets every webhook of partition `part` (handed over or lost) with its queued and
    //! claimed deliveries: nothing of it is claimed or started again, and a reload can queue
    //! them all again. Requests already in flight still end (Ended).
    void RemovePartition(int part);
    [[nodiscard]] bool Held(std::int64_t seq) const;
    //! Queued (not claimed) deliveries of partition `part` (windowed loading tops it up).
    [[nodiscard]] std::size_t QueuedIn(int part) const;

    // --- claims (the store's Claim) --------------------------------------------------
    //! Leases up to `limit` due deliveries, round-robin across webhooks whose buffer has
    //! room, that are enabled and not paused; expired leases first.
    std::vector<std::int64_t> Claim(TimeMs now, DurationMs lease_ms, int limit);
    void Renew(std::span<const std::int64_t> seqs, TimeMs until);
    //! The claim ends: pending again at `due` (retry, or a row that is not due yet), or
    //! final (nullopt: succeeded, failed, cancelled; the next of its chain becomes due).
    void Finish(std::int64_t seq, std::optional<TimeMs> due);
    //! Every claim is due again at `now`; returns how many.
    std::int64_t ReleaseAll(TimeMs now);
    //! The earliest due time among queued deliveries of enabled webhooks.
    [[nodiscard]] std::optional<TimeMs> NextDue() const;
    [[nodiscard]] std::size_t queued() const;
    [[nodiscard]] std::size_t held() const;

    // --- starts (the dispatcher) -----------------------------------------------------
    //! The webhook's limits; a change of rate refills its bucket.
    void SetLimits(const std::string& webhook, Limits limits, TimeMs now);
    //! Starts nothing for the webhook before `until` (Retry-After).
    void Pause(const std::string& webhook, TimeMs until);
    //! A claimed delivery whose row is in hand: started by NextStart when the limits allow.
    //! False when it is no longer held (its partition or webhook went meanwhile).
    bool Ready(std::int64_t seq);
    //! The next ready delivery that may start now (round-robin, one per webhook per turn),
    //! counted in flight from `now`; nullopt when none may.
    std::optional<std::int64_t> NextStart(TimeMs now);
    //! Its request ended (the outcome is recorded later: it stays held until Finish).
    void Ended(std::int64_t seq);
    //! Ready claims of webhooks disabled or deleted since: to give back to the store.
    std::vector<std::int64_t> TakeUnstartable();
    //! Claims dropped before they started (their partition or webhook went): whoever holds
    //! their rows lets go of them (they may be queued and claimed again).
    std::vector<std::int64_t> TakeVanished();
    //! Whether another request may start now (global limit and busy window).
    [[nodiscard]] bool Room(TimeMs now);
    //! When something not startable now may become startable without an event: a token
    //! refill, a pause ending, the oldest busy request leaving the window. INT64_MAX if never.
    [[nodiscard]] TimeMs NextStartAt(TimeMs now);
    [[nodiscard]] std::size_t ready() const;
    [[nodiscard]] std::size_t in_flight() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace hookd::sched
