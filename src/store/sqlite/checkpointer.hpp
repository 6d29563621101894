#pragma once
// Checkpoints the WAL on a thread of its own.
//
// With SQLite's automatic checkpoints, the commit that takes the WAL past 1000 pages
// copies them back into the database file and waits for that file's fsync: an ingest
// request would pay for it (a p99 spike) and so would the dispatcher's records. Here the
// writer's WAL hook only signals this thread, which runs PASSIVE checkpoints (they
// never block readers or the writer) on its own connection.
#include <sqlite3.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "core/result.hpp"
#include "store/sqlite/sqlite_db.hpp"

namespace hookd::store::sqlite {

class Checkpointer final {
public:
    Checkpointer() = default;
    ~Checkpointer();
    Checkpointer(const Checkpointer&) = delete;
    Checkpointer& operator=(const Checkpointer&) = delete;

    //! Takes over checkpoints of `writer` (a connection to `path`) and starts the thread.
    Status Start(const std::string& path, int busy_timeout_ms, sqlite3* writer);

private:
    static constexpr int kPages = 1000;  // SQLite's own default threshold
    static int OnCommit(void* self, sqlite3* db, const char* schema, int pages);
    void Run();

    Db db_;
    sqlite3* writer_ = nullptr;
    std::thread thread_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool due_ = false;   // guarded by mu_
    bool stop_ = false;  // guarded by mu_
};

}  // namespace hookd::store::sqlite
