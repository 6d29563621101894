#pragma once
// Partitioned ownership of the shared queue (SPEC §8): webhooks hash into kPartitions
// partitions; each partition is owned by one live node at a time, and only its owner
// claims and sends its deliveries.
//
// Ownership is bound to a PostgreSQL session: the owner holds a session-level advisory
// lock per partition on a dedicated connection (TCP keepalives end a silently cut
// session in seconds). When a node dies — crash, SIGKILL, network cut — its session
// ends, its locks are free at once, and the others take its partitions at their next
// turn (every `interval_ms`). Every node also holds one membership lock, so each can
// count the live nodes and aim for an even share, ceil(partitions / nodes).
//
// Per partition, a small state machine:
//   free ──acquire──▶ serving ──rebalance──▶ draining ──nothing in flight──▶ free
//     ▲                  │                       │
//     └──── session lost (both: at once, nothing more may start or be recorded)
// Acquiring bumps the partition's epoch in the `partitions` table; claims carry it and
// an outcome is recorded only while it is still the partition's epoch (fencing), so a
// cut-off node can never overwrite its successor's record. A partition is handed over
// only when its claims in flight are finished or handed back (or after `drain_max_ms`,
// when their records were lost: the successor's fence then rejects them).
//
// Thread-safety: Start/Stop from one thread; every other method from any thread.
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/time.hpp"

namespace hookd::store::postgres {

inline constexpr int kPartitions = 256;

struct OwnershipOptions {
    std::string url;                 //!< with keepalives (see WithKeepalives)
    std::string node;                //!< --node-id, recorded as the partition's owner
    DurationMs interval_ms = 500;    //!< one turn: count nodes, acquire, drain, release
    DurationMs drain_max_ms = 30'000;  //!< a draining partition is released after this anyway
};

struct OwnershipStats {
    int owned = 0;                //!< serving + draining
    int nodes = 0;                //!< live nodes seen at the last turn
    std::int64_t acquired = 0;    //!< partitions taken, since start
    std::int64_t released = 0;    //!< partitions handed over (drained), since start
    std::int64_t lost = 0;        //!< partitions lost with the session, since start
};

//! What the owner of a queue is told, on the ownership thread.
struct OwnershipEvents {
    //! Partitions taken (their epochs already current): load their pending work.
    std::function<void(const std::vector<int>&)> acquired;
    //! Partitions no longer served — draining towards a hand-over, or lost with the
    //! session: start nothing more of them (what is in flight is fenced or drained).
    std::function<void(const std::vector<int>&)> stopped;
};

class Ownership final {
public:
    Ownership(OwnershipOptions options, OwnershipEvents events);
    ~Ownership();
    Ownership(const Ownership&) = delete;
    Ownership& operator=(const Ownership&) = delete;

    //! Starts the ownership thread; returns once the first turn has run (so a single
    //! node serves at once).
    void Start();
    //! Stops taking partitions, waits up to `drain_ms` for claims in flight, then ends the
    //! session (every partition is free for the others at once).
    void Stop(DurationMs drain_ms);

    //! The partitions this node may claim for now, with their epochs.
    [[nodiscard]] std::vector<std::pair<int, std::int64_t>> Serving() const;
    //! Whether an outcome or a start under (part, epoch) is still this node's to make.
    [[nodiscard]] bool Owns(int part, std::int64_t epoch) const;
    [[nodiscard]] bool Serves(int part) const;
    //! The epoch under which this node serves `part`, or 0 when it does not serve it.
    [[nodiscard]] std::int64_t ServingEpoch(int part) const;
    //! Claims in flight, per partition (a draining partition is released at zero).
    void AddInFlight(int part, int delta);
    [[nodiscard]] OwnershipStats Stats() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace hookd::store::postgres
