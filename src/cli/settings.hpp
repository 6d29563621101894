#pragma once
// What the subcommands run with: serve's settings (validated by the caller, from
// flags, HOOKD_* variables and the config file), and where a --db URL points.
#include <optional>
#include <string>

#include "core/address_guard.hpp"
#include "core/result.hpp"
#include "core/retry_schedule.hpp"
#include "core/time.hpp"

namespace hookd::cli {

//! The validated settings `serve` runs with.
struct ServeSettings {
    std::string host;
    unsigned short port = 8080;
    std::string sqlite_path;   //!< the SQLite file, when the store is SQLite
    std::string postgres_url;  //!< the PostgreSQL URL, when the store is PostgreSQL
    std::string data_dir;      //!< master key and operator token live here (the SQLite file's folder, or ./data)
    AddressPolicy policy;
    RetrySchedule schedule = RetrySchedule::Default();
    std::string catalog_file;
    std::string master_key_file;
    std::string sqlite_synchronous;
    std::string metrics_token;
    int max_in_flight = 512;
    DurationMs lease_ms = 30'000;
    DurationMs drain_ms = 10'000;
    double api_rate_limit = 1000;
    std::string ca_file;
    DurationMs retention_ms = 30LL * 86'400'000;
    DurationMs purge_interval_ms = 60'000;
    DurationMs auto_disable_after_ms = 5LL * 86'400'000;
    int busy_timeout_ms = 5000;
    std::string node_id;
    std::string log_level;
    bool log_json = false;     //!< --log-format json
    int handler_threads = 8;
    int client_timeout_ms = 30'000;
    int max_connections = 10'000;
    std::optional<std::string> operator_token;  //!< HOOKD_OPERATOR_TOKEN, else the --operator-token-file's content
    std::string operator_token_source;          //!< where operator_token came from (for the start-up log)
    std::optional<std::string> master_key_env;  //!< HOOKD_MASTER_KEY
    std::string capture_url;       //!< --capture: the source database; empty = change capture off
    std::string capture_map_file;  //!< --capture-map: the capture map (SPEC §10), set with capture_url
};

//! Where a --db URL points, and the folder `serve` keeps the master key and the
//! operator token in when no flag says otherwise.
struct DbLocation {
    std::string sqlite_path;   //!< the SQLite file, for sqlite:PATH
    std::string postgres_url;  //!< the URL, for postgres://... and postgresql://...
    std::string data_dir;      //!< the SQLite file's folder (or "."), or ./data for PostgreSQL
};

//! Errors, one line naming --db: another scheme, an empty SQLite path.
[[nodiscard]] Result<DbLocation> ParseDbUrl(const std::string& url);
//! "sqlite:PATH" or "sqlite://PATH" → PATH. Errors for other schemes.
[[nodiscard]] Result<std::string> SqlitePathFromUrl(const std::string& url);
[[nodiscard]] bool IsPostgresUrl(const std::string& url);

}  // namespace hookd::cli
