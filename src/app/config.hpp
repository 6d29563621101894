#pragma once
// hookd's configuration: one typed struct per command, validated once at startup.
// Sources, later ones winning: the defaults below, a config file (--config FILE,
// `key = value` lines, keys as the long flag names), HOOKD_* environment variables,
// then flags. Unknown keys and bad values fail at startup with a one-line message.
#include <string>
#include <vector>

#include "cli/settings.hpp"
#include "core/result.hpp"

namespace hookd::app {

//! Flags of `hookd serve` as given (strings), before validation.
struct ServeFlags {
    std::string listen = "127.0.0.1:8080";         //!< --listen / HOOKD_LISTEN
    std::string db = "sqlite:./data/hookd.db";     //!< --db / HOOKD_DB
    bool allow_private_network = false;            //!< --allow-private-network / HOOKD_ALLOW_PRIVATE_NETWORK
    std::vector<std::string> allow_cidrs;          //!< --allow-cidr / HOOKD_ALLOW_CIDRS (comma-separated)
    std::string retry_schedule;                    //!< --retry-schedule / HOOKD_RETRY_SCHEDULE; empty = default
    std::string catalog_file;                      //!< --catalog / HOOKD_CATALOG; empty = built-in 140 entities
    std::string master_key_file;                   //!< --master-key-file / HOOKD_MASTER_KEY_FILE; default <data>/master.key
    std::string sqlite_synchronous = "FULL";       //!< --sqlite-synchronous / HOOKD_SQLITE_SYNCHRONOUS: FULL or NORMAL
    std::string metrics_token;                     //!< --metrics-token / HOOKD_METRICS_TOKEN; empty = open
    int max_in_flight = 512;                       //!< --max-in-flight / HOOKD_MAX_IN_FLIGHT: global request limit
    std::string lease = "30s";                     //!< --lease / HOOKD_LEASE: claim lease (renewed while held)
    std::string drain_timeout = "10s";             //!< --drain-timeout / HOOKD_DRAIN_TIMEOUT: SIGTERM drain
    double api_rate_limit = 1000;                  //!< --api-rate-limit / HOOKD_API_RATE_LIMIT: requests/s per token (0 = off)
    std::string ca_file;                           //!< --ca-file / HOOKD_CA_FILE: CA bundle for outbound TLS
    std::string retention = "30d";                 //!< --retention / HOOKD_RETENTION: delivery history kept
    std::string purge_interval = "60s";            //!< --purge-interval / HOOKD_PURGE_INTERVAL: retention sweep period
    std::string auto_disable_after = "5d";         //!< --auto-disable-after / HOOKD_AUTO_DISABLE_AFTER (0s = never)
    std::string busy_timeout = "5s";               //!< --sqlite-busy-timeout / HOOKD_SQLITE_BUSY_TIMEOUT: then 503
    std::string node_id;                           //!< --node-id / HOOKD_NODE_ID; default host:port
    std::string log_level = "info";                //!< --log-level / HOOKD_LOG_LEVEL
    std::string log_format = "text";               //!< --log-format / HOOKD_LOG_FORMAT: text or json (one object a line)
    std::string operator_token_file;               //!< --operator-token-file / HOOKD_OPERATOR_TOKEN_FILE; HOOKD_OPERATOR_TOKEN wins
    int handler_threads = 8;                       //!< --handler-threads / HOOKD_HANDLER_THREADS
    std::string client_timeout = "30s";            //!< --client-timeout / HOOKD_CLIENT_TIMEOUT: slow clients are cut off
    int max_connections = 10'000;                  //!< --max-connections / HOOKD_MAX_CONNECTIONS: more are closed at once
    std::string capture;                           //!< --capture / HOOKD_CAPTURE: source postgresql:// URL; empty = off
    std::string capture_map;                       //!< --capture-map / HOOKD_CAPTURE_MAP: map file, needed with --capture
};

//! One setting of a config file: `key = value` on line `line`.
struct ConfigEntry {
    std::string key;    //!< a long flag name without the dashes, e.g. "retry-schedule"
    std::string value;  //!< without surrounding whitespace and one pair of quotes
    int line = 0;       //!< 1-based
};

//! Reads a config file: `key = value` lines, blank lines and comment lines (first
//! non-blank character `#`). A value may be wrapped in double or single quotes (kept
//! literally otherwise, `#` included). Does not know which keys exist: the caller checks
//! them against its flags. Errors, one line naming the file (and line): the file cannot
//! be read, a line is not `key = value`, a key appears twice.
[[nodiscard]] Result<std::vector<ConfigEntry>> ReadConfigFile(const std::string& path);

//! Checks every value; the error message is one line naming the flag.
[[nodiscard]] Result<cli::ServeSettings> Validate(const ServeFlags& flags);

}  // namespace hookd::app
