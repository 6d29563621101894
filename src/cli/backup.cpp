// `hookd backup`: a consistent copy of a SQLite database while `hookd serve` runs.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "cli/commands.hpp"

namespace hookd::cli {
namespace {

namespace fs = std::filesystem;

// Closes a connection however the function is left.
struct Connection {
    sqlite3* db = nullptr;
    ~Connection() { sqlite3_close_v2(db); }
    [[nodiscard]] std::string Error() const { return db ? sqlite3_errmsg(db) : "out of memory"; }
};

// The first column of the first row of `sql`, as text ("" when there is none).
std::string Scalar(sqlite3* db, const char* sql) {
    sqlite3_stmt* st = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        if (const unsigned char* t = sqlite3_column_text(st, 0)) out = reinterpret_cast<const char*>(t);
    }
    sqlite3_finalize(st);
    return out;
}

bool SyncPath(const std::string& path, int flags) {
    const int fd = open(path.c_str(), flags | O_CLOEXEC);
    if (fd < 0) return false;
    const bool ok = fsync(fd) == 0;
    close(fd);
    return ok;
}

// Copies `from` into the new file `tmp` (created 0600), checks it and makes it a
// self-contained rollback-journal database. Returns an error message, or "" on success.
std::string Copy(const std::string& from, const std::string& tmp, std::string* summary) {
    Connection src;
    // Read-only: the backup never writes to the database it copies. A read-only
    // connection to a WAL database needs its -shm file, which hookd serve keeps.
    if (sqlite3_open_v2(from.c_str(), &src.db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
        return "cannot open " + from + ": " + src.Error();
    }
    sqlite3_busy_timeout(src.db, 10'000);
    if (Scalar(src.db, "SELECT count(*) FROM sqlite_master WHERE name = 'deliveries'") != "1") {
        return from + " is not a hookd database (no deliveries table)";
    }
    const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return "cannot create " + tmp + ": " + std::strerror(errno);
    close(fd);
    Connection dst;
    if (sqlite3_open_v2(tmp.c_str(), &dst.db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
        return "cannot open " + tmp + ": " + dst.Error();
    }
    sqlite3_backup* b = sqlite3_backup_init(dst.db, "main", src.db, "main");
    if (!b) return "cannot start the backup: " + dst.Error();
    // All pages in one step, so in one read transaction: the copy is the database as of
    // one commit. With WAL, hookd's writers go on meanwhile (only checkpoints wait). Page
    // by page, every write by hookd would restart the copy, which under load may never end.
    int rc = SQLITE_OK;
    for (int tries = 0; tries < 300; ++tries) {
        rc = sqlite3_backup_step(b, -1);
        if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    const int pages = sqlite3_backup_pagecount(b);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) return std::string("the copy failed: ") + sqlite3_errstr(rc) + " (" + dst.Error() + ")";
    // One file, no -wal beside it: hookd serve turns WAL on again when it opens it.
    if (Scalar(dst.db, "PRAGMA journal_mode = DELETE") != "delete") return "cannot leave WAL mode: " + dst.Error();
    if (const std::string check = Scalar(dst.db, "PRAGMA quick_check"); check != "ok") {
        return "the copy fails its check: " + check;
    }
    const std::string page_size = Scalar(dst.db, "PRAGMA page_size");
    const double mib = static_cast<double>(pages) * std::stod(page_size.empty() ? "4096" : page_size) / 1048576.0;
    char buf[512];
    std::snprintf(buf, sizeof buf, "%d pages (%.1f MiB), schema version %s: %s sites, %s webhooks, %s deliveries",
                  pages, mib, Scalar(dst.db, "PRAGMA user_version").c_str(),
                  Scalar(dst.db, "SELECT count(*) FROM sites").c_str(),
                  Scalar(dst.db, "SELECT count(*) FROM webhooks").c_str(),
                  Scalar(dst.db, "SELECT count(*) FROM deliveries").c_str());
    *summary = buf;
    return "";
}

// A read-only connection creates the -wal and -shm files when no hookd serve has them
// open; run as root, they would be root's and the hookd user's next start could not open
// them. Gives them the database file's owner (a no-op when they are already its).
void KeepOwner(const std::string& db) {
    struct stat st {};
    if (geteuid() != 0 || stat(db.c_str(), &st) != 0) return;
    for (const char* suffix : {"-wal", "-shm"}) {
        const std::string f = db + suffix;
        struct stat fst {};
        if (lstat(f.c_str(), &fst) == 0 && S_ISREG(fst.st_mode) &&
            (fst.st_uid != st.st_uid || fst.st_gid != st.st_gid)) {
            (void)!lchown(f.c_str(), st.st_uid, st.st_gid);
        }
    }
}

}  // namespace

int Backup(const BackupOptions& o) {
    if (IsPostgresUrl(o.db)) {
        std::fprintf(stderr,
                     "hookd backup: --db is PostgreSQL: back it up with pg_dump or continuous archiving "
                     "(docs/operations.md), and keep the master key with it\n");
        return 2;
    }
    auto path = SqlitePathFromUrl(o.db);
    if (!path) {
        std::fprintf(stderr, "hookd backup: %s\n", path.error().message.c_str());
        return 2;
    }
    if (!fs::is_regular_file(*path)) {
        std::fprintf(stderr, "hookd backup: database %s does not exist\n", path->c_str());
        return 2;
    }
    std::error_code ec;
    if (fs::exists(o.to, ec) || fs::is_symlink(o.to, ec)) {
        std::fprintf(stderr, "hookd backup: %s already exists; give a new file\n", o.to.c_str());
        return 2;
    }
    const fs::path target = fs::absolute(o.to, ec);
    const std::string tmp = target.string() + ".partial-" + std::to_string(getpid());
    std::string summary;
    const auto started = std::chrono::steady_clock::now();
    const std::string error = Copy(*path, tmp, &summary);
    KeepOwner(*path);
    if (!error.empty()) {
        fs::remove(tmp, ec);
        fs::remove(tmp + "-journal", ec);
        std::fprintf(stderr, "hookd backup: %s\n", error.c_str());
        return 1;
    }
    // Durable before it gets its name; the name durable before we say so.
    if (!SyncPath(tmp, O_RDONLY) || std::rename(tmp.c_str(), target.c_str()) != 0 ||
        !SyncPath(target.parent_path().string(), O_RDONLY | O_DIRECTORY)) {
        std::fprintf(stderr, "hookd backup: cannot write %s: %s\n", target.c_str(), std::strerror(errno));
        fs::remove(tmp, ec);
        return 1;
    }
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    std::printf("backup of sqlite:%s written to %s in %lld ms: %s\n", path->c_str(), target.c_str(),
                static_cast<long long>(ms), summary.c_str());
    std::printf(
        "the master key is not in it: keep a copy of the key file (master-key-file, by default master.key "
        "next to the database) with your backups; the backup is useless without it\n");
    return 0;
}

}  // namespace hookd::cli
