#pragma once
// The source database seen through libpq: a plain connection for checks, set-up and lag
// samples, and a `replication=database` connection for the stream. Internal to capture.
#include <libpq-fe.h>

#include <memory>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "capture/capture_map.hpp"
#include "capture/pgoutput.hpp"

namespace hookd::capture {

//! How a failure is handled.
enum class Trouble {
    kTransient,  //!< connection lost, database restarting: reconnect with backoff ("connecting")
    kBusy,       //!< another node streams the slot: retry about every second ("connecting")
    kOperator,   //!< needs an operator (wal_level, privilege, invalidated slot): "error", slow retry
    kMap,        //!< the map does not fit the source: "error"; at start-up, serve stops
};

struct SourceError {
    Trouble kind = Trouble::kTransient;
    std::string message;  //!< one line
};

template <typename T>
using SourceResult = tl::expected<T, SourceError>;
using SourceStatus = SourceResult<void>;

inline tl::unexpected<SourceError> SourceFail(Trouble kind, std::string message) {
    return tl::unexpected<SourceError>(SourceError{kind, std::move(message)});
}

//! A libpq result, freed on destruction.
using PgResult = std::unique_ptr<PGresult, decltype(&PQclear)>;

class PgSource final {
  public:
    //! Connects; `replication` opens a walsender connection (replication=database).
    static SourceResult<std::unique_ptr<PgSource>> Connect(const std::string& url, bool replication);
    ~PgSource();
    PgSource(const PgSource&) = delete;
    PgSource& operator=(const PgSource&) = delete;

    [[nodiscard]] PGconn* raw() const { return conn_; }

    //! Runs one statement with text parameters. A failure is kTransient when the connection
    //! is gone, kOperator otherwise (the statement itself failed).
    SourceResult<PgResult> Query(const std::string& sql, const std::vector<std::string>& params = {});
    //! The last error of this connection, one line.
    [[nodiscard]] std::string LastError() const;

  private:
    explicit PgSource(PGconn* conn) : conn_(conn) {}
    PGconn* conn_;
};

//! The one-line text of a result's error, and its SQLSTATE.
std::string ResultError(const PGresult* res);
std::string ResultSqlState(const PGresult* res);

//! Checks the source for the map and sets it up (SPEC §10): wal_level, the REPLICATION
//! privilege, each table, column and replica identity, the publication (created for exactly
//! the mapped tables when missing) and the slot (created with pgoutput when missing; an
//! invalidated slot is an operator error).
SourceStatus PrepareSource(PgSource& conn, const CaptureMap& map);

//! pg_current_wal_lsn() of the source.
SourceResult<Lsn> CurrentWalLsn(PgSource& conn);

}  // namespace hookd::capture
