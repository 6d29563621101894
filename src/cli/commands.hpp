#pragma once
// The subcommands of the hookd binary. Each returns the process exit code.
#include <cstdint>
#include <string>

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
