#include "delivery/dispatcher.hpp"

#include <spdlog/spdlog.h>

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <iterator>
#include <queue>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "delivery/http_client.hpp"

namespace hookd::delivery {
namespace {

constexpr DurationMs kWebhookCacheTtlMs = 2'000;

// The cached copy of a webhook (its limits live in the scheduler).
struct HookState {
    std::shared_ptr<const Webhook> hook;
    TimeMs loaded_at = 0;
    // Disabled here (410 Gone) at this stored version, before the store has recorded it:
    // a reload that still shows this version keeps it disabled.
    std::optional<std::int64_t> disabled_at_version;
};

struct InFlight {
    store::Claimed claimed;
    std::shared_ptr<const Webhook> hook;
    TimeMs started_at = 0;
    std::shared_ptr<std::promise<Result<TestResult>>> test;  // set for test messages
};

//! Outcomes on their way to the store, with the test messages waiting for them.
struct Batch {
    std::vector<store::Outcome> outcomes;
    std::vector<std::shared_ptr<std::promise<Result<TestResult>>>> test_promises;
    std::vector<TestResult> test_results;  // parallel to test_promises

    [[nodiscard]] bool empty() const { return outcomes.empty(); }
    void Append(Batch&& more) {
        if (empty()) {
            std::swap(*this, more);
            more = Batch{};
            return;
        }
        std::move(more.outcomes.begin(), more.outcomes.end(), std::back_inserter(outcomes));
        std::move(more.test_promises.begin(), more.test_promises.end(), std::back_inserter(test_promises));
        std::move(more.test_results.begin(), more.test_results.end(), std::back_inserter(test_results));
        more = Batch{};
    }
};

struct TestRequest {
    Webhook hook;
    store::Claimed claimed;
    std::shared_ptr<std::promise<Result<TestResult>>> promise;
};

}  // namespace

struct Dispatcher::Impl {
    store::Store& store;
    Metrics& metrics;
    const Clock& clock;
    RandomSource random;
    DispatcherOptions opt;
    HttpClient http;
    sched::Scheduler sched;  // what is due and what may start; fed by the store (Attach)

    std::thread thread;
    std::atomic<bool> running{false};
    std::atomic<bool> stopping{false};
    std::atomic<bool> woken{true};
    std::atomic<std::int64_t> in_flight_count{0};
    DurationMs drain_ms = 0;

    std::mutex control_mu;
    std::vector<TestRequest> tests;
    std::vector<WebhookId> invalidated;

    // Owned by the worker thread.
    std::unordered_map<std::string, HookState> hooks;
    std::unordered_map<std::uint64_t, InFlight> flights;
    std::unordered_map<std::int64_t, store::Claimed> rows;  // claimed, waiting for the scheduler to start them
    std::unordered_set<std::int64_t> held;  // seqs claimed and not yet completed
    std::vector<std::int64_t> to_release;   // claims handed back unsent (webhook disabled or deleted)
    std::uint64_t next_tag = 1;
    TimeMs next_claim_at = 0;
    TimeMs next_renew_at = 0;
    // Due times of retries this node scheduled: the claim loop wakes for each.
    std::priority_queue<TimeMs, std::vector<TimeMs>, std::greater<>> retry_due;
    TimeMs next_start_at = INT64_MAX;  // earliest time a rate-limited / paused webhook may send again
    Batch batch;  // outcomes of this turn of the loop

    // The recorder: a thread of its own writes outcomes to the store, so the sending loop
    // never waits for a commit (and a slow store only slows recording, up to a bound).
    std::thread recorder;
    std::mutex record_mu;
    std::condition_variable record_cv;
    Batch to_record;               // guarded by record_mu
    bool recorder_stop = false;    // guarded by record_mu
    std::atomic<std::int64_t> unrecorded{0};  // outcomes handed over and not yet committed

    Impl(store::Store& s, Metrics& m, const Clock& c, RandomSource r, DispatcherOptions o)
        : store(s),
          metrics(m),
          clock(c),
          random(std::move(r)),
          opt(std::move(o)),
          http(HttpClientOptions{opt.policy, opt.ca_file, 1024}),
          sched(sched::SchedulerOptions{.idempotent_adds = !opt.sole_node,
                                        .global_max_in_flight = opt.global_max_in_flight,
                                        .busy_max_in_flight = opt.busy_max_in_flight,
                                        .slow_after_ms = opt.slow_after_ms}) {}

    void Run();
    void TakeControl();
    void ClaimDue(TimeMs now);
    HookState* LoadHook(const WebhookId& id, TimeMs now);
    void StartReady(TimeMs now);
    //! Drops the rows of claims the scheduler let go before they started.
    void LetGoOfVanished();
    void StartOne(const std::shared_ptr<const Webhook>& hook, store::Claimed claimed, TimeMs now,
                  std::shared_ptr<std::promise<Result<TestResult>>> test);
    void Finish(const HttpResult& r, TimeMs now);
    void Flush();
    void Record();
    void ReleaseUnsent(TimeMs now);
    void DisableHere(HookState& hs, std::string reason, TimeMs now);
    [[nodiscard]] bool RecorderBehind() const { return unrecorded > 4 * opt.global_max_in_flight; }
    int WaitMs(TimeMs now) const;
};

Dispatcher::Dispatcher(store::Store& store, Metrics& metrics, const Clock& clock, RandomSource random,
                       DispatcherOptions options)
    : impl_(std::make_unique<Impl>(store, metrics, clock, std::move(random), std::move(options))) {}

Dispatcher::~Dispatcher() { Stop(0); }

void Dispatcher::Start() {
    if (impl_->running.exchange(true)) return;
    impl_->store.Attach(&impl_->sched);
    impl_->recorder = std::thread([this] {
        pthread_setname_np(pthread_self(), "hookd-record");
        impl_->Record();
    });
    impl_->thread = std::thread([this] {
        pthread_setname_np(pthread_self(), "hookd-dispatch");
        impl_->Run();
    });
}

void Dispatcher::Stop(DurationMs drain_ms) {
    if (!impl_->running) return;
    impl_->drain_ms = drain_ms;
    impl_->stopping = true;
    impl_->http.Wakeup();
    if (impl_->thread.joinable()) impl_->thread.join();
    impl_->store.Attach(nullptr);
    impl_->running = false;
}

void Dispatcher::Wake() {
    impl_->woken = true;
    impl_->http.Wakeup();
}

void Dispatcher::InvalidateWebhook(const WebhookId& id) {
    {
        std::lock_guard lock(impl_->control_mu);
        impl_->invalidated.push_back(id);
    }
    Wake();
}

std::future<Result<TestResult>> Dispatcher::SendTest(const Webhook& webhook, store::Claimed delivery) {
    auto promise = std::make_shared<std::promise<Result<TestResult>>>();
    auto future = promise->get_future();
    if (!impl_->running || impl_->stopping) {
        promise->set_value(Fail(Error::Unavailable("the dispatcher is shutting down")));
        return future;
    }
    {
        std::lock_guard lock(impl_->control_mu);
        impl_->tests.push_back(TestRequest{webhook, std::move(delivery), promise});
    }
    impl_->http.Wakeup();
    return future;
}

std::int64_t Dispatcher::in_flight() const { return impl_->in_flight_count; }

void Dispatcher::Impl::Run() {
    std::vector<HttpResult> done;
    TimeMs drain_deadline = 0;
    while (true) {
        TimeMs now = clock.Now();
        if (stopping) {
            if (drain_deadline == 0) drain_deadline = now + drain_ms;
            if (flights.empty() || now >= drain_deadline) break;
        }
        TakeControl();
        if (!stopping && (woken.exchange(false) || now >= next_claim_at)) ClaimDue(now);
        if (!stopping && !RecorderBehind()) StartReady(now);
        ReleaseUnsent(now);
        metrics.SetInFlight(static_cast<std::int64_t>(flights.size()));
        done.clear();
        http.Poll(WaitMs(now), done);
        now = clock.Now();
        for (const auto& r : done) Finish(r, now);
        Flush();
        if (now >= next_renew_at) {
            // Keep the leases of what is buffered or in flight, so no other node takes it.
            std::vector<std::int64_t> seqs(held.begin(), held.end());
            sched.Renew(seqs, now + opt.lease_ms);
            next_renew_at = now + opt.lease_ms / 3;
        }
    }
    // Every outcome is recorded before the leases of what was never sent are given back.
    {
        std::lock_guard lock(record_mu);
        recorder_stop = true;
    }
    record_cv.notify_one();
    recorder.join();
    // Deliveries claimed but never finished go back to the queue, due now.
    if (auto r = store.ReleaseLeases(opt.node_id, clock.Now()); !r) {
        spdlog::warn("giving back unsent claims failed ({}); they are due again when their leases run out",
                     r.error().message);
    }
    for (auto& [tag, f] : flights) {
        if (f.test) f.test->set_value(Fail(Error::Unavailable("shutting down")));
    }
    std::lock_guard lock(control_mu);
    for (auto& t : tests) t.promise->set_value(Fail(Error::Unavailable("shutting down")));
    tests.clear();
}

void Dispatcher::Impl::TakeControl() {
    std::vector<TestRequest> new_tests;
    std::vector<WebhookId> inval;
    {
        std::lock_guard lock(control_mu);
        new_tests.swap(tests);
        inval.swap(invalidated);
    }
    const TimeMs now = clock.Now();
    for (const auto& id : inval) {
        if (auto it = hooks.find(id.str()); it != hooks.end()) {
            it->second.loaded_at = 0;
            (void)LoadHook(id, now);
        }
    }
    for (auto& t : new_tests) {
        StartOne(std::make_shared<const Webhook>(std::move(t.hook)), std::move(t.claimed), now, t.promise);
    }
}

HookState* Dispatcher::Impl::LoadHook(const WebhookId& id, TimeMs now) {
    HookState& hs = hooks[id.str()];
    if (!hs.hook || now - hs.loaded_at > kWebhookCacheTtlMs) {
        auto w = store.GetWebhookById(id);
        if (!w) {
            if (w.error().code == ErrorCode::kNotFound) {
                hs.hook.reset();
                return nullptr;
            }
            if (!hs.hook) return nullptr;
        } else if (hs.disabled_at_version && w->version == *hs.disabled_at_version) {
            // Our own 410 disable is not recorded yet: stay disabled.
        } else {
            hs.disabled_at_version.reset();
            sched.SetLimits(id.str(), sched::Limits{w->max_in_flight, w->rate_limit_per_second}, now);
            hs.hook = std::make_shared<const Webhook>(std::move(*w));
        }
        hs.loaded_at = now;
    }
    return &hs;
}

void Dispatcher::Impl::ClaimDue(TimeMs now) {
    LetGoOfVanished();
    const int room = opt.claim_batch - static_cast<int>(rows.size());
    if (room <= 0) return;
    // The scheduler picks (its order, each webhook's buffer bound, pauses, disabled
    // webhooks); the store reads the rows.
    const auto started = std::chrono::steady_clock::now();
    auto claimed = store.Claim(opt.node_id, now, opt.lease_ms, room);
    const auto took = std::chrono::steady_clock::now() - started;
    if (took > std::chrono::seconds(1)) {
        spdlog::warn("claiming took {} ms", std::chrono::duration_cast<std::chrono::milliseconds>(took).count());
    }
    if (!claimed) {
        spdlog::warn("claim failed: {}", claimed.error().message);
        next_claim_at = now + opt.poll_interval_ms;
        return;
    }
    for (auto& c : *claimed) {
        if (!held.insert(c.seq).second) continue;  // our own lease expired and we re-claimed it
        // Loaded before it is ready, so the scheduler starts it under the webhook's limits.
        // Every claim not kept is handed back, so the store stops counting it in flight
        // (a partition is handed over only when nothing of it is).
        if (!LoadHook(c.delivery.webhook_id, now)) {
            held.erase(c.seq);  // deleted (or unreadable): pending again if it still is
            to_release.push_back(c.seq);
            continue;
        }
        const std::int64_t seq = c.seq;
        rows.insert_or_assign(seq, std::move(c));
        if (!sched.Ready(seq)) {  // its partition or webhook went since the claim
            rows.erase(seq);
            held.erase(seq);
            to_release.push_back(seq);
        }
    }
    // A full claim means more may be due: claim again as soon as there is room. Otherwise
    // poll, but no later than the next retry this node scheduled. (A request ending makes
    // room: see Finish.)
    const bool full = static_cast<int>(claimed->size()) >= room;
    while (!retry_due.empty() && retry_due.top() <= now) retry_due.pop();
    next_claim_at = full ? now : now + opt.poll_interval_ms;
    if (!retry_due.empty()) next_claim_at = std::min(next_claim_at, retry_due.top());
}

void Dispatcher::Impl::LetGoOfVanished() {
    for (auto seq : sched.TakeVanished()) {
        if (rows.erase(seq) > 0) to_release.push_back(seq);  // not counted in flight any more
        held.erase(seq);
    }
}

void Dispatcher::Impl::StartReady(TimeMs now) {
    while (auto seq = sched.NextStart(now)) {
        auto row = rows.extract(*seq);
        if (row.empty()) {
            sched.Ended(*seq);
            continue;
        }
        store::Claimed c = std::move(row.mapped());
        HookState* hs = LoadHook(c.delivery.webhook_id, now);
        if (!hs || !hs->hook || !hs->hook->enabled || !store.MayStart(c)) {
            // Deleted, disabled here (410) or its partition no longer ours (session lost,
            // handed over): not sent from here, and the claim goes back to the store (a
            // disabled webhook's delivery waits pending; the others are gone from the
            // scheduler already, and the store stops counting them in flight).
            sched.Ended(*seq);
            held.erase(c.seq);
            to_release.push_back(c.seq);
            continue;
        }
        StartOne(hs->hook, std::move(c), now, nullptr);
    }
    LetGoOfVanished();
    // Ready claims of webhooks disabled or deleted since: back to the store, pending.
    for (auto seq : sched.TakeUnstartable()) {
        rows.erase(seq);
        held.erase(seq);
        to_release.push_back(seq);
    }
    next_start_at = sched.NextStartAt(now);
}

void Dispatcher::Impl::StartOne(const std::shared_ptr<const Webhook>& hook, store::Claimed claimed, TimeMs now,
                                std::shared_ptr<std::promise<Result<TestResult>>> test) {
    const Webhook& w = *hook;
    const Delivery& d = claimed.delivery;
    auto req = wire::Build(w.method, w.payload_url, d.id.str(), d.type, d.entity, d.entity_id, w.SigningSecrets(now),
                           now / 1000, wire::TraceFor(d));  // a span of its own per attempt
    const std::uint64_t tag = next_tag++;
    InFlight f{std::move(claimed), hook, now, std::move(test)};
    if (!req) {
        // Cannot happen for a validated URL; record it as a failed attempt.
        HttpResult r;
        r.tag = tag;
        r.error = AttemptError::kOther;
        r.snippet = req.error().message;
        flights.emplace(tag, std::move(f));
        Finish(r, now);
        return;
    }
    flights.emplace(tag, std::move(f));
    in_flight_count = static_cast<std::int64_t>(flights.size());
    http.Start(std::move(*req), w.timeout_ms, tag);
}

void Dispatcher::Impl::Finish(const HttpResult& r, TimeMs now) {
    auto it = flights.find(r.tag);
    if (it == flights.end()) return;
    InFlight f = std::move(it->second);
    flights.erase(it);
    in_flight_count = static_cast<std::int64_t>(flights.size());
    const Webhook& w = *f.hook;
    if (!f.test) {
        // Room again for this webhook: claim at once. (The next delivery of an entity
        // becomes claimable only once this outcome is recorded; the recorder wakes the
        // loop for that.)
        sched.Ended(f.claimed.seq);
        next_claim_at = now;
        held.erase(f.claimed.seq);
    }

    store::Outcome o;
    o.seq = f.claimed.seq;
    o.webhook_id = w.id;
    o.part = f.claimed.part;
    o.fence = f.claimed.fence;
    if (!f.test) o.lease_owner = opt.node_id;
    Attempt& a = o.attempt;
    a.number = f.claimed.delivery.attempt_count + 1;
    a.started_at = f.started_at;
    a.duration_ms = r.duration_ms;
    a.status = r.status;
    a.error = r.error;
    a.response_snippet = r.snippet;
    const bool ok = r.status && *r.status >= 200 && *r.status <= 299;
    int final_state = 0;
    if (ok) {
        o.state = DeliveryState::kSucceeded;
        final_state = 1;
    } else if (f.test) {
        o.state = DeliveryState::kFailed;
        final_state = 2;
    } else {
        if (r.status == 410) {
            // Disabled at once: nothing more is started for it from this moment, and this
            // delivery stays pending (with its next retry time) like the others, until
            // the webhook is enabled again.
            o.disable_webhook_reason = "the receiver answered 410 Gone";
            if (auto h = hooks.find(w.id.str()); h != hooks.end()) DisableHere(h->second, *o.disable_webhook_reason, now);
            spdlog::warn("webhook {} of site {} disabled: receiver answered 410 Gone", w.id.str(), w.site);
            metrics.WebhookDisabled(DisableReason::kGone);
        }
        std::optional<DurationMs> retry_after;
        if (r.status == 429 || r.status == 503) {
            retry_after = r.retry_after;
            if (retry_after) sched.Pause(w.id.str(), now + std::min(*retry_after, RetrySchedule::kMaxRetryAfter));
        }
        o.auto_disable_after_ms = opt.auto_disable_after_ms;
        auto delay = opt.schedule.NextDelay(a.number, random, retry_after);
        if (delay) {
            o.state = DeliveryState::kPending;
            o.next_attempt_at = now + *delay;
            retry_due.push(*o.next_attempt_at);
            next_claim_at = std::min(next_claim_at, *o.next_attempt_at);
        } else {
            o.state = DeliveryState::kFailed;
            final_state = 2;
        }
    }
    metrics.AttemptFinished(w.site, w.id.str(), ok, static_cast<double>(r.duration_ms) / 1000.0, final_state);
    if (f.test) {
        batch.test_promises.push_back(f.test);
        batch.test_results.push_back(TestResult{f.claimed.delivery.id, a});
    }
    batch.outcomes.push_back(std::move(o));
}

void Dispatcher::Impl::Flush() {
    if (batch.empty()) return;
    unrecorded += static_cast<std::int64_t>(batch.outcomes.size());
    {
        std::lock_guard lock(record_mu);
        to_record.Append(std::move(batch));
    }
    record_cv.notify_one();
}

void Dispatcher::Impl::Record() {
    Batch b;
    while (true) {
        {
            std::unique_lock lock(record_mu);
            record_cv.wait(lock, [this] { return recorder_stop || !to_record.empty(); });
            if (to_record.empty()) return;  // stopping, and everything is recorded
            std::swap(b, to_record);
        }
        const TimeMs now = clock.Now();
        if (auto r = store.Complete(b.outcomes, now); r) {
            for (const auto& id : *r) {
                spdlog::warn("webhook {} disabled: every delivery failed for {}", id.str(),
                             FormatDuration(opt.auto_disable_after_ms));
                metrics.WebhookDisabled(DisableReason::kFailing);
                std::lock_guard lock(control_mu);
                invalidated.push_back(id);
            }
        } else {
            // Not recorded: the leases expire and the deliveries are attempted again
            // (at-least-once). Tests still learn their attempt.
            spdlog::error("recording {} attempts failed: {}", b.outcomes.size(), r.error().message);
        }
        for (std::size_t i = 0; i < b.test_promises.size(); ++i) b.test_promises[i]->set_value(b.test_results[i]);
        unrecorded -= static_cast<std::int64_t>(b.outcomes.size());
        b = Batch{};
        // Recorded outcomes may free work: the next delivery of an entity, a retry due now.
        woken = true;
        http.Wakeup();
    }
}

void Dispatcher::Impl::DisableHere(HookState& hs, std::string reason, TimeMs now) {
    if (!hs.hook || !hs.hook->enabled) return;
    auto copy = std::make_shared<Webhook>(*hs.hook);
    copy->enabled = false;
    copy->disabled_reason = std::move(reason);
    copy->disabled_at = now;
    hs.disabled_at_version = hs.hook->version;
    sched.SetEnabled(copy->id.str(), false);
    hs.hook = std::move(copy);
    hs.loaded_at = now;
}

void Dispatcher::Impl::ReleaseUnsent(TimeMs now) {
    if (to_release.empty()) return;
    if (auto r = store.ReleaseClaims(opt.node_id, to_release, now); !r) {
        // Their leases run out instead (renewals stopped with the hand-back).
        spdlog::warn("handing back {} claims failed: {}", to_release.size(), r.error().message);
    }
    to_release.clear();
}

int Dispatcher::Impl::WaitMs(TimeMs now) const {
    if (stopping) return 50;
    // A full buffer claims nothing (ClaimDue returns at once): wait for completions instead
    // of spinning on a claim time in the past.
    TimeMs until = static_cast<int>(rows.size()) < opt.claim_batch ? next_claim_at : now + opt.poll_interval_ms;
    // A token refill, a pause ending, the busy window's oldest request ageing out.
    until = std::min(until, next_start_at);
    const TimeMs wait = until - now;
    return static_cast<int>(std::clamp<TimeMs>(wait, 0, opt.poll_interval_ms));
}

}  // namespace hookd::delivery
