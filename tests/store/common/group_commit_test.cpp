// Group commit (store/common/rows.hpp): a leader whose commit throws leaves nobody waiting.
#include <gtest/gtest.h>

#include <future>
#include <stdexcept>

#include "store/common/rows.hpp"

namespace hookd::store::common {
namespace {

TEST(GroupCommitTest, ALeaderWhoseCommitThrowsFailsItsBatchAndTheNextCallerLeads) {
    GroupCommit group;
    SiteId site = "acme";
    std::vector<ChangeEvent> events;
    IngestJob first{&site, &events, std::nullopt, 0, {}, false};
    auto r = group.Run(first, [](std::vector<IngestJob*>&) { throw std::runtime_error("boom"); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kInternal);
    EXPECT_NE(r.error().message.find("boom"), std::string::npos);

    // A caller that queued while the throwing commit ran is served by the next leader.
    std::promise<void> entered;
    std::promise<void> release;
    auto leader = std::async(std::launch::async, [&] {
        IngestJob job{&site, &events, std::nullopt, 0, {}, false};
        return group.Run(job, [&](std::vector<IngestJob*>&) {
            entered.set_value();
            release.get_future().wait();
            throw std::bad_alloc();
        });
    });
    entered.get_future().wait();
    auto follower = std::async(std::launch::async, [&] {
        IngestJob job{&site, &events, std::nullopt, 0, {}, false};
        return group.Run(job, [](std::vector<IngestJob*>& batch) {
            for (auto* j : batch) j->result = IngestResult{};
        });
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the follower is queued
    release.set_value();
    ASSERT_EQ(leader.wait_for(std::chrono::seconds(5)), std::future_status::ready);
    EXPECT_FALSE(leader.get());
    ASSERT_EQ(follower.wait_for(std::chrono::seconds(5)), std::future_status::ready) << "the follower hangs";
    EXPECT_TRUE(follower.get());
}

}  // namespace
}  // namespace hookd::store::common
