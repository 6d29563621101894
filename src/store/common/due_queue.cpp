#include "store/common/due_queue.hpp"

#include <algorithm>

namespace hookd::store::common {
namespace {

// std::push_heap builds a max-heap; "later first" as the order makes it a min-heap.
constexpr auto kLater = [](const auto& a, const auto& b) { return a.due != b.due ? a.due > b.due : a.seq > b.seq; };

}  // namespace

DueQueue::Hook& DueQueue::HookFor(const std::string& webhook, int part) {
    auto& slot = hooks_[webhook];
    if (!slot) {
        slot = std::make_unique<Hook>();
        slot->id = webhook;
        slot->part = part;
    }
    return *slot;
}

void DueQueue::Push(Hook& h, Item item) {
    h.heap.push_back(item);
    std::push_heap(h.heap.begin(), h.heap.end(), kLater);
    ++queued_;
    if (!h.active) {
        h.active = true;
        active_.push_back(&h);
    }
}

DueQueue::Item DueQueue::Pop(Hook& h) {
    std::pop_heap(h.heap.begin(), h.heap.end(), kLater);
    const Item item = h.heap.back();
    h.heap.pop_back();
    --queued_;
    return item;
}

void DueQueue::Add(Entry e) {
    if (idempotent_) {
        if (Contains(e.seq)) return;
        members_.insert(e.seq);
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

std::vector<std::int64_t> DueQueue::Requeue(std::vector<Entry> entries) {
    std::vector<std::int64_t> left;
    std::unordered_map<std::string, std::unordered_set<std::int64_t>> moving;
    std::vector<Entry> todo;
    for (auto& e : entries) {
        if (held_.contains(e.seq)) {
            left.push_back(e.seq);
            continue;
        }
        moving[e.webhook].insert(e.seq);
        todo.push_back(std::move(e));
    }
    // Take the moving deliveries out of their heaps, in one pass per webhook.
    for (const auto& move : moving) {
        const auto& seqs = move.second;  // (not a structured binding: clang 14 can't capture those)
        auto it = hooks_.find(move.first);
        if (it == hooks_.end()) continue;
        auto& heap = it->second->heap;
        const auto before = heap.size();
        std::erase_if(heap, [&](const Item& x) { return seqs.contains(x.seq); });
        if (idempotent_) {
            for (auto seq : seqs) members_.erase(seq);
        }
        queued_ -= before - heap.size();
        std::make_heap(heap.begin(), heap.end(), kLater);
    }
    for (auto& e : todo) {
        if (e.order_key) {
            Hook& h = HookFor(e.webhook, e.part);
            if (auto c = h.chains.find(*e.order_key); c != h.chains.end()) {
                auto item = std::find_if(c->second.begin(), c->second.end(),
                                         [&](const Item& x) { return x.seq == e.seq; });
                if (item != c->second.end()) {
                    if (idempotent_) members_.insert(e.seq);
                    item->due = e.due;
                    if (item == c->second.begin()) Push(h, *item);
                    continue;
                }
            }
        }
        Add(std::move(e));
    }
    return left;
}

std::vector<std::int64_t> DueQueue::Claim(TimeMs now, DurationMs lease_ms, int limit,
                                          std::span<const WebhookId> skip) {
    std::vector<std::int64_t> out;
    const TimeMs until = now + lease_ms;
    std::unordered_set<std::string_view> skipped;
    for (const auto& id : skip) skipped.insert(id.str());
    const auto eligible = [&](const std::string& webhook) {
        return !disabled_.contains(webhook) && !skipped.contains(webhook) && hooks_.contains(webhook);
    };
    // Leases that ran out are handed out again (their holder is gone or stuck).
    if (now >= earliest_lease_) {
        earliest_lease_ = INT64_MAX;
        for (auto& [seq, lease] : held_) {
            if (lease.until <= now && static_cast<int>(out.size()) < limit && eligible(lease.webhook)) {
                out.push_back(seq);
                lease.until = until;
            }
            earliest_lease_ = std::min(earliest_lease_, lease.until);
        }
    }
    // The webhooks with due work, starting the round at a different one each time.
    std::vector<Hook*> due;
    std::erase_if(active_, [](Hook* h) {
        if (!h->heap.empty()) return false;
        h->active = false;
        return true;
    });
    const std::size_t n = active_.size();
    for (std::size_t i = 0; i < n; ++i) {
        Hook* h = active_[(cursor_ + i) % n];
        if (h->heap.front().due <= now && eligible(h->id)) due.push_back(h);
    }
    if (n > 0) cursor_ = (cursor_ + 1) % n;
    while (static_cast<int>(out.size()) < limit && !due.empty()) {
        for (std::size_t i = 0; i < due.size() && static_cast<int>(out.size()) < limit;) {
            Hook& h = *due[i];
            const Item item = Pop(h);
            if (idempotent_) members_.erase(item.seq);
            Lease lease{h.id, std::nullopt, until};
            if (auto k = h.heads.find(item.seq); k != h.heads.end()) lease.order_key = k->second;
            held_.insert_or_assign(item.seq, std::move(lease));
            out.push_back(item.seq);
            if (h.heap.empty() || h.heap.front().due > now) {
                due.erase(due.begin() + static_cast<std::ptrdiff_t>(i));
            } else {
                ++i;
            }
        }
    }
    if (!held_.empty()) earliest_lease_ = std::min(earliest_lease_, until);
    return out;
}

void DueQueue::Renew(std::span<const std::int64_t> seqs, TimeMs until) {
    for (auto seq : seqs) {
        if (auto it = held_.find(seq); it != held_.end()) it->second.until = std::max(it->second.until, until);
    }
}

void DueQueue::AdvanceChain(Hook& h, const std::string& key, std::int64_t seq) {
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

void DueQueue::Finish(std::int64_t seq, std::optional<TimeMs> due) {
    auto node = held_.extract(seq);
    if (node.empty()) return;
    const Lease& lease = node.mapped();
    auto it = hooks_.find(lease.webhook);
    if (it == hooks_.end()) return;  // deleted meanwhile: its deliveries were cancelled
    Hook& h = *it->second;
    if (due) {
        if (idempotent_) members_.insert(seq);
        Push(h, Item{*due, seq});  // still the head of its chain, if it has one
    } else if (lease.order_key) {
        AdvanceChain(h, *lease.order_key, seq);
    }
}

std::int64_t DueQueue::ReleaseAll(TimeMs now) {
    const auto n = static_cast<std::int64_t>(held_.size());
    for (auto& [seq, lease] : held_) {
        if (auto it = hooks_.find(lease.webhook); it != hooks_.end()) {
            if (idempotent_) members_.insert(seq);
            Push(*it->second, Item{now, seq});
        }
    }
    held_.clear();
    earliest_lease_ = INT64_MAX;
    return n;
}

void DueQueue::SetEnabled(const std::string& webhook, bool enabled) {
    if (enabled) {
        disabled_.erase(webhook);
    } else {
        disabled_.insert(webhook);
    }
}

void DueQueue::Forget(Hook& h) {
    if (idempotent_) {
        for (const Item& x : h.heap) members_.erase(x.seq);
        for (const auto& chain : h.chains) {
            for (const Item& x : chain.second) members_.erase(x.seq);
        }
    }
    queued_ -= h.heap.size();
    std::erase(active_, &h);
}

void DueQueue::RemoveWebhook(const std::string& webhook) {
    disabled_.erase(webhook);
    auto it = hooks_.find(webhook);
    if (it == hooks_.end()) return;
    Forget(*it->second);
    hooks_.erase(it);
}

void DueQueue::RemovePartition(int part) {
    std::unordered_set<std::string> gone;
    for (auto it = hooks_.begin(); it != hooks_.end();) {
        if (it->second->part != part) {
            ++it;
            continue;
        }
        gone.insert(it->first);
        disabled_.erase(it->first);
        Forget(*it->second);
        it = hooks_.erase(it);
    }
    // Its claims still out are forgotten too: should the partition come back, a reload
    // must be able to queue them again (their outcomes are fenced off meanwhile).
    std::erase_if(held_, [&](const auto& kv) { return gone.contains(kv.second.webhook); });
    if (cursor_ >= active_.size()) cursor_ = 0;
}

std::optional<TimeMs> DueQueue::NextDue() const {
    std::optional<TimeMs> next;
    for (const Hook* h : active_) {
        if (h->heap.empty() || disabled_.contains(h->id)) continue;
        if (!next || h->heap.front().due < *next) next = h->heap.front().due;
    }
    return next;
}

}  // namespace hookd::store::common
