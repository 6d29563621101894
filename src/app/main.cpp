// hookd: one binary, several subcommands (SPEC.md §6).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#ifdef HOOKD_WITH_MIMALLOC
#include <mimalloc.h>
#endif

#include "app/config.hpp"
#include "cli/commands.hpp"

namespace {

// Which malloc serves the process (shown by --version; see the HOOKD_MIMALLOC build option).
std::string Allocator() {
#ifdef HOOKD_WITH_MIMALLOC
    const int v = mi_version();  // e.g. 209
    return "mimalloc " + std::to_string(v / 100) + "." + std::to_string(v / 10 % 10) + "." + std::to_string(v % 10);
#else
    return "system malloc";
#endif
}

// Applies the config file at `path` to the options of `cmd` that neither a flag nor a
// HOOKD_* variable set (file < environment < flags). Every key must be a long flag of
// `cmd`, or of `serve` (skipped by the other subcommands, so one file serves them all).
// Returns the entries used, or a one-line error naming the file, line and key.
hookd::Result<std::vector<hookd::app::ConfigEntry>> ApplyConfigFile(CLI::App& cmd, const std::string& path,
                                                                    const CLI::App& serve) {
    using hookd::Error;
    using hookd::Fail;
    auto entries = hookd::app::ReadConfigFile(path);
    if (!entries) return Fail(entries.error());
    std::vector<hookd::app::ConfigEntry> used;
    for (const auto& e : *entries) {
        const std::string at = "--config " + path + " line " + std::to_string(e.line) + ": ";
        const std::string flag = "--" + e.key;
        const bool settable = e.key != "config" && e.key != "help";
        CLI::Option* opt = settable ? cmd.get_option_no_throw(flag) : nullptr;
        if (!opt) {
            if (settable && serve.get_option_no_throw(flag)) continue;
            return Fail(Error::Invalid(at + "unknown key '" + e.key + "'"));
        }
        if (opt->count() > 0) continue;
        try {
            opt->add_result(e.value);
            opt->run_callback();
        } catch (const CLI::ParseError&) {
            return Fail(Error::Invalid(at + e.key + ": bad value '" + e.value + "'"));
        }
        used.push_back(e);
    }
    return used;
}

// Reads --config (when given) into `cmd`; prints the one-line error and returns false on failure.
bool LoadConfig(CLI::App& cmd, const std::string& path, const CLI::App& serve,
                std::vector<hookd::app::ConfigEntry>* used = nullptr) {
    if (path.empty()) return true;
    auto r = ApplyConfigFile(cmd, path, serve);
    if (!r) {
        std::fprintf(stderr, "hookd %s: %s\n", cmd.get_name().c_str(), r.error().message.c_str());
        return false;
    }
    if (used) *used = std::move(*r);
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace hookd;
    CLI::App app{"hookd " HOOKD_VERSION " - durable, signed webhook delivery", "hookd"};
    app.set_version_flag("--version", "hookd " HOOKD_VERSION " (" + Allocator() + ")");
    app.require_subcommand(1);

    app::ServeFlags flags;
    std::string serve_config, migrate_config, rekey_config;
    auto* serve = app.add_subcommand("serve", "Run the service (API, admin page and delivery)");
    serve->add_option("--config", serve_config,
                      "Config file: key = value lines, keys as the long flags; HOOKD_* and flags win over it");
    serve->add_option("--listen", flags.listen, "HOST:PORT to listen on")->envname("HOOKD_LISTEN")->capture_default_str();
    serve->add_option("--db", flags.db, "sqlite:PATH (or postgresql://...)")->envname("HOOKD_DB")->capture_default_str();
    serve->add_flag("--allow-private-network", flags.allow_private_network,
                    "Allow payload URLs on loopback/private networks (development, tests)")
        ->envname("HOOKD_ALLOW_PRIVATE_NETWORK");
    serve->add_option("--allow-cidr", flags.allow_cidrs, "Allow this CIDR despite the SSRF guard (repeatable)")
        ->envname("HOOKD_ALLOW_CIDRS");
    serve->add_option("--retry-schedule", flags.retry_schedule, "Delays before each attempt, e.g. 0s,5s,30s,2m")
        ->envname("HOOKD_RETRY_SCHEDULE");
    serve->add_option("--catalog", flags.catalog_file, "Entity catalogue JSON file replacing the built-in one")
        ->envname("HOOKD_CATALOG");
    serve->add_option("--master-key-file", flags.master_key_file, "Master key file (default: next to the database)")
        ->envname("HOOKD_MASTER_KEY_FILE");
    serve->add_option("--sqlite-synchronous", flags.sqlite_synchronous, "FULL (power-loss safe) or NORMAL")
        ->envname("HOOKD_SQLITE_SYNCHRONOUS")
        ->capture_default_str();
    serve->add_option("--metrics-token", flags.metrics_token, "Bearer token required by /metrics")
        ->envname("HOOKD_METRICS_TOKEN");
    serve->add_option("--max-in-flight", flags.max_in_flight, "Global limit of concurrent deliveries")
        ->envname("HOOKD_MAX_IN_FLIGHT")
        ->capture_default_str();
    serve->add_option("--lease", flags.lease, "Lease on claimed deliveries")->envname("HOOKD_LEASE")->capture_default_str();
    serve->add_option("--drain-timeout", flags.drain_timeout, "How long SIGTERM waits for requests in flight")
        ->envname("HOOKD_DRAIN_TIMEOUT")
        ->capture_default_str();
    serve->add_option("--api-rate-limit", flags.api_rate_limit, "API requests per second per token (0 = off)")
        ->envname("HOOKD_API_RATE_LIMIT")
        ->capture_default_str();
    serve->add_option("--ca-file", flags.ca_file, "CA bundle for verifying receivers' TLS certificates")
        ->envname("HOOKD_CA_FILE");
    serve->add_option("--retention", flags.retention, "How long delivery history is kept")
        ->envname("HOOKD_RETENTION")
        ->capture_default_str();
    serve->add_option("--purge-interval", flags.purge_interval, "How often old history is purged")
        ->envname("HOOKD_PURGE_INTERVAL")
        ->capture_default_str();
    serve->add_option("--auto-disable-after", flags.auto_disable_after,
                      "Disable a webhook whose deliveries all failed this long (0s = never)")
        ->envname("HOOKD_AUTO_DISABLE_AFTER")
        ->capture_default_str();
    serve->add_option("--sqlite-busy-timeout", flags.busy_timeout,
                      "How long a write waits for the database lock before answering 503")
        ->envname("HOOKD_SQLITE_BUSY_TIMEOUT")
        ->capture_default_str();
    serve->add_option("--node-id", flags.node_id, "Name of this node in leases")->envname("HOOKD_NODE_ID");
    serve->add_option("--log-level", flags.log_level, "trace, debug, info, warn, error, off")
        ->envname("HOOKD_LOG_LEVEL")
        ->capture_default_str();
    serve->add_option("--log-format", flags.log_format, "text, or json: one JSON object a line")
        ->envname("HOOKD_LOG_FORMAT")
        ->capture_default_str();
    serve->add_option("--operator-token-file", flags.operator_token_file,
                      "File holding a token accepted as an operator token (HOOKD_OPERATOR_TOKEN wins)")
        ->envname("HOOKD_OPERATOR_TOKEN_FILE");
    serve->add_option("--client-timeout", flags.client_timeout, "Time a client has to send a request")
        ->envname("HOOKD_CLIENT_TIMEOUT")
        ->capture_default_str();
    serve->add_option("--max-connections", flags.max_connections, "Open connections accepted at once")
        ->envname("HOOKD_MAX_CONNECTIONS")
        ->capture_default_str();
    serve->add_option("--handler-threads", flags.handler_threads, "Threads running API handlers")
        ->envname("HOOKD_HANDLER_THREADS")
        ->capture_default_str();

    serve->add_option("--capture", flags.capture,
                      "Change capture: the source postgresql:// URL whose committed changes become events")
        ->envname("HOOKD_CAPTURE");
    serve->add_option("--capture-map", flags.capture_map, "Change capture: the map file (tables to entities)")
        ->envname("HOOKD_CAPTURE_MAP");

    cli::ListenOptions listen;
    auto* listen_cmd = app.add_subcommand("listen", "Receive deliveries locally, verify both signatures, print them");
    listen_cmd->add_option("--listen", listen.listen, "HOST:PORT to receive on")->capture_default_str();
    listen_cmd->add_option("--secret", listen.secret, "The webhook's secret")->required()->envname("HOOKD_SECRET");
    listen_cmd->add_option("--status", listen.status, "HTTP status to answer valid deliveries with")
        ->check(CLI::Range(100, 599))
        ->capture_default_str();
    listen_cmd->add_option("--tolerance", listen.tolerance_s, "Accepted timestamp skew in seconds")
        ->capture_default_str();

    cli::CheckReceiverOptions check;
    auto* check_cmd = app.add_subcommand(
        "check-receiver", "Test a receiver as hookd delivers to it: valid, forged, stale and repeated deliveries");
    check_cmd->add_option("url", check.url, "The receiver's payload URL")->required();
    check_cmd->add_option("--secret", check.secret, "The webhook's secret")->required()->envname("HOOKD_SECRET");
    check_cmd->add_option("--method", check.method, "POST or GET, as the webhook's method")->capture_default_str();
    check_cmd->add_flag("--allow-private-network", check.allow_private_network,
                        "Allow loopback/private receivers (local development)");
    check_cmd->add_option("--allow-cidr", check.allow_cidrs, "Allow this CIDR despite the address guard (repeatable)");
    check_cmd->add_option("--ca-file", check.ca_file, "CA bundle for the receiver's TLS certificate")
        ->envname("HOOKD_CA_FILE");
    check_cmd->add_option("--timeout", check.timeout, "Time each request may take, as the webhook's timeout")
        ->capture_default_str();
    check_cmd->add_option("--event", check.event, "Event type the requests carry")->capture_default_str();
    check_cmd->add_option("--entity", check.entity, "Entity the requests carry")->capture_default_str();
    check_cmd->add_option("--entity-id", check.entity_id, "Entity id the requests carry")->capture_default_str();
    check_cmd->add_flag("--json", check.json, "Print the results as one JSON document");

    cli::SignOptions sign;
    auto* sign_cmd = app.add_subcommand("sign", "Print the signatures of EVENT ENTITY ID");
    auto* verify_cmd = app.add_subcommand("verify", "Check a signature of EVENT ENTITY ID (exit 0 when valid)");
    for (auto* cmd : {sign_cmd, verify_cmd}) {
        cmd->add_option("--secret", sign.secret, "The webhook's secret")->required()->envname("HOOKD_SECRET");
        cmd->add_option("event", sign.event, "CREATE, UPDATE, DELETE or ARCHIVE")->required();
        cmd->add_option("entity", sign.entity, "Entity name, e.g. Agreement")->required();
        cmd->add_option("id", sign.id, "Entity id, e.g. 25")->required();
        cmd->add_option("--webhook-id", sign.msg_id, "Standard Webhooks: the webhook-id header");
        cmd->add_option("--timestamp", sign.timestamp, "Standard Webhooks: the webhook-timestamp header");
        cmd->add_option("--payload", sign.payload, "Standard Webhooks: the body (POST) or path suffix (GET)");
    }
    verify_cmd->add_option("--signature", sign.signature, "x-ioffice-signature hex, or a v1,... signature")
        ->required();

    cli::MigrateOptions migrate_opts;
    auto* migrate = app.add_subcommand("migrate", "Apply pending database migrations, or copy SQLite into PostgreSQL");
    migrate->add_option("--config", migrate_config, "Config file, as for serve (keys only serve has are skipped)");
    migrate->add_option("--db", migrate_opts.db, "sqlite:PATH or postgresql://...")
        ->envname("HOOKD_DB")
        ->capture_default_str();
    auto* from = migrate->add_option("--from", migrate_opts.from, "Copy this SQLite database (sqlite:PATH) ...");
    auto* to = migrate->add_option("--to", migrate_opts.to, "... into this empty PostgreSQL database");
    from->needs(to);
    to->needs(from);

    cli::RekeyOptions rekey;
    auto* rekey_cmd = app.add_subcommand("rekey", "Re-encrypt every webhook secret under a new master key (stop hookd first)");
    rekey_cmd->add_option("--config", rekey_config, "Config file, as for serve (keys only serve has are skipped)");
    rekey_cmd->add_option("--db", rekey.db, "sqlite:PATH or postgresql://...")
        ->envname("HOOKD_DB")
        ->capture_default_str();
    rekey_cmd->add_option("--master-key-file", rekey.key_file, "The current key (default: next to the database)")
        ->envname("HOOKD_MASTER_KEY_FILE");
    rekey_cmd->add_option("--new-key-file", rekey.new_key_file, "The new key; created when it does not exist")
        ->required();

    cli::BackupOptions backup;
    std::string backup_config;
    auto* backup_cmd =
        app.add_subcommand("backup", "Copy a SQLite database consistently, also while hookd serve runs");
    backup_cmd->add_option("--config", backup_config, "Config file, as for serve (keys only serve has are skipped)");
    backup_cmd->add_option("--db", backup.db, "sqlite:PATH (for PostgreSQL use pg_dump)")
        ->envname("HOOKD_DB")
        ->capture_default_str();
    backup_cmd->add_option("--to", backup.to, "The backup file to write (must not exist)")->required();

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "hookd: %s (see hookd --help)\n", e.what());
        return 2;
    }

    if (serve->parsed()) {
        std::vector<app::ConfigEntry> from_file;
        if (!LoadConfig(*serve, serve_config, *serve, &from_file)) return 2;
        auto settings = app::Validate(flags);
        if (!settings) {
            std::string message = settings.error().message;
            for (const auto& e : from_file) {
                if (message.rfind("--" + e.key + ":", 0) == 0) {
                    message += " (set in --config " + serve_config + " line " + std::to_string(e.line) + ")";
                }
            }
            std::fprintf(stderr, "hookd serve: %s\n", message.c_str());
            return 2;
        }
        return cli::Serve(*settings);
    }
    if (listen_cmd->parsed()) return cli::Listen(listen);
    if (check_cmd->parsed()) return cli::CheckReceiver(check);
    if (sign_cmd->parsed()) return cli::Sign(sign);
    if (verify_cmd->parsed()) return cli::Verify(sign);
    if (migrate->parsed()) return LoadConfig(*migrate, migrate_config, *serve) ? cli::Migrate(migrate_opts) : 2;
    if (backup_cmd->parsed()) return LoadConfig(*backup_cmd, backup_config, *serve) ? cli::Backup(backup) : 2;
    if (rekey_cmd->parsed()) return LoadConfig(*rekey_cmd, rekey_config, *serve) ? cli::Rekey(rekey) : 2;
    return 2;
}
