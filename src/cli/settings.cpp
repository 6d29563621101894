#include "cli/settings.hpp"

#include <filesystem>

namespace hookd::cli {

bool IsPostgresUrl(const std::string& url) {
    return url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0;
}

Result<std::string> SqlitePathFromUrl(const std::string& url) {
    if (url.rfind("sqlite://", 0) == 0) return url.substr(9);
    if (url.rfind("sqlite:", 0) == 0) return url.substr(7);
    return Fail(Error::Invalid("--db: expected sqlite:PATH or postgresql://..., got '" + url + "'"));
}

Result<DbLocation> ParseDbUrl(const std::string& url) {
    DbLocation db;
    if (IsPostgresUrl(url)) {
        db.postgres_url = url;
        db.data_dir = "./data";
        return db;
    }
    auto path = SqlitePathFromUrl(url);
    if (!path) return Fail(path.error());
    if (path->empty()) return Fail(Error::Invalid("--db: the SQLite path is empty"));
    db.sqlite_path = *path;
    db.data_dir = std::filesystem::path(db.sqlite_path).parent_path().string();
    if (db.data_dir.empty()) db.data_dir = ".";
    return db;
}

}  // namespace hookd::cli
