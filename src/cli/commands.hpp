#pragma once
// The subcommands of the hookd binary. Each returns the process exit code.
#include <cstdint>
#include <string>
#include <vector>

#include "cli/settings.hpp"

namespace hookd::cli {

//! `hookd serve`: the composition root. Runs until SIGTERM/SIGINT, then drains.
int Serve(const ServeSettings& settings);

struct ListenOptions {
    std::string listen = "127.0.0.1:9000";
    std::string secret;
    int status = 200;
    std::int64_t tolerance_s = 300;
};
//! `hookd listen`: a local receiver that verifies both signatures and prints each delivery.
int Listen(const ListenOptions& options);

struct CheckReceiverOptions {
    std::string url;
    std::string secret;
    std::string method = "POST";
    bool allow_private_network = false;
    std::vector<std::string> allow_cidrs;  //!< allowed despite the address guard
    std::string ca_file;                   //!< empty = system bundle
    std::string timeout = "15s";           //!< per probe, as a webhook's timeout
    std::string event = "CREATE";          //!< what the probes carry
    std::string entity = "Agreement";
    std::string entity_id = "test";
    bool json = false;
};
//! `hookd check-receiver`: tests a receiver as hookd delivers to it (SPEC.md §11). Exit 0 when
//! no check failed, 1 when one did, 2 for bad arguments.
int CheckReceiver(const CheckReceiverOptions& options);

struct SignOptions {
    std::string secret;
    std::string event;
    std::string entity;
    std::string id;
    std::string signature;     //!< verify: the value to check
    std::string msg_id;        //!< --webhook-id: also print/check the Standard Webhooks signature
    std::int64_t timestamp = 0;
    std::string payload;       //!< --payload: signed content for the Standard Webhooks signature
};
int Sign(const SignOptions& options);
int Verify(const SignOptions& options);

struct MigrateOptions {
    std::string db = "sqlite:./data/hookd.db";  //!< apply pending migrations to this database
    std::string from;                           //!< with `to`: copy this SQLite database ...
    std::string to;                             //!< ... into this (empty) PostgreSQL database
};
//! `hookd migrate`: applies pending schema migrations, or copies SQLite into PostgreSQL.
int Migrate(const MigrateOptions& options);

struct RekeyOptions {
    std::string db = "sqlite:./data/hookd.db";
    std::string key_file;      //!< the current key (default: next to the database); HOOKD_MASTER_KEY wins
    std::string new_key_file;  //!< created with a new random key when it does not exist
};
struct BackupOptions {
    std::string db = "sqlite:./data/hookd.db";  //!< the SQLite database to copy (PostgreSQL is refused)
    std::string to;                             //!< the new file; must not exist
};
//! `hookd backup`: a consistent copy of a SQLite database, also while `hookd serve` writes
//! to it (SQLite's online backup API, one read transaction). Exit 0, 1 (failed), 2 (usage).
int Backup(const BackupOptions& options);

//! `hookd rekey`: re-encrypts every webhook secret under a new master key (hookd stopped).
int Rekey(const RekeyOptions& options);

}  // namespace hookd::cli
