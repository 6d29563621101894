#include "store/sqlite/checkpointer.hpp"

#include <pthread.h>

#include <chrono>

namespace hookd::store::sqlite {

Status Checkpointer::Start(const std::string& path, int busy_timeout_ms, sqlite3* writer) {
    if (auto r = db_.Open(path, false, "NORMAL", busy_timeout_ms); !r) return r;
    writer_ = writer;
    sqlite3_wal_hook(writer_, &Checkpointer::OnCommit, this);  // replaces the automatic checkpoints
    thread_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "hookd-ckpt");
        Run();
    });
    return {};
}

Checkpointer::~Checkpointer() {
    if (!thread_.joinable()) return;
    sqlite3_wal_hook(writer_, nullptr, nullptr);
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
}

int Checkpointer::OnCommit(void* self, sqlite3*, const char*, int pages) {
    auto* c = static_cast<Checkpointer*>(self);
    if (pages >= kPages) {
        {
            std::lock_guard lock(c->mu_);
            c->due_ = true;
        }
        c->cv_.notify_one();
    }
    return SQLITE_OK;
}

void Checkpointer::Run() {
    std::unique_lock lock(mu_);
    while (!stop_) {
        // Also once a second, so a quiet database's WAL is folded back soon.
        cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_ || due_; });
        if (stop_) break;
        due_ = false;
        lock.unlock();
        int wal_pages = 0;
        int copied = 0;
        // A failed checkpoint (busy, I/O) leaves the WAL longer; the next one catches up.
        (void)sqlite3_wal_checkpoint_v2(db_.raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &wal_pages, &copied);
        lock.lock();
    }
}

}  // namespace hookd::store::sqlite
