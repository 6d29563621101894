#pragma once
// Change capture: streams the source PostgreSQL's committed changes of the mapped tables
// through logical replication (pgoutput) and accepts each row change as one event in
// hookd's store (SPEC §10).
//
// Exactly-once acceptance: the events of a source transaction are committed in chunks of
// at most CaptureOptions::chunk_rows row changes, one Ingest request per site and chunk with
// the idempotency key "capture:<system id>:<commit LSN>:<chunk>" (Store::IngestMany: small
// transactions arriving back to back share one group commit, each keeping its own keys).
// The slot's confirmed flush position moves past a transaction only after all its chunks
// are committed. A transaction replayed after a crash (of hookd, of either database, or of
// the node that streamed it) yields the same chunks and keys, so each is accepted once. Chunk boundaries depend only
// on the transaction's content (every kChunkRows row changes), so kChunkRows is part of the
// key's meaning: changing it in a running deployment could accept a replayed chunk twice.
//
// Thread-safety: Prepare/Start/Stop from one thread; State from any.
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "capture/capture_map.hpp"
#include "core/capture_status.hpp"
#include "core/time.hpp"
#include "store/store.hpp"

namespace hookd::capture {

//! Row changes per Ingest call of one source transaction (bounds memory; part of the key).
inline constexpr std::size_t kChunkRows = 5000;

struct CaptureOptions {
    std::string url;  //!< postgresql://USER@HOST:PORT/DB of the source database
    CaptureMap map;
    DurationMs status_interval_ms = 1000;  //!< standby status updates at least this often
    DurationMs lag_interval_ms = 1000;     //!< how often the source's WAL position is sampled
    DurationMs busy_retry_ms = 1000;       //!< retry while another node streams the slot
    DurationMs min_backoff_ms = 250;       //!< reconnect backoff after a failure, doubling...
    DurationMs max_backoff_ms = 5000;      //!< ...up to this
    DurationMs error_retry_ms = 10'000;    //!< retry after an error an operator must fix
    DurationMs batch_wait_ms = 2;          //!< longest a committed-ready transaction waits for the next
    std::size_t chunk_rows = kChunkRows;
};

//! Called after each commit of events (for metrics and to wake the dispatcher).
using AcceptedFn = std::function<void(std::size_t events, std::size_t deliveries)>;

class Capture final {
  public:
    Capture(store::Store& store, const Clock& clock, CaptureOptions options, AcceptedFn on_accepted);
    ~Capture();
    Capture(const Capture&) = delete;
    Capture& operator=(const Capture&) = delete;

    //! Checks the source once, before serving: the map against the source's tables and
    //! columns (replica identity included) and the publication, creating the slot and the
    //! publication when missing. Errors with kInvalid (one line, naming the table or column
    //! and the SQL that fixes it) for a map the source cannot serve: `serve` stops then.
    //! Anything else (source unreachable, wal_level, privileges) is returned as kUnavailable
    //! and left to the streaming thread, which keeps retrying and shows it in Status.
    hookd::Status Prepare();

    //! Starts the streaming thread.
    void Start();
    //! Stops after the commit under way, sends a last status update, and joins.
    void Stop();

    [[nodiscard]] CaptureStatus State() const;

    class Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace hookd::capture
