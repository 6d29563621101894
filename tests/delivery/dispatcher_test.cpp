#include "delivery/dispatcher.hpp"
#include "delivery/http_client.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>

#include "core/signature.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/receiver.hpp"
#include "support/temp_dir.hpp"

namespace hookd::delivery {
namespace {

using testing::Receiver;

class DispatcherTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto s = store::OpenSqliteStore({dir_.File("hookd.db"), "NORMAL", 2000},
                                        *crypto::SecretBox::Create(std::string(32, 'k')));
        ASSERT_TRUE(s);
        store_ = std::move(*s);
        ASSERT_TRUE(store_->CreateSite({"acme", "Acme", clock_.Now()}));
    }
    void TearDown() override {
        if (dispatcher_) dispatcher_->Stop(1000);
    }

    void StartDispatcher(std::string schedule = "0s,200ms,200ms", bool allow_private = true,
                         const std::function<void(DispatcherOptions&)>& tweak = {}) {
        DispatcherOptions o;
        o.schedule = *RetrySchedule::Parse(schedule);
        o.policy = AddressPolicy(allow_private, {});
        o.poll_interval_ms = 50;
        if (tweak) tweak(o);
        dispatcher_ = std::make_unique<Dispatcher>(*store_, metrics_, clock_, [] { return 0.5; }, o);
        dispatcher_->Start();
    }

    Webhook AddWebhook(const std::string& url, HttpMethod method = HttpMethod::kPost, int timeout_ms = 15000) {
        Webhook w;
        w.id = NewTypedId<WebhookId>(kWebhookPrefix);
        w.site = "acme";
        w.payload_url = url;
        w.secret = "mySecret";
        w.events = Bit(EventType::kCreate);
        w.method = method;
        w.send_everything = true;
        w.timeout_ms = timeout_ms;
        w.created_at = w.updated_at = clock_.Now();
        EXPECT_TRUE(store_->CreateWebhook(w));
        return w;
    }

    std::vector<EventId> Publish(int n, const std::string& entity = "Agreement") {
        std::vector<ChangeEvent> events;
        for (int i = 0; i < n; ++i) {
            ChangeEvent e;
            e.type = EventType::kCreate;
            e.entity = entity;
            e.entity_id = EntityId{std::to_string(25 + i), true};
            events.push_back(e);
        }
        auto r = store_->Ingest("acme", std::move(events), std::nullopt, clock_.Now());
        EXPECT_TRUE(r);
        dispatcher_->Wake();
        return r ? r->ids : std::vector<EventId>{};
    }

    // Waits until the webhook's newest delivery reaches a final state.
    Delivery WaitFinal(const Webhook& w, int ms = 5000) {
        const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (true) {
            auto list = store_->ListDeliveries("acme", w.id, {}, {});
            if (list && !list->items.empty() && list->items.front().state != DeliveryState::kPending) {
                return *store_->GetDelivery("acme", list->items.front().id);
            }
            if (std::chrono::steady_clock::now() > end) {
                ADD_FAILURE() << "delivery did not finish";
                return {};
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }

    testing::TempDir dir_;
    SystemClock clock_;
    Metrics metrics_;
    std::unique_ptr<store::Store> store_;
    std::unique_ptr<Dispatcher> dispatcher_;
};

std::string Header(const api::HttpRequest& r, const std::string& name) { return std::string(r.Header(name)); }

TEST_F(DispatcherTest, PostDeliveryIsSignedAndRecorded) {
    Receiver rx;
    auto w = AddWebhook(rx.Url("/hooks"));
    StartDispatcher();
    Publish(1);
    ASSERT_TRUE(rx.WaitFor(1, 5000));
    const auto hits = rx.Hits();
    const auto& req = hits[0].request;
    EXPECT_EQ(req.method, "POST");
    EXPECT_EQ(req.path, "/hooks");
    EXPECT_EQ(req.body, R"({"event":"CREATE","entity":"Agreement","entityId":25})");
    EXPECT_EQ(Header(req, "content-type"), "application/json");
    EXPECT_EQ(Header(req, "x-ioffice-signature"), "6206491ddab1218e7d6a9c8b3fbaa43da7858ee678dc6cd53a4dcabf0216568e");
    EXPECT_EQ(Header(req, "user-agent"), "hookd/" HOOKD_VERSION);
    EXPECT_EQ(Header(req, "expect"), "");
    EXPECT_TRUE(signature::VerifyStandard("mySecret", Header(req, "webhook-id"),
                                          std::stoll(Header(req, "webhook-timestamp")), req.body,
                                          Header(req, "webhook-signature")));
    auto d = WaitFinal(w);
    EXPECT_EQ(d.state, DeliveryState::kSucceeded);
    EXPECT_EQ(d.id.str(), Header(req, "webhook-id"));
    ASSERT_EQ(d.attempts.size(), 1u);
    EXPECT_EQ(d.attempts[0].status, 200);
    EXPECT_EQ(d.attempts[0].response_snippet, "status 200");
}

TEST_F(DispatcherTest, GetDeliveryAppendsThePath) {
    Receiver rx;
    AddWebhook(rx.Url("/in/?token=abc"), HttpMethod::kGet);
    StartDispatcher();
    Publish(1);
    ASSERT_TRUE(rx.WaitFor(1, 5000));
    const auto hits = rx.Hits();
    const auto& req = hits[0].request;
    EXPECT_EQ(req.method, "GET");
    EXPECT_EQ(req.path, "/in/CREATE/Agreement/25");
    EXPECT_EQ(req.query, "token=abc");
    EXPECT_TRUE(req.body.empty());
    EXPECT_TRUE(signature::VerifyStandard("mySecret", Header(req, "webhook-id"),
                                          std::stoll(Header(req, "webhook-timestamp")), "/CREATE/Agreement/25",
                                          Header(req, "webhook-signature")));
}

TEST_F(DispatcherTest, RetriesUntilSuccessWithTheSameWebhookId) {
    Receiver rx([](int n) { return std::pair{n < 2 ? 500 : 200, 0}; });
    auto w = AddWebhook(rx.Url());
    StartDispatcher("0s,200ms,200ms");
    Publish(1);
    auto d = WaitFinal(w);
    EXPECT_EQ(d.state, DeliveryState::kSucceeded);
    ASSERT_EQ(d.attempts.size(), 3u);
    EXPECT_EQ(d.attempts[0].status, 500);
    EXPECT_EQ(d.attempts[0].error, AttemptError::kHttp);
    EXPECT_EQ(d.attempts[2].status, 200);
    auto hits = rx.Hits();
    ASSERT_EQ(hits.size(), 3u);
    EXPECT_EQ(Header(hits[0].request, "webhook-id"), Header(hits[2].request, "webhook-id"));
    // The schedule's 200 ms (jitter fixed at 0) separates the attempts.
    EXPECT_GE(hits[1].at - hits[0].at, std::chrono::milliseconds(190));
}

TEST_F(DispatcherTest, ExhaustedScheduleFails) {
    Receiver rx([](int) { return std::pair{503, 0}; });
    auto w = AddWebhook(rx.Url());
    StartDispatcher("0s,100ms,100ms");
    Publish(1);
    auto d = WaitFinal(w);
    EXPECT_EQ(d.state, DeliveryState::kFailed);
    EXPECT_EQ(d.attempt_count, 3);
    EXPECT_FALSE(d.next_attempt_at);
    EXPECT_EQ(rx.Count(), 3);
}

TEST_F(DispatcherTest, RetryAfterIsHonoured) {
    Receiver rx([](int n) { return std::pair{n == 0 ? 429 : 200, 0}; });
    rx.extra_headers = {{"Retry-After", "1"}};
    auto w = AddWebhook(rx.Url());
    StartDispatcher("0s,100ms");
    Publish(1);
    auto d = WaitFinal(w, 5000);
    EXPECT_EQ(d.state, DeliveryState::kSucceeded);
    auto hits = rx.Hits();
    ASSERT_EQ(hits.size(), 2u);
    EXPECT_GE(hits[1].at - hits[0].at, std::chrono::milliseconds(950));
}

// A 410 disables the webhook at once: nothing queued behind it is sent, and its
// deliveries wait, pending, until it is enabled again.
TEST_F(DispatcherTest, GoneDisablesTheWebhookAtOnceAndItsDeliveriesWait) {
    std::atomic<bool> gone{true};
    Receiver rx([&](int) { return std::pair{gone ? 410 : 200, 0}; });
    auto w = AddWebhook(rx.Url());
    w = *store_->GetWebhook("acme", w.id);
    w.max_in_flight = 1;
    ASSERT_TRUE(store_->UpdateWebhook(w));
    StartDispatcher();
    Publish(10);
    ASSERT_TRUE(rx.WaitFor(1, 5000));
    for (int i = 0; i < 500 && store_->GetWebhook("acme", w.id)->enabled; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    auto after = store_->GetWebhook("acme", w.id);
    EXPECT_FALSE(after->enabled);
    EXPECT_EQ(after->disabled_reason, "the receiver answered 410 Gone");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_EQ(rx.Count(), 1) << "deliveries were still sent to a webhook that answered 410";
    auto list = store_->ListDeliveries("acme", w.id, {}, {});
    ASSERT_EQ(list->items.size(), 10u);
    for (const auto& d : list->items) EXPECT_EQ(d.state, DeliveryState::kPending) << d.id.str();
    // Enabled again: every one of them is delivered.
    gone = false;
    after->enabled = true;
    after->disabled_reason.reset();
    after->disabled_at.reset();
    ASSERT_TRUE(store_->UpdateWebhook(*after));
    dispatcher_->InvalidateWebhook(w.id);
    dispatcher_->Wake();
    for (int i = 0; i < 1000; ++i) {
        auto l = store_->ListDeliveries("acme", w.id, {}, {});
        if (std::all_of(l->items.begin(), l->items.end(),
                        [](const Delivery& d) { return d.state == DeliveryState::kSucceeded; })) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    auto final_list = store_->ListDeliveries("acme", w.id, {}, {});
    ASSERT_TRUE(final_list);
    for (const auto& d : final_list->items) EXPECT_EQ(d.state, DeliveryState::kSucceeded) << d.id.str();
}

// A request that cannot even be built (a payload URL that does not parse, stored before
// validation was stricter) is a failed attempt, and leaves the webhook's in-flight count
// as it was: later requests still respect maxInFlight.
TEST_F(DispatcherTest, ARequestThatCannotBeBuiltKeepsTheInFlightCount) {
    Receiver rx([](int) { return std::pair{200, 1500}; });
    auto w = AddWebhook("http://[");
    StartDispatcher("0s,1h");
    Publish(5);
    for (int i = 0; i < 500; ++i) {
        auto l = store_->ListDeliveries("acme", w.id, {}, {});
        if (std::all_of(l->items.begin(), l->items.end(), [](const Delivery& d) { return d.attempt_count == 1; })) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    auto fixed = *store_->GetWebhook("acme", w.id);
    fixed.payload_url = rx.Url();
    fixed.max_in_flight = 1;
    ASSERT_TRUE(store_->UpdateWebhook(fixed));
    dispatcher_->InvalidateWebhook(w.id);
    Publish(4, "Room");
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    EXPECT_EQ(rx.Count(), 1) << "more requests in flight than maxInFlight 1";
}

TEST_F(DispatcherTest, PrivateAddressesAreBlockedOnConnect) {
    Receiver rx;
    // "localhost" is a name: only the connect-time guard can catch it.
    auto w = AddWebhook("http://localhost:" + rx.Url().substr(rx.Url().rfind(':') + 1));
    StartDispatcher("0s", false);
    Publish(1);
    auto d = WaitFinal(w);
    EXPECT_EQ(d.state, DeliveryState::kFailed);
    ASSERT_EQ(d.attempts.size(), 1u);
    EXPECT_EQ(d.attempts[0].error, AttemptError::kBlocked);
    EXPECT_EQ(rx.Count(), 0);
}

TEST_F(DispatcherTest, HangingReceiverDoesNotDelayHealthyOnes) {
    Receiver hanging([](int) { return std::pair{200, 3000}; });
    Receiver healthy;
    auto slow = AddWebhook(hanging.Url(), HttpMethod::kPost, 2000);
    AddWebhook(healthy.Url());
    StartDispatcher("0s,10s");
    const auto start = std::chrono::steady_clock::now();
    Publish(50);
    ASSERT_TRUE(healthy.WaitFor(50, 1500));
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
    // The hanging one never has more than its max in flight (8) at once.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_LE(hanging.Count(), slow.max_in_flight);
}

TEST_F(DispatcherTest, BusyWindowBoundsRequestsInFlight) {
    Receiver rx([](int) { return std::pair{200, 50}; });
    AddWebhook(rx.Url());  // max_in_flight 8
    StartDispatcher("0s,10s", true, [](DispatcherOptions& o) {
        o.busy_max_in_flight = 2;
        o.slow_after_ms = 10'000;
    });
    const auto start = std::chrono::steady_clock::now();
    Publish(10);
    ASSERT_TRUE(rx.WaitFor(10, 5000));
    // Two at a time, 50 ms each: the tenth starts after four rounds (8 at a time: one round).
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(190));
}

TEST_F(DispatcherTest, SlowRequestsLeaveTheBusyWindow) {
    Receiver slow_rx([](int) { return std::pair{200, 3000}; });
    Receiver fast_rx;
    auto slow = AddWebhook(slow_rx.Url());
    AddWebhook(fast_rx.Url());
    StartDispatcher("0s,10s", true, [](DispatcherOptions& o) {
        o.busy_max_in_flight = 2;
        o.slow_after_ms = 50;
    });
    const auto start = std::chrono::steady_clock::now();
    Publish(20);
    // The slow receiver's requests fill the window, then leave it after 50 ms (holding only
    // their webhook's 8 slots): the fast receiver gets all 20 long before any slow answer.
    ASSERT_TRUE(fast_rx.WaitFor(20, 5000));
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2500));
    EXPECT_LE(slow_rx.Count(), slow.max_in_flight);
}

TEST_F(DispatcherTest, TestMessageReturnsTheAttempt) {
    Receiver rx([](int) { return std::pair{201, 0}; });
    auto w = AddWebhook(rx.Url());
    StartDispatcher();
    auto claimed = store_->CreateTestDelivery(w, EventType::kCreate, "Agreement", {"test", false}, clock_.Now());
    ASSERT_TRUE(claimed);
    auto result = dispatcher_->SendTest(w, *claimed).get();
    ASSERT_TRUE(result);
    EXPECT_EQ(result->attempt.status, 201);
    auto d = store_->GetDelivery("acme", result->delivery_id);
    ASSERT_TRUE(d);
    EXPECT_TRUE(d->test);
    EXPECT_EQ(d->state, DeliveryState::kSucceeded);
    EXPECT_EQ(rx.Hits()[0].request.body, R"({"event":"CREATE","entity":"Agreement","entityId":"test"})");
}

TEST_F(DispatcherTest, RateLimitSpacesRequests) {
    Receiver rx;
    auto w = AddWebhook(rx.Url());
    w.rate_limit_per_second = 10;
    ASSERT_TRUE(store_->UpdateWebhook(w));
    StartDispatcher();
    const auto start = std::chrono::steady_clock::now();
    Publish(15);
    ASSERT_TRUE(rx.WaitFor(15, 5000));
    // A bucket of 10 then 10/s: the last 5 need about half a second.
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(400));
}

TEST(HttpClient, SnippetIsValidUtf8AndBounded) {
    EXPECT_EQ(HttpClient::SanitizeSnippet("ok", 1024), "ok");
    EXPECT_EQ(HttpClient::SanitizeSnippet("a\xff" "b", 1024), "a\xEF\xBF\xBD" "b");
    EXPECT_EQ(HttpClient::SanitizeSnippet(std::string(2000, 'x'), 1024).size(), 1024u);
    EXPECT_EQ(HttpClient::SanitizeSnippet("\xC3\xA9\xC3\xA9", 3), "\xC3\xA9");
}

}  // namespace
}  // namespace hookd::delivery
