#include "sched/scheduler.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

namespace hookd::sched {
namespace {

constexpr TimeMs kT0 = 1'000'000;
constexpr DurationMs kLease = 30'000;

Entry E(std::int64_t seq, std::string hook, TimeMs due = kT0, std::optional<std::string> key = {}, int part = 0) {
    return Entry{seq, std::move(hook), due, std::move(key), part};
}

std::vector<std::int64_t> Sorted(std::vector<std::int64_t> v) {
    std::sort(v.begin(), v.end());
    return v;
}

TEST(Scheduler, ClaimsDueWorkRoundRobinAcrossWebhooks) {
    Scheduler q;
    for (int i = 1; i <= 6; ++i) q.Add(E(i, "wh_a"));
    q.Add(E(7, "wh_b"));
    q.Add(E(8, "wh_c", kT0 + 5000));  // not due yet
    auto c = q.Claim(kT0, kLease, 3);
    ASSERT_EQ(c.size(), 3u);
    // wh_b's single delivery is not stuck behind wh_a's backlog.
    EXPECT_NE(std::find(c.begin(), c.end(), 7), c.end());
    EXPECT_EQ(q.held(), 3u);
    EXPECT_EQ(q.queued(), 5u);
    EXPECT_EQ(q.NextDue(), kT0);
    // The rest of wh_a, oldest first; wh_c only once due.
    EXPECT_EQ(q.Claim(kT0, kLease, 10).size(), 4u);
    EXPECT_TRUE(q.Claim(kT0 + 4999, kLease, 10).empty());
    EXPECT_EQ(q.Claim(kT0 + 5000, kLease, 10), std::vector<std::int64_t>{8});
    EXPECT_FALSE(q.NextDue());
}

TEST(Scheduler, PausedAndDisabledWebhooksAreLeftAlone) {
    Scheduler q;
    q.Add(E(1, "wh_a"));
    q.Add(E(2, "wh_b"));
    q.Pause("wh_a", kT0 + 10);
    EXPECT_EQ(q.Claim(kT0, kLease, 10), std::vector<std::int64_t>{2});
    q.SetEnabled("wh_a", false);
    EXPECT_TRUE(q.Claim(kT0, kLease, 10).empty());
    EXPECT_FALSE(q.NextDue());
    q.SetEnabled("wh_a", true);
    EXPECT_TRUE(q.Claim(kT0, kLease, 10).empty());  // still paused
    EXPECT_EQ(q.Claim(kT0 + 10, kLease, 10), std::vector<std::int64_t>{1});
}

TEST(Scheduler, OutcomesRetryOrFinish) {
    Scheduler q;
    q.Add(E(1, "wh_a"));
    q.Add(E(2, "wh_a"));
    EXPECT_EQ(q.Claim(kT0, kLease, 10).size(), 2u);
    q.Finish(1, std::nullopt);
    q.Finish(2, kT0 + 1000);  // retry
    q.Finish(3, std::nullopt);  // never claimed: ignored
    EXPECT_EQ(q.held(), 0u);
    EXPECT_TRUE(q.Claim(kT0 + 999, kLease, 10).empty());
    EXPECT_EQ(q.Claim(kT0 + 1000, kLease, 10), std::vector<std::int64_t>{2});
}

TEST(Scheduler, ExpiredLeasesAreHandedOutAgainAndReleaseMakesEverythingDue) {
    Scheduler q;
    q.Add(E(1, "wh_a"));
    q.Add(E(2, "wh_a"));
    ASSERT_EQ(q.Claim(kT0, kLease, 10).size(), 2u);
    EXPECT_TRUE(q.Claim(kT0 + kLease - 1, kLease, 10).empty());
    std::vector<std::int64_t> keep{2};
    q.Renew(keep, kT0 + 2 * kLease);
    EXPECT_EQ(q.Claim(kT0 + kLease, kLease, 10), std::vector<std::int64_t>{1});  // 2 was renewed
    EXPECT_EQ(q.ReleaseAll(kT0 + kLease), 2);
    EXPECT_EQ(Sorted(q.Claim(kT0 + kLease, kLease, 10)), (std::vector<std::int64_t>{1, 2}));
}

TEST(Scheduler, EntityChainsReleaseOneDeliveryAtATime) {
    Scheduler q;
    q.Add(E(1, "wh_a", kT0, "Room/1"));
    q.Add(E(2, "wh_a", kT0, "Room/1"));
    q.Add(E(3, "wh_a", kT0, "Room/2"));
    q.Add(E(4, "wh_a", kT0, "Room/1"));
    EXPECT_EQ(Sorted(q.Claim(kT0, kLease, 10)), (std::vector<std::int64_t>{1, 3}));
    // A retry keeps its place at the head: the next one still waits.
    q.Finish(1, kT0 + 100);
    EXPECT_TRUE(q.Claim(kT0 + 50, kLease, 10).empty());
    EXPECT_EQ(q.Claim(kT0 + 100, kLease, 10), std::vector<std::int64_t>{1});
    q.Finish(1, std::nullopt);
    EXPECT_EQ(q.Claim(kT0 + 100, kLease, 10), std::vector<std::int64_t>{2});
    q.Finish(2, std::nullopt);
    EXPECT_EQ(q.Claim(kT0 + 100, kLease, 10), std::vector<std::int64_t>{4});
    q.Finish(4, std::nullopt);
    q.Finish(3, std::nullopt);
    EXPECT_EQ(q.queued(), 0u);
    EXPECT_EQ(q.held(), 0u);
}

TEST(Scheduler, RequeueMovesQueuedWorkAndLeavesClaimedWorkAlone) {
    Scheduler q;
    q.Add(E(1, "wh_a", kT0 + 60'000));  // waiting for a retry
    q.Add(E(2, "wh_a"));
    ASSERT_EQ(q.Claim(kT0, kLease, 1), std::vector<std::int64_t>{2});
    // Retry now: 1 moves up (once, not twice), 2 is in flight and stays as it is, 3 is new.
    auto left = q.Requeue({E(1, "wh_a"), E(2, "wh_a"), E(3, "wh_a")});
    EXPECT_EQ(left, std::vector<std::int64_t>{2});
    EXPECT_EQ(q.queued(), 2u);
    EXPECT_EQ(Sorted(q.Claim(kT0, kLease, 10)), (std::vector<std::int64_t>{1, 3}));
}

TEST(Scheduler, RequeuedOlderDeliveryWaitsBehindTheChainHead) {
    Scheduler q;
    q.Add(E(5, "wh_a", kT0, "Room/1"));
    ASSERT_EQ(q.Claim(kT0, kLease, 10), std::vector<std::int64_t>{5});
    q.Requeue({E(2, "wh_a", kT0, "Room/1")});  // a replayed older delivery of the same entity
    EXPECT_TRUE(q.Claim(kT0, kLease, 10).empty());
    q.Finish(5, std::nullopt);
    EXPECT_EQ(q.Claim(kT0, kLease, 10), std::vector<std::int64_t>{2});
}

TEST(Scheduler, RemovedWebhookTakesItsWorkAlong) {
    Scheduler q;
    q.Add(E(1, "wh_a"));
    q.Add(E(2, "wh_a"));
    q.Add(E(3, "wh_b"));
    q.Pause("wh_b", kT0 + 1);
    ASSERT_EQ(q.Claim(kT0, kLease, 1).size(), 1u);
    q.RemoveWebhook("wh_a");
    EXPECT_EQ(q.queued(), 1u);
    q.Finish(1, kT0);  // the in-flight one finishes after the delete: not queued again
    q.Finish(2, kT0);
    EXPECT_EQ(q.Claim(kT0 + 1, kLease, 10), std::vector<std::int64_t>{3});
}

// Claims every due delivery and marks them ready, as the dispatcher does with their rows.
void ClaimReady(Scheduler& q, TimeMs now) {
    for (auto seq : q.Claim(now, kLease, 100)) ASSERT_TRUE(q.Ready(seq));
}

std::vector<std::int64_t> StartAll(Scheduler& q, TimeMs now) {
    std::vector<std::int64_t> out;
    while (auto seq = q.NextStart(now)) out.push_back(*seq);
    return out;
}

TEST(Scheduler, AWebhookNeverHasMoreThanItsMaxInFlightAndOthersAreNotHeldBack) {
    Scheduler q;
    q.SetLimits("wh_a", Limits{2, std::nullopt}, kT0);
    q.SetLimits("wh_b", Limits{1, std::nullopt}, kT0);
    for (int i = 1; i <= 5; ++i) q.Add(E(i, "wh_a"));
    q.Add(E(6, "wh_b"));
    ClaimReady(q, kT0);
    auto started = StartAll(q, kT0);
    ASSERT_EQ(started.size(), 3u);  // two of wh_a, wh_b's one
    EXPECT_NE(std::find(started.begin(), started.end(), 6), started.end());
    EXPECT_EQ(q.in_flight(), 3u);
    q.Ended(started[0] == 6 ? started[1] : started[0]);
    EXPECT_EQ(StartAll(q, kT0).size(), 1u);  // one slot of wh_a freed
    EXPECT_FALSE(q.NextStart(kT0));
}

TEST(Scheduler, TheBufferOfAWebhookIsBoundedByItsLimit) {
    Scheduler q(SchedulerOptions{.buffer_per_slot = 2});
    q.SetLimits("wh_a", Limits{1, std::nullopt}, kT0);
    for (int i = 1; i <= 10; ++i) q.Add(E(i, "wh_a"));
    q.Add(E(11, "wh_b"));
    auto c = q.Claim(kT0, kLease, 100);
    // Two of wh_a (1 × 2), and wh_b (limits unknown: a default buffer).
    EXPECT_EQ(Sorted(c), (std::vector<std::int64_t>{1, 2, 11}));
    q.Finish(1, std::nullopt);
    EXPECT_EQ(q.Claim(kT0, kLease, 100), std::vector<std::int64_t>{3});
}

TEST(Scheduler, AWebhookIsClaimedForAgainOnceHalfItsBufferIsFree) {
    Scheduler q(SchedulerOptions{.buffer_per_slot = 4});
    q.SetLimits("wh_a", Limits{2, std::nullopt}, kT0);  // a buffer of 8
    for (int i = 1; i <= 20; ++i) q.Add(E(i, "wh_a"));
    EXPECT_EQ(q.Claim(kT0, kLease, 100).size(), 8u);
    for (int i = 1; i <= 3; ++i) q.Finish(i, std::nullopt);
    EXPECT_TRUE(q.Claim(kT0, kLease, 100).empty());  // 5 of 8 held: not yet
    q.Finish(4, std::nullopt);
    // Half free: filled again in one claim, in due order.
    EXPECT_EQ(q.Claim(kT0, kLease, 100), (std::vector<std::int64_t>{9, 10, 11, 12}));
    // Requests in flight count as held.
    ASSERT_TRUE(q.Ready(5));
    ASSERT_TRUE(q.Ready(6));
    ASSERT_EQ(StartAll(q, kT0).size(), 2u);
    for (int i = 7; i <= 10; ++i) q.Finish(i, std::nullopt);
    EXPECT_EQ(q.Claim(kT0, kLease, 100).size(), 4u);  // 5, 6 in flight, 11, 12 claimed
}

TEST(Scheduler, RateLimitsStartAtTheirRateAndSayWhenTheNextMay) {
    Scheduler q;
    q.SetLimits("wh_a", Limits{100, 2.0}, kT0);  // a full bucket: 2 at once, then one per 500 ms
    for (int i = 1; i <= 5; ++i) q.Add(E(i, "wh_a"));
    ClaimReady(q, kT0);
    EXPECT_EQ(StartAll(q, kT0).size(), 2u);
    const TimeMs next = q.NextStartAt(kT0);
    EXPECT_GE(next, kT0 + 500);
    EXPECT_LE(next, kT0 + 501);
    EXPECT_TRUE(StartAll(q, kT0 + 499).empty());
    EXPECT_EQ(StartAll(q, kT0 + 500).size(), 1u);
}

TEST(Scheduler, RetryAfterPausesOnlyThatWebhook) {
    Scheduler q;
    q.SetLimits("wh_a", Limits{10, std::nullopt}, kT0);
    q.SetLimits("wh_b", Limits{10, std::nullopt}, kT0);
    q.Add(E(1, "wh_a"));
    q.Add(E(2, "wh_b"));
    ClaimReady(q, kT0);
    q.Pause("wh_a", kT0 + 3000);
    EXPECT_EQ(StartAll(q, kT0), std::vector<std::int64_t>{2});
    EXPECT_EQ(q.NextStartAt(kT0), kT0 + 3000);
    EXPECT_EQ(StartAll(q, kT0 + 3000), std::vector<std::int64_t>{1});
}

TEST(Scheduler, TheBusyWindowAdmitsNewRequestsAsOldOnesAge) {
    Scheduler q(SchedulerOptions{.global_max_in_flight = 10, .busy_max_in_flight = 2, .slow_after_ms = 10});
    q.SetLimits("wh_a", Limits{10, std::nullopt}, kT0);
    for (int i = 1; i <= 5; ++i) q.Add(E(i, "wh_a"));
    ClaimReady(q, kT0);
    EXPECT_EQ(StartAll(q, kT0).size(), 2u);  // the window is full
    EXPECT_EQ(q.NextStartAt(kT0), kT0 + 10);
    EXPECT_EQ(StartAll(q, kT0 + 10).size(), 2u);  // the first two left it (slow, still in flight)
    EXPECT_EQ(q.in_flight(), 4u);
}

TEST(Scheduler, ReadyClaimsOfADisabledWebhookAreGivenBackAndALostPartitionStartsNothing) {
    Scheduler q;
    q.SetLimits("wh_a", Limits{10, std::nullopt}, kT0);
    q.SetLimits("wh_b", Limits{10, std::nullopt}, kT0);
    q.Add(E(1, "wh_a", kT0, {}, 1));
    q.Add(E(2, "wh_b", kT0, {}, 2));
    q.Add(E(3, "wh_b", kT0, {}, 2));
    ClaimReady(q, kT0);
    q.SetEnabled("wh_a", false);
    q.RemovePartition(2);
    EXPECT_TRUE(StartAll(q, kT0).empty());
    EXPECT_EQ(q.TakeUnstartable(), std::vector<std::int64_t>{1});
    EXPECT_EQ(q.held(), 1u);  // wh_a's, until the store gives it back
    q.Finish(1, kT0);
    EXPECT_EQ(q.held(), 0u);
    EXPECT_FALSE(q.Ready(2));
}

TEST(Scheduler, IdempotentAddsIgnoreWhatIsQueuedOrHeld) {
    Scheduler q(SchedulerOptions{.idempotent_adds = true});
    q.Add(E(1, "wh_a"));
    q.Add(E(1, "wh_a"));
    ASSERT_EQ(q.Claim(kT0, kLease, 10), std::vector<std::int64_t>{1});
    q.Add(E(1, "wh_a"));  // announced again while claimed
    EXPECT_EQ(q.queued(), 0u);
    q.Finish(1, std::nullopt);
    EXPECT_TRUE(q.Claim(kT0, kLease, 10).empty());
}

// The store feeds from its threads while the dispatcher claims and starts from its own:
// every delivery is started once (TSan runs this in CI).
TEST(Scheduler, FeedingWhileClaimingAndStartingLosesNothing) {
    Scheduler q(SchedulerOptions{.idempotent_adds = true, .global_max_in_flight = 64, .busy_max_in_flight = 64});
    constexpr int kPerFeeder = 5000;
    std::atomic<bool> fed1{false}, fed2{false};
    auto feed = [&](int first, std::atomic<bool>& done) {
        for (int i = 0; i < kPerFeeder; ++i) {
            q.Add(E(first + i, "wh_" + std::to_string(i % 7), kT0, i % 3 == 0 ? std::optional<std::string>("k" + std::to_string(i % 5)) : std::nullopt));
            if (i % 100 == 0) q.Add(E(first + i, "wh_" + std::to_string(i % 7)));  // announced twice
        }
        done = true;
    };
    std::thread a(feed, 1, std::ref(fed1));
    std::thread b(feed, 1 + kPerFeeder, std::ref(fed2));
    std::set<std::int64_t> started;
    for (int i = 0; i < 7; ++i) q.SetLimits("wh_" + std::to_string(i), Limits{4, std::nullopt}, kT0);
    for (int round = 0; round < 200000 && started.size() < 2u * kPerFeeder; ++round) {
        for (auto seq : q.Claim(kT0, kLease, 64)) q.Ready(seq);
        while (auto seq = q.NextStart(kT0)) {
            // A second announcement that comes after the first one's delivery finished is new
            // work to the scheduler (the store's read of the row is what drops it).
            const bool twice = (*seq - 1) % 100 == 0;
            EXPECT_TRUE(started.insert(*seq).second || twice) << *seq;
            q.Ended(*seq);
            q.Finish(*seq, std::nullopt);
        }
        if (fed1 && fed2 && q.queued() == 0 && q.held() == 0 && q.ready() == 0) break;
    }
    a.join();
    b.join();
    EXPECT_EQ(started.size(), 2u * kPerFeeder);
}

}  // namespace
}  // namespace hookd::sched
