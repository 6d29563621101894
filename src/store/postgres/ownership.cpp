#include "store/postgres/ownership.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include "store/postgres/pg_conn.hpp"

namespace hookd::store::postgres {
namespace {

// Two-key advisory locks (int4, int4): the class says what the second key numbers.
constexpr int kPartitionClass = 0x686f6f6b;  // "hook": key 2 is the partition
constexpr int kMemberClass = 0x686f6f6c;     // key 2 is a random number per process
static_assert(kPartitions == 256, "the SQL below assigns partitions with hashtext(id) & 255");

enum class State : std::uint8_t { kFree, kServing, kDraining };

TimeMs NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

struct Ownership::Impl {
    OwnershipOptions opt;
    OwnershipEvents events;
    std::thread thread;
    std::mutex mu;
    std::condition_variable cv;
    bool stop = false;        // guarded by mu
    bool first_turn = false;  // guarded by mu

    std::array<std::atomic<std::int64_t>, kPartitions> epoch{};  // 0 = not ours
    std::array<std::atomic<State>, kPartitions> state{};
    std::array<std::atomic<int>, kPartitions> in_flight{};
    std::array<TimeMs, kPartitions> draining_since{};  // ownership thread only
    std::atomic<int> nodes{0};
    std::atomic<std::int64_t> acquired{0}, released{0}, lost{0};

    std::unique_ptr<Conn> conn;  // ownership thread only
    std::mt19937 rng{std::random_device{}()};

    void Run();
    Status Turn();
    Status Join();
    void LoseAll();
};

Ownership::Ownership(OwnershipOptions options, OwnershipEvents events) : impl_(std::make_unique<Impl>()) {
    impl_->opt = std::move(options);
    impl_->events = std::move(events);
    for (auto& s : impl_->state) s = State::kFree;
}

Ownership::~Ownership() { Stop(0); }

void Ownership::Start() {
    if (impl_->thread.joinable()) return;
    impl_->thread = std::thread([this] {
        pthread_setname_np(pthread_self(), "hookd-owner");
        impl_->Run();
    });
    std::unique_lock lock(impl_->mu);
    impl_->cv.wait_for(lock, std::chrono::seconds(10), [this] { return impl_->first_turn || impl_->stop; });
}

void Ownership::Stop(DurationMs drain_ms) {
    (void)drain_ms;  // the dispatcher has drained and handed its claims back by now
    {
        std::lock_guard lock(impl_->mu);
        impl_->stop = true;
    }
    impl_->cv.notify_all();
    if (impl_->thread.joinable()) impl_->thread.join();
}

std::vector<std::pair<int, std::int64_t>> Ownership::Serving() const {
    std::vector<std::pair<int, std::int64_t>> out;
    for (int p = 0; p < kPartitions; ++p) {
        if (impl_->state[p] != State::kServing) continue;
        const std::int64_t e = impl_->epoch[p];
        if (e != 0) out.emplace_back(p, e);
    }
    return out;
}

bool Ownership::Owns(int part, std::int64_t epoch) const {
    if (part < 0 || part >= kPartitions || epoch == 0) return false;
    return impl_->epoch[part] == epoch;
}

bool Ownership::Serves(int part) const {
    return part >= 0 && part < kPartitions && impl_->state[part] == State::kServing;
}

std::int64_t Ownership::ServingEpoch(int part) const {
    if (!Serves(part)) return 0;
    return impl_->epoch[part];
}

void Ownership::AddInFlight(int part, int delta) {
    if (part < 0 || part >= kPartitions) return;
    if (impl_->in_flight[part].fetch_add(delta) + delta < 0) impl_->in_flight[part] = 0;
}

OwnershipStats Ownership::Stats() const {
    OwnershipStats s;
    for (const auto& st : impl_->state) s.owned += st != State::kFree ? 1 : 0;
    s.nodes = impl_->nodes;
    s.acquired = impl_->acquired;
    s.released = impl_->released;
    s.lost = impl_->lost;
    return s;
}

void Ownership::Impl::Run() {
    std::unique_lock lock(mu);
    while (!stop) {
        lock.unlock();
        if (auto r = Turn(); !r) {
            spdlog::warn("partition ownership: {}", r.error().message);
            LoseAll();
            conn.reset();
        }
        lock.lock();
        if (!first_turn) {
            first_turn = true;
            cv.notify_all();
        }
        cv.wait_for(lock, std::chrono::milliseconds(opt.interval_ms), [this] { return stop; });
    }
    lock.unlock();
    // Ending the session frees every partition for the others at once.
    conn.reset();
    std::vector<int> stopped;
    for (int p = 0; p < kPartitions; ++p) {
        if (state[p] != State::kFree) {
            ++released;
            stopped.push_back(p);
        }
        state[p] = State::kFree;
        epoch[p] = 0;
    }
    if (!stopped.empty() && events.stopped) events.stopped(stopped);
}

// Nothing more may start or be recorded under the epochs of a lost session.
void Ownership::Impl::LoseAll() {
    std::vector<int> gone;
    for (int p = 0; p < kPartitions; ++p) {
        if (state[p] != State::kFree) gone.push_back(p);
        state[p] = State::kFree;
        epoch[p] = 0;
        in_flight[p] = 0;
    }
    if (!gone.empty()) {
        lost += static_cast<std::int64_t>(gone.size());
        spdlog::warn("partition ownership: the session ended; {} partitions lost", gone.size());
        if (events.stopped) events.stopped(gone);
    }
}

// A new session: server-side keepalives too (so the server frees our locks within
// seconds of a silent cut), and one membership lock.
Status Ownership::Impl::Join() {
    conn = std::make_unique<Conn>(opt.url);
    if (auto c = conn->Connect(); !c) return c;
    if (auto s = conn->Simple("SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; "
                              "SET tcp_keepalives_count = 3; SET tcp_user_timeout = 10000; "
                              "SET statement_timeout = '5s'; SET application_name = 'hookd-owner'");
        !s) {
        return Fail(s.error());
    }
    std::uniform_int_distribution<int> key(1, 0x7ffffffe);
    for (int i = 0; i < 8; ++i) {
        auto r = conn->Exec("SELECT pg_try_advisory_lock($1::int, $2::int)", {P(kMemberClass), P(key(rng))});
        if (!r) return Fail(r.error());
        if (RowRef(*r, 0).Text(0) == "t") return {};
    }
    return Fail(Error::Internal("no free membership key"));
}

Status Ownership::Impl::Turn() {
    if (!conn || PQstatus(conn->raw()) != CONNECTION_OK) {
        LoseAll();
        if (auto j = Join(); !j) return j;
    }
    const std::string in_db =
        " locktype = 'advisory' AND objsubid = 2 AND granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
    auto m = conn->Exec("SELECT count(*) FROM pg_locks WHERE classid = $1::int::oid AND" + in_db, {P(kMemberClass)});
    if (!m) return Fail(m.error());
    const int members = std::max<int>(1, static_cast<int>(RowRef(*m, 0).Int(0)));
    nodes = members;
    const int target = (kPartitions + members - 1) / members;
    const TimeMs now = NowMs();

    std::vector<int> serving;
    int owned = 0;
    for (int p = 0; p < kPartitions; ++p) {
        if (state[p] == State::kServing) serving.push_back(p);
        if (state[p] != State::kFree) ++owned;
    }
    // Too many (a node joined): drain the excess; claims stop for them now.
    std::vector<int> draining;
    for (int i = target; i < static_cast<int>(serving.size()); ++i) {
        const int p = serving[static_cast<std::size_t>(i)];
        state[p] = State::kDraining;
        draining_since[p] = now;
        draining.push_back(p);
    }
    if (!draining.empty() && events.stopped) events.stopped(draining);
    // Drained: hand over.
    std::vector<int> release;
    for (int p = 0; p < kPartitions; ++p) {
        if (state[p] == State::kDraining && (in_flight[p] <= 0 || now - draining_since[p] > opt.drain_max_ms)) {
            release.push_back(p);
        }
    }
    if (!release.empty()) {
        for (int p : release) {
            state[p] = State::kFree;
            epoch[p] = 0;
        }
        auto r = conn->Exec("SELECT count(pg_advisory_unlock($1::int, p)) FROM unnest($2::int[]) AS p",
                            {P(kPartitionClass), IntArray(release)});
        if (!r) return Fail(r.error());
        released += static_cast<std::int64_t>(release.size());
        owned -= static_cast<int>(release.size());
    }
    // Too few (a node left, or we just joined): take free partitions.
    if (owned < target) {
        auto held = conn->Exec("SELECT objid::int FROM pg_locks WHERE classid = $1::int::oid AND" + in_db,
                               {P(kPartitionClass)});
        if (!held) return Fail(held.error());
        std::vector<bool> taken(kPartitions, false);
        for (int i = 0; i < held->Rows(); ++i) {
            const auto p = RowRef(*held, i).Int(0);
            if (p >= 0 && p < kPartitions) taken[static_cast<std::size_t>(p)] = true;
        }
        std::vector<int> candidates;
        for (int p = 0; p < kPartitions; ++p) {
            if (!taken[static_cast<std::size_t>(p)] && state[p] == State::kFree) candidates.push_back(p);
        }
        std::shuffle(candidates.begin(), candidates.end(), rng);
        candidates.resize(std::min<std::size_t>(candidates.size(), static_cast<std::size_t>(target - owned)));
        if (!candidates.empty()) {
            auto got = conn->Exec(
                "SELECT p FROM unnest($2::int[]) AS p WHERE pg_try_advisory_lock($1::int, p)",
                {P(kPartitionClass), IntArray(candidates)});
            if (!got) return Fail(got.error());
            std::vector<int> mine;
            for (int i = 0; i < got->Rows(); ++i) mine.push_back(static_cast<int>(RowRef(*got, i).Int(0)));
            if (!mine.empty()) {
                // A new epoch fences whoever owned them before: their outcomes no longer apply.
                auto e = conn->Exec(
                    "UPDATE partitions SET epoch = epoch + 1, owner = $1, since = $2 WHERE part = ANY($3::int[]) "
                    "RETURNING part, epoch",
                    {P(opt.node), P(now), IntArray(mine)});
                if (!e) return Fail(e.error());
                for (int i = 0; i < e->Rows(); ++i) {
                    RowRef row(*e, i);
                    const int p = static_cast<int>(row.Int(0));
                    in_flight[p] = 0;
                    epoch[p] = row.Int(1);
                    state[p] = State::kServing;
                }
                acquired += static_cast<std::int64_t>(mine.size());
                if (events.acquired) events.acquired(mine);
            }
        }
    }
    return {};
}

}  // namespace hookd::store::postgres
