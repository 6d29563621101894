#pragma once
// The embedded store: one SQLite file in WAL mode.
//
// Durability: with synchronous=FULL (the default) a commit survives power loss; with
// NORMAL it survives a crash of the process but may lose the last commits on power loss.
// Writes go through one connection; concurrent Ingest calls are grouped into one
// transaction (group commit), so one fsync acknowledges many requests.
//
// One process owns the file: which pending delivery is due next is the dispatcher's
// scheduler (sched/scheduler.hpp), fed from the pending rows when it attaches and then
// with every change; claims and leases live there; the rows record events, deliveries,
// attempts and states.
#include <memory>
#include <string>

#include "core/crypto.hpp"
#include "store/store.hpp"

namespace hookd::store {

struct SqliteOptions {
    std::string path;                  //!< the database file (its folder must exist)
    std::string synchronous = "FULL";  //!< FULL (power-loss safe) or NORMAL (crash safe)
    int busy_timeout_ms = 5000;        //!< how long a write waits for a lock before kUnavailable
    //! Pending deliveries loaded into the scheduler at a time (the next window when fewer
    //! than half are left), so millions pending are never in memory at once.
    int load_window = 100'000;
};

//! Opens the database, applies pending migrations and returns the store.
Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options, crypto::SecretBox box);

//! Applies pending migrations only; returns the schema version reached.
Result<int> MigrateSqlite(const std::string& path);

}  // namespace hookd::store
