#include "sched/scheduler.hpp"

#include <algorithm>
#include <climits>
#include <utility>

namespace hookd::sched {
namespace {

// std::push_heap builds a max-heap; "later first" as the order makes it a min-heap.
constexpr auto kLater = [](const auto& a, const auto& b) { return a.due != b.due ? a.due > b.due : a.seq > b.seq; };

struct Item {
    TimeMs due = 0;
    std::int64_t seq = 0;
};

// One webhook's queue: what is due, in order.
struct Hook {
    std::string id;
    int part = 0;
    std::vector<Item> heap;                                     // min-heap by (due, seq)
    std::unordered_map<std::string, std::deque<Item>> chains;  // order key → pending, head first
    std::unordered_map<std::int64_t, std::string> heads;        // chain heads (queued or held) → key
    bool active = false;                                        // in Impl::active
};

// One webhook's gate: what may start. Outlives its Hook (a partition handed over and back).
struct Gate {
    Limits limits;
    bool known = false;  // limits set by the dispatcher
    double tokens = 0;
    TimeMs refilled_at = 0;
    TimeMs paused_until = 0;
    int claimed = 0;    // held and not started
    int in_flight = 0;  // started and not ended
    std::deque<std::int64_t> ready;
    bool in_turn = false;  // in Impl::turn
};

struct Lease {
    std::string webhook;
    std::optional<std::string> order_key;
    TimeMs until = 0;
    bool started = false;
};

struct Flight {
    std::string webhook;
    TimeMs started_at = 0;
    bool busy = false;
};

}  // namespace

struct Scheduler::Impl {
    SchedulerOptions opt;
    mutable std::mutex mu;

    // The queue.
    std::unordered_map<std::string, std::unique_ptr<Hook>> hooks;
    std::vector<Hook*> active;  // webhooks whose heap may be non-empty
    std::size_t cursor = 0;     // round-robin start
    std::unordered_map<std::int64_t, Lease> leases;
    std::unordered_set<std::string> disabled;
    std::size_t queued = 0;                     // items in heaps
    std::unordered_set<std::int64_t> members;   // idempotent mode: queued (heap or chain), not held
    TimeMs earliest_lease = INT64_MAX;

    // The gate.
    std::unordered_map<std::string, Gate> gates;
    std::deque<std::string> turn;  // webhooks with ready claims, in start order
    std::unordered_map<std::int64_t, Flight> flights;
    std::deque<std::pair<TimeMs, std::int64_t>> starts;  // (started_at, seq) of busy flights, oldest first
    int busy = 0;
    std::size_t ready = 0;
    std::vector<std::int64_t> unstartable;
    std::vector<std::int64_t> vanished;  // claims dropped here before they started

    explicit Impl(SchedulerOptions o) : opt(o) {}

    [[nodiscard]] bool Contains(std::int64_t seq) const { return members.contains(seq) || leases.contains(seq); }

    Hook& HookFor(const std::string& webhook, int part) {
        auto& slot = hooks[webhook];
        if (!slot) {
            slot = std::make_unique<Hook>();
            slot->id = webhook;
            slot->part = part;
        }
        return *slot;
    }

    void Push(Hook& h, Item item) {
        h.heap.push_back(item);
        std::push_heap(h.heap.begin(), h.heap.end(), kLater);
        ++queued;
        if (!h.active) {
            h.active = true;
            active.push_back(&h);
        }
    }

    Item Pop(Hook& h) {
        std::pop_heap(h.heap.begin(), h.heap.end(), kLater);
        const Item item = h.heap.back();
        h.heap.pop_back();
        --queued;
        return item;
    }

    void Add(Entry e) {
        if (opt.idempotent_adds) {
            if (Contains(e.seq)) return;
            members.insert(e.seq);
        }
        Hook& h = HookFor(e.webhook, e.part);
        const Item item{e.due, e.seq};
        if (!e.order_key) {
            Push(h, item);
            return;
        }
        auto& chain = h.chains[*e.order_key];
        if (chain.empty()) {
            chain.push_back(item);
            h.heads.emplace(e.seq, *e.order_key);
            Push(h, item);
            return;
        }
        // Behind the head, in seq order (a replayed older delivery never jumps the head).
        auto pos = chain.end();
        while (pos - 1 != chain.begin() && (pos - 1)->seq > e.seq) --pos;
        chain.insert(pos, item);
    }

    [[nodiscard]] int Cap(const Gate& g) const {
        return g.known ? g.limits.max_in_flight * opt.buffer_per_slot : 8 * opt.buffer_per_slot;
    }

    [[nodiscard]] bool Paused(const std::string& webhook, TimeMs now) const {
        auto g = gates.find(webhook);
        return g != gates.end() && g->second.paused_until > now;
    }

    // Whether the webhook's buffer has room for another claim. A claim takes a webhook in
    // only once half its buffer is free (`refill`), then fills the buffer: a busy webhook is
    // claimed for in batches of half a buffer, not a few rows for each request that ended
    // (every claim costs the store a read of its rows, and on SQLite a cold page cache).
    [[nodiscard]] bool Claimable(const std::string& webhook, TimeMs now, bool refill) const {
        if (disabled.contains(webhook) || !hooks.contains(webhook)) return false;
        auto g = gates.find(webhook);
        if (g == gates.end()) return true;
        const int held = g->second.claimed + g->second.in_flight;
        return g->second.paused_until <= now &&
               (opt.buffer_per_slot <= 0 || (refill ? 2 * held <= Cap(g->second) : held < Cap(g->second)));
    }

    void Hold(std::int64_t seq, Lease lease) {
        ++gates[lease.webhook].claimed;
        leases.insert_or_assign(seq, std::move(lease));
    }

    // A lease ends (finished, dropped): the gate forgets a claim that never started.
    Lease Release(std::unordered_map<std::int64_t, Lease>::iterator it) {
        Lease lease = std::move(it->second);
        leases.erase(it);
        if (!lease.started) {
            if (auto g = gates.find(lease.webhook); g != gates.end()) --g->second.claimed;
        }
        return lease;
    }

    void AdvanceChain(Hook& h, const std::string& key, std::int64_t seq) {
        h.heads.erase(seq);
        auto c = h.chains.find(key);
        if (c == h.chains.end()) return;
        auto& chain = c->second;
        if (!chain.empty() && chain.front().seq == seq) chain.pop_front();
        if (chain.empty()) {
            h.chains.erase(c);
            return;
        }
        h.heads.emplace(chain.front().seq, key);
        Push(h, chain.front());
    }

    void Forget(Hook& h) {
        if (opt.idempotent_adds) {
            for (const Item& x : h.heap) members.erase(x.seq);
            for (const auto& chain : h.chains) {
                for (const Item& x : chain.second) members.erase(x.seq);
            }
        }
        queued -= h.heap.size();
        std::erase(active, &h);
        if (cursor >= active.size()) cursor = 0;
    }

    // Drops the claims of the webhooks in `gone` (their ready entries are skipped later).
    void DropLeases(const std::unordered_set<std::string>& gone) {
        for (auto it = leases.begin(); it != leases.end();) {
            if (gone.contains(it->second.webhook)) {
                if (!it->second.started) vanished.push_back(it->first);
                Release(it++);
            } else {
                ++it;
            }
        }
    }

    // The bucket's tokens at `now` (rate-limited webhooks only).
    static double TokensAt(const Gate& g, TimeMs now) {
        const double rate = *g.limits.rate_per_second;
        return std::min(rate, g.tokens + rate * static_cast<double>(now - g.refilled_at) / 1000.0);
    }

    void Refill(Gate& g, TimeMs now) {
        if (!g.limits.rate_per_second) return;
        g.tokens = TokensAt(g, now);
        g.refilled_at = now;
    }

    void Age(TimeMs now) {
        while (!starts.empty() && starts.front().first + opt.slow_after_ms <= now) {
            if (auto it = flights.find(starts.front().second); it != flights.end() && it->second.busy) {
                it->second.busy = false;
                --busy;
            }
            starts.pop_front();
        }
    }

    [[nodiscard]] bool Room(TimeMs now) {
        Age(now);
        return static_cast<int>(flights.size()) < opt.global_max_in_flight && busy < opt.busy_max_in_flight;
    }

    // Whether `seq` at the front of a ready list can still be started: held, not started.
    [[nodiscard]] bool Startable(std::int64_t seq) const {
        auto it = leases.find(seq);
        return it != leases.end() && !it->second.started;
    }
};

Scheduler::Scheduler(SchedulerOptions options) : impl_(std::make_unique<Impl>(options)) {}
Scheduler::~Scheduler() = default;

void Scheduler::Add(Entry e) {
    std::lock_guard lock(impl_->mu);
    impl_->Add(std::move(e));
}

void Scheduler::Add(std::vector<Entry> entries) {
    std::lock_guard lock(impl_->mu);
    for (auto& e : entries) impl_->Add(std::move(e));
}

std::vector<std::int64_t> Scheduler::Requeue(std::vector<Entry> entries) {
    std::lock_guard lock(impl_->mu);
    Impl& s = *impl_;
    std::vector<std::int64_t> left;
    std::unordered_map<std::string, std::unordered_set<std::int64_t>> moving;
    std::vector<Entry> todo;
    for (auto& e : entries) {
        if (s.leases.contains(e.seq)) {
            left.push_back(e.seq);
            continue;
        }
        moving[e.webhook].insert(e.seq);
        todo.push_back(std::move(e));
    }
    // Take the moving deliveries out of their heaps, in one pass per webhook.
    for (const auto& move : moving) {
        const auto& seqs = move.second;  // (not a structured binding: clang 14 can't capture those)
        auto it = s.hooks.find(move.first);
        if (it == s.hooks.end()) continue;
        auto& heap = it->second->heap;
        const auto before = heap.size();
        std::erase_if(heap, [&](const Item& x) { return seqs.contains(x.seq); });
        if (s.opt.idempotent_adds) {
            for (auto seq : seqs) s.members.erase(seq);
        }
        s.queued -= before - heap.size();
        std::make_heap(heap.begin(), heap.end(), kLater);
    }
    for (auto& e : todo) {
        if (e.order_key) {
            Hook& h = s.HookFor(e.webhook, e.part);
            if (auto c = h.chains.find(*e.order_key); c != h.chains.end()) {
                auto item = std::find_if(c->second.begin(), c->second.end(),
                                         [&](const Item& x) { return x.seq == e.seq; });
                if (item != c->second.end()) {
                    if (s.opt.idempotent_adds) s.members.insert(e.seq);
                    item->due = e.due;
                    if (item == c->second.begin()) s.Push(h, *item);
                    continue;
                }
            }
        }
        s.Add(std::move(e));
    }
    return left;
}

void Scheduler::SetEnabled(const std::string& webhook, bool enabled) {
    std::lock_guard lock(impl_->mu);
    if (enabled) {
        impl_->disabled.erase(webhook);
    } else {
        impl_->disabled.insert(webhook);
    }
}

void Scheduler::RemoveWebhook(const std::string& webhook) {
    std::lock_guard lock(impl_->mu);
    Impl& s = *impl_;
    s.disabled.erase(webhook);
    s.DropLeases({webhook});
    if (auto it = s.hooks.find(webhook); it != s.hooks.end()) {
        s.Forget(*it->second);
        s.hooks.erase(it);
    }
}

void Scheduler::RemovePartition(int part) {
    std::lock_guard lock(impl_->mu);
    Impl& s = *impl_;
    std::unordered_set<std::string> gone;
    for (auto it = s.hooks.begin(); it != s.hooks.end();) {
        if (it->second->part != part) {
            ++it;
            continue;
        }
        gone.insert(it->first);
        s.disabled.erase(it->first);
        s.Forget(*it->second);
        it = s.hooks.erase(it);
    }
    // Its claims still out are forgotten too: should the partition come back, a reload
    // must be able to queue them again (their outcomes are fenced off meanwhile).
    s.DropLeases(gone);
}

bool Scheduler::Held(std::int64_t seq) const {
    std::lock_guard lock(impl_->mu);
    return impl_->leases.contains(seq);
}

std::size_t Scheduler::QueuedIn(int part) const {
    std::lock_guard lock(impl_->mu);
    std::size_t n = 0;
    for (const auto& [id, h] : impl_->hooks) {
        if (h->part != part) continue;
        n += h->heap.size();
        for (const auto& chain : h->chains) {
            n += chain.second.size();
            if (!impl_->leases.contains(chain.second.front().seq)) --n;  // its head, counted in the heap
        }
    }
    return n;
}

std::vector<std::int64_t> Scheduler::Claim(TimeMs now, DurationMs lease_ms, int limit) {
    std::lock_guard lock(impl_->mu);
    Impl& s = *impl_;
    std::vector<std::int64_t> out;
    const TimeMs until = now + lease_ms;
    // Leases that ran out are handed out again (their holder is gone or stuck).
    if (now >= s.earliest_lease) {
        s.earliest_lease = INT64_MAX;
        for (auto& [seq, lease] : s.leases) {
            // (A started one ran out too: its request ended and its outcome was not recorded.)
            if (lease.until <= now && static_cast<int>(out.size()) < limit && !s.disabled.contains(lease.webhook) &&
                !s.Paused(lease.webhook, now)) {
                out.push_back(seq);
                lease.until = until;
                if (lease.started) {
                    lease.started = false;
                    ++s.gates[lease.webhook].claimed;
                }
            }
            s.earliest_lease = std::min(s.earliest_lease, lease.until);
        }
    }
    // The webhooks with due work, starting the round at a different one each time.
    std::vector<Hook*> due;
    std::erase_if(s.active, [](Hook* h) {
        if (!h->heap.empty()) return false;
        h->active = false;
        return true;
    });
    const std::size_t n = s.active.size();
    for (std::size_t i = 0; i < n; ++i) {
        Hook* h = s.active[(s.cursor + i) % n];
        if (h->heap.front().due <= now && s.Claimable(h->id, now, true)) due.push_back(h);
    }
    if (n > 0) s.cursor = (s.cursor + 1) % n;
    while (static_cast<int>(out.size()) < limit && !due.empty()) {
        for (std::size_t i = 0; i < due.size() && static_cast<int>(out.size()) < limit;) {
            Hook& h = *due[i];
            const Item item = s.Pop(h);
            if (s.opt.idempotent_adds) s.members.erase(item.seq);
            Lease lease{h.id, std::nullopt, until, false};
            if (auto k = h.heads.find(item.seq); k != h.heads.end()) lease.order_key = k->second;
            s.Hold(item.seq, std::move(lease));
            out.push_back(item.seq);
            if (h.heap.empty() || h.heap.front().due > now || !s.Claimable(h.id, now, false)) {
                due.erase(due.begin() + static_cast<std::ptrdiff_t>(i));
            } else {
                ++i;
            }
        }
    }
    if (!s.leases.empty()) s.earliest_lease = std::min(s.earliest_lease, until);
    return out;
}

void Scheduler::Renew(std::span<const std::int64_t> seqs, TimeMs until) {
    std::lock_guard lock(impl_->mu);
    for (auto seq : seqs) {
        if (auto it = impl_->leases.find(seq); it != impl_->leases.end()) {
            it->second.until = std::max(it->second.until, until);
        }
    }
}

void Scheduler::Finish(std::int64_t seq, std::optional<TimeMs> due) {
    std::lock_guard lock(impl_->mu);
    Impl& s = *impl_;
    auto it = s.leases.find(seq);
    if (it == s.leases.end()) return;
    const Lease lease = s.Release(it);
    auto h = s.hooks.find(lease.webhook);
    if (h == s.hooks.end()) return;  // deleted meanwhile: its deliveries were cancelled
    if (due) {
        if (s.opt.idempotent_adds) s.members.insert(seq);
        s.Push(*h->second, Item{*due, seq});  // still the head of its chain, if it has one
    } else if (lease.order_key) {
        s.AdvanceChain(*h->second, *lease.order_key, seq);
    }
}

std::int64_t Scheduler::ReleaseAll(TimeMs now) {
    std::lock_guard lock(impl_->mu);
    Impl& s = *impl_;
    const auto n = static_cast<std::int64_t>(s.leases.size());
    for (auto& [seq, lease] : s.leases) {
        if (auto it = s.hooks.find(lease.webhook); it != s.hooks.end()) {
            if (s.opt.idempotent_adds) s.members.insert(seq);
            s.Push(*it->second, Item{now, seq});
        }
    }
    s.leases.clear();
    for (auto& [id, g] : s.gates) g.claimed = 0;
    s.earliest_lease = INT64_MAX;
    return n;
}

std::optional<TimeMs> Scheduler::NextDue() const {
    std::lock_guard lock(impl_->mu);
    std::optional<TimeMs> next;
    for (const Hook* h : impl_->active) {
        if (h->heap.empty() || impl_->disabled.contains(h->id)) continue;
        if (!next || h->heap.front().due < *next) next = h->heap.front().due;
    }
    return next;
}

std::size_t Scheduler::queued() const {
    std::lock_guard lock(impl_->mu);
    return impl_->queued;
}

std::size_t Scheduler::held() const {
    std::lock_guard lock(impl_->mu);
    return impl_->leases.size();
}

void Scheduler::SetLimits(const std::string& webhook, Limits limits, TimeMs now) {
    std::lock_guard lock(impl_->mu);
    Gate& g = impl_->gates[webhook];
    if (!g.known || g.limits.rate_per_second != limits.rate_per_second) {
        g.tokens = limits.rate_per_second.value_or(0);
        g.refilled_at = now;
    }
    g.limits = limits;
    g.known = true;
}

void Scheduler::Pause(const std::string& webhook, TimeMs until) {
    std::lock_guard lock(impl_->mu);
    Gate& g = impl_->gates[webhook];
    g.paused_until = std::max(g.paused_until, until);
}

bool Scheduler::Ready(std::int64_t seq) {
    std::lock_guard lock(impl_->mu);
    Impl& s = *impl_;
    auto it = s.leases.find(seq);
    if (it == s.leases.end() || it->second.started) return false;
    Gate& g = s.gates[it->second.webhook];
    g.ready.push_back(seq);
    ++s.ready;
    if (!g.in_turn) {
        g.in_turn = true;
        s.turn.push_back(it->second.webhook);
    }
    return true;
}

std::optional<std::int64_t> Scheduler::NextStart(TimeMs now) {
    std::lock_guard lock(impl_->mu);
    Impl& s = *impl_;
    for (std::size_t passes = s.turn.size(); passes > 0 && s.Room(now); --passes) {
        std::string id = std::move(s.turn.front());
        s.turn.pop_front();
        Gate& g = s.gates[id];
        // Claims that can no longer start (their partition or webhook went) are dropped;
        // those of a disabled webhook go back to the store.
        while (!g.ready.empty() && !s.Startable(g.ready.front())) {
            s.vanished.push_back(g.ready.front());
            g.ready.pop_front();
            --s.ready;
        }
        if (!g.ready.empty() && s.disabled.contains(id)) {
            for (auto seq : g.ready) s.unstartable.push_back(seq);
            s.ready -= g.ready.size();
            g.ready.clear();
        }
        if (g.ready.empty()) {
            g.in_turn = false;
            continue;
        }
        std::optional<std::int64_t> picked;
        if (g.in_flight < g.limits.max_in_flight && g.paused_until <= now) {
            s.Refill(g, now);
            if (!g.limits.rate_per_second || g.tokens >= 1.0) {
                if (g.limits.rate_per_second) g.tokens -= 1.0;
                picked = g.ready.front();
                g.ready.pop_front();
                --s.ready;
            }
        }
        s.turn.push_back(std::move(id));  // its turn again after the others
        if (!picked) continue;
        Lease& lease = s.leases.at(*picked);
        lease.started = true;
        --g.claimed;
        ++g.in_flight;
        s.flights.insert_or_assign(*picked, Flight{lease.webhook, now, true});
        s.starts.emplace_back(now, *picked);
        ++s.busy;
        return picked;
    }
    return std::nullopt;
}

void Scheduler::Ended(std::int64_t seq) {
    std::lock_guard lock(impl_->mu);
    Impl& s = *impl_;
    auto it = s.flights.find(seq);
    if (it == s.flights.end()) return;
    if (it->second.busy) --s.busy;
    if (auto g = s.gates.find(it->second.webhook); g != s.gates.end()) --g->second.in_flight;
    s.flights.erase(it);
}

std::vector<std::int64_t> Scheduler::TakeUnstartable() {
    std::lock_guard lock(impl_->mu);
    return std::exchange(impl_->unstartable, {});
}

std::vector<std::int64_t> Scheduler::TakeVanished() {
    std::lock_guard lock(impl_->mu);
    return std::exchange(impl_->vanished, {});
}

bool Scheduler::Room(TimeMs now) {
    std::lock_guard lock(impl_->mu);
    return impl_->Room(now);
}

TimeMs Scheduler::NextStartAt(TimeMs now) {
    std::lock_guard lock(impl_->mu);
    Impl& s = *impl_;
    TimeMs at = INT64_MAX;
    if (s.ready == 0) return at;
    s.Age(now);
    if (s.busy >= s.opt.busy_max_in_flight && !s.starts.empty()) {
        at = std::min(at, s.starts.front().first + s.opt.slow_after_ms);
    }
    for (const auto& id : s.turn) {
        const Gate& g = s.gates[id];
        if (g.ready.empty() || g.in_flight >= g.limits.max_in_flight) continue;
        if (g.paused_until > now) {
            at = std::min(at, g.paused_until);
        } else if (g.limits.rate_per_second && g.tokens < 1.0) {
            const double rate = *g.limits.rate_per_second;
            const double tokens = Impl::TokensAt(g, now);
            at = std::min(at, tokens >= 1.0 ? now : now + static_cast<TimeMs>((1.0 - tokens) * 1000.0 / rate) + 1);
        }
    }
    return at;
}

std::size_t Scheduler::ready() const {
    std::lock_guard lock(impl_->mu);
    return impl_->ready;
}

std::size_t Scheduler::in_flight() const {
    std::lock_guard lock(impl_->mu);
    return impl_->flights.size();
}

}  // namespace hookd::sched
