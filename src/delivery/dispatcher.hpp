#pragma once
// The dispatcher: claim due deliveries → sign → send → record / reschedule.
// One thread drives libcurl's multi interface. It owns the scheduler (sched/scheduler.hpp),
// which the store feeds and which decides what is claimed and started when; the store
// keeps the rows.
//
// Isolation (enforced by the scheduler): at most `max_in_flight` requests per webhook and
// `global_max_in_flight` overall; ready deliveries are started round-robin across
// webhooks, so a slow or failing receiver never holds the others back. Optional
// per-webhook rate limits (token bucket) and Retry-After on 429/503 slow only that webhook.
//
// Of the global limit, only `busy_max_in_flight` may be requests younger than
// `slow_after_ms`. Fast receivers answer within that time, so they share a window of
// that size: beyond ~128 requests in flight on two cores, each request costs more CPU
// (libcurl, the kernel) and nothing is gained (docs/benchmarks.md). A request still
// unanswered after `slow_after_ms` (a slow or hanging receiver, a distant one) leaves the
// window and holds only a slot of the global limit, so receivers that hang until their
// timeout cannot take the window from the healthy ones. Slow receivers can still be
// started at busy_max_in_flight / slow_after_ms (6,400/s) up to the global limit.
#include <future>
#include <memory>
#include <string>

#include "core/address_guard.hpp"
#include "core/metrics.hpp"
#include "core/retry_schedule.hpp"
#include "core/time.hpp"
#include "store/store.hpp"

namespace hookd::delivery {

struct DispatcherOptions {
    std::string node_id = "local";             //!< lease owner name
    bool sole_node = true;                     //!< embedded store: at start, every lease is ours to resume
    int global_max_in_flight = 512;            //!< concurrent requests overall
    int busy_max_in_flight = 64;               //!< of those, requests younger than slow_after_ms
    DurationMs slow_after_ms = 10;             //!< a request unanswered this long no longer counts as busy
    int claim_batch = 512;                     //!< deliveries claimed per store round trip
    DurationMs lease_ms = 30'000;              //!< a claim not renewed by then is due again (renewed every third)
    DurationMs poll_interval_ms = 1'000;       //!< store poll when idle (new work also wakes it)
    RetrySchedule schedule = RetrySchedule::Default();
    AddressPolicy policy;                      //!< SSRF guard
    std::string ca_file;                       //!< empty = system bundle
    DurationMs auto_disable_after_ms = 5LL * 24 * 3'600'000;  //!< all attempts failing this long disables
};

//! The result of a test message: the attempt and the delivery that recorded it.
struct TestResult {
    DeliveryId delivery_id;
    Attempt attempt;
};

class Dispatcher final {
public:
    Dispatcher(store::Store& store, Metrics& metrics, const Clock& clock, RandomSource random,
               DispatcherOptions options);
    ~Dispatcher();
    Dispatcher(const Dispatcher&) = delete;
    Dispatcher& operator=(const Dispatcher&) = delete;

    //! Starts the worker thread.
    void Start();
    //! Stops claiming, waits up to `drain_ms` for requests in flight, records them, releases
    //! the leases of what was not sent, and joins the thread.
    void Stop(DurationMs drain_ms);
    //! New work was committed: claim now rather than at the next poll. Thread-safe.
    void Wake();
    //! Forget the cached copy of a webhook (after an update). Thread-safe.
    void InvalidateWebhook(const WebhookId& id);
    //! Sends a test message now (ignoring limits) and resolves with its attempt. Thread-safe.
    std::future<Result<TestResult>> SendTest(const Webhook& webhook, store::Claimed delivery);
    [[nodiscard]] std::int64_t in_flight() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace hookd::delivery
