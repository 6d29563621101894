#pragma once
// What both store implementations share: reading domain objects from a result row,
// list encoding, pagination, event matching and group commit. `Row` is any type with
// Text(col), Int(col), OptText(col) and OptInt(col) (sqlite::Stmt, postgres::RowRef).
#include <algorithm>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "core/crypto.hpp"
#include "store/store.hpp"

namespace hookd::store::common {

//! Entity names are [A-Za-z0-9_]: a comma-separated list needs no escaping.
std::string JoinList(const std::vector<std::string>& items);
std::vector<std::string> SplitList(std::string_view s);
inline int ClampLimit(int limit) { return std::clamp(limit, 1, 1000); }

//! Rows were fetched with LIMIT limit+1: trims the extra one and sets the cursor.
template <typename T, typename KeyFn>
Page<T> Paginate(Page<T> page, int limit, KeyFn key) {
    if (static_cast<int>(page.items.size()) > limit) {
        page.items.resize(static_cast<std::size_t>(limit));
        page.next_cursor = key(page.items.back());
    }
    return page;
}

//! Columns: id, site, role, name, created_at.
template <typename Row>
Token ReadToken(const Row& s) {
    Token t;
    t.id = TokenId(s.Text(0));
    t.site = s.OptText(1);
    t.role = static_cast<Role>(s.Int(2));
    t.name = s.Text(3);
    t.created_at = s.Int(4);
    return t;
}

inline constexpr std::string_view kWebhookColumns =
    "SELECT id, site, payload_url, secret, old_secret, old_secret_until, events, method, send_everything, "
    "entities, description, enabled, ordering, timeout_ms, max_in_flight, rate_limit, disabled_reason, "
    "disabled_at, created_at, updated_at, version FROM webhooks";

//! Columns as kWebhookColumns; secrets are opened with `box`.
template <typename Row>
Result<Webhook> ReadWebhook(const Row& s, const crypto::SecretBox& box) {
    Webhook w;
    w.id = WebhookId(s.Text(0));
    w.site = s.Text(1);
    w.payload_url = s.Text(2);
    auto secret = box.Open(s.Text(3));
    if (!secret) return Fail(Error::Internal("webhook " + w.id.str() + ": its secret cannot be decrypted: " +
                                             secret.error().message));
    w.secret = std::move(*secret);
    if (auto old = s.OptText(4)) {
        // The previous secret still signs during its grace period: losing it silently
        // would break receivers that have not switched yet.
        auto o = box.Open(*old);
        if (!o) {
            return Fail(Error::Internal("webhook " + w.id.str() + ": its previous secret (rotation grace period) "
                                        "cannot be decrypted: " + o.error().message));
        }
        w.old_secret = std::move(*o);
    }
    w.old_secret_until = s.Int(5);
    w.events = static_cast<EventMask>(s.Int(6));
    w.method = static_cast<HttpMethod>(s.Int(7));
    w.send_everything = s.Int(8) != 0;
    w.entities = SplitList(s.Text(9));
    w.description = s.Text(10);
    w.enabled = s.Int(11) != 0;
    w.ordering = static_cast<Ordering>(s.Int(12));
    w.timeout_ms = static_cast<std::int32_t>(s.Int(13));
    w.max_in_flight = static_cast<std::int32_t>(s.Int(14));
    if (auto rl = s.OptInt(15)) w.rate_limit_per_second = static_cast<std::int32_t>(*rl);
    w.disabled_reason = s.OptText(16);
    w.disabled_at = s.OptInt(17);
    w.created_at = s.Int(18);
    w.updated_at = s.Int(19);
    w.version = s.Int(20);
    return w;
}

//! The event's trace context, by the events table's primary key: traceparent, tracestate
//! (NULL for test messages and events from before migration 7). Appended to claims' columns.
inline constexpr std::string_view kEventTraceColumns =
    "(SELECT e.traceparent FROM events e WHERE e.id = deliveries.event_id), "
    "(SELECT e.tracestate FROM events e WHERE e.id = deliveries.event_id)";

//! Columns 17 and 18 are kEventTraceColumns.
inline constexpr std::string_view kDeliveryColumns =
    "SELECT seq, id, site, webhook_id, event_id, event, entity, entity_id, entity_num, state, attempt_count, "
    "next_at, last_status, last_error, test, created_at, updated_at, "
    "(SELECT e.traceparent FROM events e WHERE e.id = deliveries.event_id), "
    "(SELECT e.tracestate FROM events e WHERE e.id = deliveries.event_id) FROM deliveries";

//! Columns as kDeliveryColumns.
template <typename Row>
Delivery ReadDelivery(const Row& s) {
    Delivery d;
    d.id = DeliveryId(s.Text(1));
    d.site = s.Text(2);
    d.webhook_id = WebhookId(s.Text(3));
    d.event_id = EventId(s.Text(4));
    d.type = static_cast<EventType>(s.Int(5));
    d.entity = s.Text(6);
    d.entity_id = EntityId{s.Text(7), s.Int(8) != 0};
    d.state = static_cast<DeliveryState>(s.Int(9));
    d.attempt_count = static_cast<int>(s.Int(10));
    d.next_attempt_at = s.OptInt(11);
    if (d.state != DeliveryState::kPending) d.next_attempt_at.reset();
    if (auto st = s.OptInt(12)) d.last_status = static_cast<int>(*st);
    d.last_error = static_cast<AttemptError>(s.Int(13));
    d.test = s.Int(14) != 0;
    d.created_at = s.Int(15);
    d.updated_at = s.Int(16);
    d.traceparent = s.OptText(17);
    d.tracestate = s.OptText(18);
    return d;
}

//! Columns: number, started_at, duration_ms, status, error, snippet.
template <typename Row>
Attempt ReadAttempt(const Row& s) {
    Attempt a;
    a.number = static_cast<int>(s.Int(0));
    a.started_at = s.Int(1);
    a.duration_ms = s.Int(2);
    if (auto v = s.OptInt(3)) a.status = static_cast<int>(*v);
    a.error = static_cast<AttemptError>(s.Int(4));
    a.response_snippet = s.Text(5);
    return a;
}

//! Columns: seq, id, site, webhook_id, event_id, event, entity, entity_id, entity_num, attempt_count, created_at.
template <typename Row>
Claimed ReadClaimed(const Row& s) {
    Claimed c;
    c.seq = s.Int(0);
    Delivery& d = c.delivery;
    d.id = DeliveryId(s.Text(1));
    d.site = s.Text(2);
    d.webhook_id = WebhookId(s.Text(3));
    d.event_id = EventId(s.Text(4));
    d.type = static_cast<EventType>(s.Int(5));
    d.entity = s.Text(6);
    d.entity_id = EntityId{s.Text(7), s.Int(8) != 0};
    d.attempt_count = static_cast<int>(s.Int(9));
    d.created_at = s.Int(10);
    return c;
}

//! A delivery just created, as a claim returns it (no attempt yet); its seq is set once inserted.
inline Claimed NewClaimed(DeliveryId id, const SiteId& site, const WebhookId& webhook, const EventId& event,
                          EventType type, std::string_view entity, const EntityId& entity_id, TimeMs now) {
    Claimed c;
    Delivery& d = c.delivery;
    d.id = std::move(id);
    d.site = site;
    d.webhook_id = webhook;
    d.event_id = event;
    d.type = type;
    d.entity = std::string(entity);
    d.entity_id = entity_id;
    d.created_at = now;
    return c;
}

//! A test message's delivery (its seq is set once inserted).
inline Claimed NewTestDelivery(const Webhook& w, EventType type, std::string_view entity, const EntityId& entity_id,
                               TimeMs now) {
    Claimed c = NewClaimed(NewTypedId<DeliveryId>(kDeliveryPrefix), w.site, w.id, NewTypedId<EventId>(kEventPrefix),
                           type, entity, entity_id, now);
    c.delivery.updated_at = now;
    c.delivery.test = true;
    return c;
}

//! What ingest needs of a webhook to match events.
struct MatchInfo {
    WebhookId id;
    EventMask events = 0;
    bool everything = false;
    std::vector<std::string> entities;  //!< sorted
    Ordering ordering = Ordering::kNone;

    [[nodiscard]] bool Matches(const ChangeEvent& e) const {
        if ((events & Bit(e.type)) == 0) return false;
        return everything || std::binary_search(entities.begin(), entities.end(), e.entity);
    }
    //! The ordering key of a delivery of `e` to this webhook, when it keeps entity order.
    [[nodiscard]] std::optional<std::string> OrderKey(const ChangeEvent& e) const {
        if (ordering != Ordering::kEntity) return std::nullopt;
        return e.entity + "/" + e.entity_id.text;
    }
};

//! Columns: id, events, send_everything, entities, ordering.
template <typename Row>
MatchInfo ReadMatchInfo(const Row& s) {
    MatchInfo m;
    m.id = WebhookId(s.Text(0));
    m.events = static_cast<EventMask>(s.Int(1));
    m.everything = s.Int(2) != 0;
    m.entities = SplitList(s.Text(3));
    std::sort(m.entities.begin(), m.entities.end());
    m.ordering = static_cast<Ordering>(s.Int(4));
    return m;
}

//! One Ingest call waiting in a group.
struct IngestJob {
    const SiteId* site;
    std::vector<ChangeEvent>* events;
    std::optional<std::string> key;
    TimeMs now;
    Result<IngestResult> result;
    bool done = false;
};

//! Group commit: concurrent callers queue their job; the first becomes the leader and
//! commits everything queued in one transaction while the others wait for it.
//! `commit` sets every job's result. Should it throw (std::bad_alloc, a bug), every job
//! of its batch fails with kInternal and the next caller becomes leader: no caller is
//! left waiting, and nothing is reported committed that was not.
class GroupCommit final {
public:
    template <typename CommitFn>
    Result<IngestResult> Run(IngestJob& job, CommitFn&& commit) {
        RunAll(std::span<IngestJob>(&job, 1), std::forward<CommitFn>(commit));
        return std::move(job.result);
    }

    //! Store::IngestMany on top of RunAll: one job per request, answered in order.
    template <typename CommitFn>
    std::vector<Result<IngestResult>> RunMany(std::vector<Store::IngestRequest>& requests, TimeMs now,
                                              CommitFn&& commit) {
        std::vector<IngestJob> jobs;
        jobs.reserve(requests.size());
        for (auto& r : requests) jobs.push_back(IngestJob{&r.site, &r.events, r.idempotency_key, now, {}, false});
        RunAll(jobs, std::forward<CommitFn>(commit));
        std::vector<Result<IngestResult>> out;
        out.reserve(jobs.size());
        for (auto& j : jobs) out.push_back(std::move(j.result));
        return out;
    }

    //! Queues `jobs` together, in order: they land in the same batch (one transaction),
    //! consecutively. Returns when every one of them is done.
    template <typename CommitFn>
    void RunAll(std::span<IngestJob> jobs, CommitFn&& commit) {
        std::unique_lock lock(mu_);
        for (auto& j : jobs) queue_.push_back(&j);
        auto all_done = [&jobs] { return std::all_of(jobs.begin(), jobs.end(), [](const IngestJob& j) { return j.done; }); };
        while (!all_done()) {
            if (leader_) {
                cv_.wait(lock);
                continue;
            }
            leader_ = true;
            std::vector<IngestJob*> batch;
            batch.swap(queue_);
            lock.unlock();
            try {
                commit(batch);
            } catch (const std::exception& e) {
                for (auto* j : batch) j->result = Fail(Error::Internal(std::string("ingest failed: ") + e.what()));
            } catch (...) {
                for (auto* j : batch) j->result = Fail(Error::Internal("ingest failed"));
            }
            lock.lock();
            for (auto* j : batch) j->done = true;
            leader_ = false;
            cv_.notify_all();
        }
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<IngestJob*> queue_;
    bool leader_ = false;
};

}  // namespace hookd::store::common
