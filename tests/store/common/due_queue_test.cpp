#include "store/common/due_queue.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace hookd::store::common {
namespace {

constexpr TimeMs kT0 = 1'000'000;
constexpr DurationMs kLease = 30'000;

DueQueue::Entry E(std::int64_t seq, std::string hook, TimeMs due = kT0, std::optional<std::string> key = {}) {
    return DueQueue::Entry{seq, std::move(hook), due, std::move(key)};
}

std::vector<std::int64_t> Sorted(std::vector<std::int64_t> v) {
    std::sort(v.begin(), v.end());
    return v;
}

TEST(DueQueue, ClaimsDueWorkRoundRobinAcrossWebhooks) {
    DueQueue q;
    for (int i = 1; i <= 6; ++i) q.Add(E(i, "wh_a"));
    q.Add(E(7, "wh_b"));
    q.Add(E(8, "wh_c", kT0 + 5000));  // not due yet
    auto c = q.Claim(kT0, kLease, 3, {});
    ASSERT_EQ(c.size(), 3u);
    // wh_b's single delivery is not stuck behind wh_a's backlog.
    EXPECT_NE(std::find(c.begin(), c.end(), 7), c.end());
    EXPECT_EQ(q.held(), 3u);
    EXPECT_EQ(q.queued(), 5u);
    EXPECT_EQ(q.NextDue(), kT0);
    // The rest of wh_a, oldest first; wh_c only once due.
    EXPECT_EQ(q.Claim(kT0, kLease, 10, {}).size(), 4u);
    EXPECT_TRUE(q.Claim(kT0 + 4999, kLease, 10, {}).empty());
    EXPECT_EQ(q.Claim(kT0 + 5000, kLease, 10, {}), std::vector<std::int64_t>{8});
    EXPECT_FALSE(q.NextDue());
}

TEST(DueQueue, SkippedAndDisabledWebhooksAreLeftAlone) {
    DueQueue q;
    q.Add(E(1, "wh_a"));
    q.Add(E(2, "wh_b"));
    std::vector<WebhookId> skip{WebhookId("wh_a")};
    EXPECT_EQ(q.Claim(kT0, kLease, 10, skip), std::vector<std::int64_t>{2});
    q.SetEnabled("wh_a", false);
    EXPECT_TRUE(q.Claim(kT0, kLease, 10, {}).empty());
    EXPECT_FALSE(q.NextDue());
    q.SetEnabled("wh_a", true);
    EXPECT_EQ(q.Claim(kT0, kLease, 10, {}), std::vector<std::int64_t>{1});
}

TEST(DueQueue, OutcomesRetryOrFinish) {
    DueQueue q;
    q.Add(E(1, "wh_a"));
    q.Add(E(2, "wh_a"));
    EXPECT_EQ(q.Claim(kT0, kLease, 10, {}).size(), 2u);
    q.Finish(1, std::nullopt);
    q.Finish(2, kT0 + 1000);  // retry
    q.Finish(3, std::nullopt);  // never claimed: ignored
    EXPECT_EQ(q.held(), 0u);
    EXPECT_TRUE(q.Claim(kT0 + 999, kLease, 10, {}).empty());
    EXPECT_EQ(q.Claim(kT0 + 1000, kLease, 10, {}), std::vector<std::int64_t>{2});
}

TEST(DueQueue, ExpiredLeasesAreHandedOutAgainAndReleaseMakesEverythingDue) {
    DueQueue q;
    q.Add(E(1, "wh_a"));
    q.Add(E(2, "wh_a"));
    ASSERT_EQ(q.Claim(kT0, kLease, 10, {}).size(), 2u);
    EXPECT_TRUE(q.Claim(kT0 + kLease - 1, kLease, 10, {}).empty());
    std::vector<std::int64_t> keep{2};
    q.Renew(keep, kT0 + 2 * kLease);
    EXPECT_EQ(q.Claim(kT0 + kLease, kLease, 10, {}), std::vector<std::int64_t>{1});  // 2 was renewed
    EXPECT_EQ(q.ReleaseAll(kT0 + kLease), 2);
    EXPECT_EQ(Sorted(q.Claim(kT0 + kLease, kLease, 10, {})), (std::vector<std::int64_t>{1, 2}));
}

TEST(DueQueue, EntityChainsReleaseOneDeliveryAtATime) {
    DueQueue q;
    q.Add(E(1, "wh_a", kT0, "Room/1"));
    q.Add(E(2, "wh_a", kT0, "Room/1"));
    q.Add(E(3, "wh_a", kT0, "Room/2"));
    q.Add(E(4, "wh_a", kT0, "Room/1"));
    EXPECT_EQ(Sorted(q.Claim(kT0, kLease, 10, {})), (std::vector<std::int64_t>{1, 3}));
    // A retry keeps its place at the head: the next one still waits.
    q.Finish(1, kT0 + 100);
    EXPECT_TRUE(q.Claim(kT0 + 50, kLease, 10, {}).empty());
    EXPECT_EQ(q.Claim(kT0 + 100, kLease, 10, {}), std::vector<std::int64_t>{1});
    q.Finish(1, std::nullopt);
    EXPECT_EQ(q.Claim(kT0 + 100, kLease, 10, {}), std::vector<std::int64_t>{2});
    q.Finish(2, std::nullopt);
    EXPECT_EQ(q.Claim(kT0 + 100, kLease, 10, {}), std::vector<std::int64_t>{4});
    q.Finish(4, std::nullopt);
    q.Finish(3, std::nullopt);
    EXPECT_EQ(q.queued(), 0u);
    EXPECT_EQ(q.held(), 0u);
}

TEST(DueQueue, RequeueMovesQueuedWorkAndLeavesClaimedWorkAlone) {
    DueQueue q;
    q.Add(E(1, "wh_a", kT0 + 60'000));  // waiting for a retry
    q.Add(E(2, "wh_a"));
    ASSERT_EQ(q.Claim(kT0, kLease, 1, {}), std::vector<std::int64_t>{2});
    // Retry now: 1 moves up (once, not twice), 2 is in flight and stays as it is, 3 is new.
    auto left = q.Requeue({E(1, "wh_a"), E(2, "wh_a"), E(3, "wh_a")});
    EXPECT_EQ(left, std::vector<std::int64_t>{2});
    EXPECT_EQ(q.queued(), 2u);
    EXPECT_EQ(Sorted(q.Claim(kT0, kLease, 10, {})), (std::vector<std::int64_t>{1, 3}));
}

TEST(DueQueue, RequeuedOlderDeliveryWaitsBehindTheChainHead) {
    DueQueue q;
    q.Add(E(5, "wh_a", kT0, "Room/1"));
    ASSERT_EQ(q.Claim(kT0, kLease, 10, {}), std::vector<std::int64_t>{5});
    q.Requeue({E(2, "wh_a", kT0, "Room/1")});  // a replayed older delivery of the same entity
    EXPECT_TRUE(q.Claim(kT0, kLease, 10, {}).empty());
    q.Finish(5, std::nullopt);
    EXPECT_EQ(q.Claim(kT0, kLease, 10, {}), std::vector<std::int64_t>{2});
}

TEST(DueQueue, RemovedWebhookTakesItsWorkAlong) {
    DueQueue q;
    q.Add(E(1, "wh_a"));
    q.Add(E(2, "wh_a"));
    q.Add(E(3, "wh_b"));
    ASSERT_EQ(q.Claim(kT0, kLease, 1, std::vector<WebhookId>{WebhookId("wh_b")}).size(), 1u);
    q.RemoveWebhook("wh_a");
    EXPECT_EQ(q.queued(), 1u);
    q.Finish(1, kT0);  // the in-flight one finishes after the delete: not queued again
    q.Finish(2, kT0);
    EXPECT_EQ(q.Claim(kT0, kLease, 10, {}), std::vector<std::int64_t>{3});
}

}  // namespace
}  // namespace hookd::store::common
