#pragma once
// The shared store: several hookd nodes on one PostgreSQL. The queue is partitioned
// (postgres/ownership.hpp): a node claims only the deliveries of the partitions it owns,
// with no lock shared by the cluster; FOR UPDATE SKIP LOCKED and leases remain as a
// second line. LISTEN/NOTIFY (payload: the partitions that got work) wakes the owners
// when work is committed; ingest batches all events of a group commit into one round
// trip each for events and deliveries.
#include <memory>
#include <string>

#include "core/crypto.hpp"
#include "store/store.hpp"

namespace hookd::store {

struct PostgresOptions {
    std::string url;     //!< postgresql://user:pass@host:port/db
    int pool_size = 8;   //!< connections used by this node
    std::string node_id = "local";  //!< recorded as the owner of the partitions it takes
    DurationMs ownership_interval_ms = 500;  //!< how often partitions are counted and rebalanced
    //! Pending deliveries of a partition loaded at a time (the next window when its queue
    //! runs below half of it), so a partition with millions pending is not loaded whole.
    int load_window = 20'000;
};

//! Connects, applies pending migrations (under an advisory lock) and returns the store.
Result<std::unique_ptr<Store>> OpenPostgresStore(const PostgresOptions& options, crypto::SecretBox box);

//! Applies pending migrations only; returns the schema version reached.
Result<int> MigratePostgres(const std::string& url);

//! Copies every row of a SQLite database into an empty PostgreSQL database (same master
//! key: secrets are copied sealed). Returns the number of rows copied.
Result<std::int64_t> CopySqliteToPostgres(const std::string& sqlite_path, const std::string& pg_url);

}  // namespace hookd::store
