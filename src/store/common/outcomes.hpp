#pragma once
// The outcome policy, decided once for both stores: which recorded outcomes apply, and
// what a batch of them does to each webhook (failure clock, auto-disable, 410 Gone).
//
// An outcome applies only to the delivery as it was claimed: still pending, with the
// attempt count the claim saw (attempt number − 1), and — on the shared store — still
// leased by the node that reports it. Anything else is a late or duplicate report (the
// webhook was deleted and the delivery cancelled, another node re-sent it after the
// lease expired, the same outcome was recorded twice) and changes nothing: no state,
// no attempt row, no failure clock. Both stores express this fence in their UPDATE.
//
// Per webhook, over the outcomes that applied, in order:
// - the failure clock (failing_since) is cleared when the last outcome succeeded; when
//   the last one failed it runs from the first failure after the last success (started
//   only if not already running when the batch had no success);
// - a webhook whose last outcome failed is auto-disabled when its clock has run for
//   `auto_disable_after_ms` (a later success in the same batch prevents it);
// - any 410 Gone disables the webhook at once, whatever else the batch holds.
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "store/store.hpp"

namespace hookd::store::common {

struct WebhookVerdict {
    enum class Clock : std::uint8_t {
        kClear,    //!< failing_since = NULL
        kStart,    //!< failing_since = since, unless already set
        kRestart,  //!< failing_since = since (a success earlier in the batch reset it)
    };
    WebhookId id;
    Clock clock = Clock::kClear;
    TimeMs since = 0;
    std::optional<std::string> disable_reason;  //!< disable now (410 Gone)
    DurationMs auto_disable_after_ms = 0;       //!< > 0: disable if failing_since <= now − this
};

//! `applied` are the outcomes that passed the fence, in the order they were reported.
//! One verdict per webhook, in order of first appearance.
[[nodiscard]] std::vector<WebhookVerdict> DecideWebhooks(std::span<const Outcome* const> applied);

//! The disabled_reason recorded by an auto-disable.
[[nodiscard]] std::string AutoDisableReason(DurationMs after);

}  // namespace hookd::store::common
