#pragma once
// Checks a webhook receiver the way hookd delivers to it (SPEC.md §11): a valid signed
// delivery, one with forged signatures, one with a stale webhook-timestamp, the same
// webhook-id twice, the answer time and, for https, the certificate. Used by
// `hookd check-receiver` and by POST /v1/sites/{site}/webhooks/{id}/check.
//
// Two halves: RunReceiverCheck sends the probes (same wire format, HTTP client and
// address guard as real deliveries) and JudgeReceiver turns their answers into verdicts
// (pure, unit-tested).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/address_guard.hpp"
#include "core/domain.hpp"
#include "core/result.hpp"

namespace hookd::delivery {

enum class Verdict : std::uint8_t { kPass, kWarn, kFail };
//! "PASS", "WARN", "FAIL".
[[nodiscard]] std::string_view ToString(Verdict v);

//! One line of the report: `PASS valid-signature: accepted (HTTP 204)`.
struct CheckResult {
    std::string name;    //!< stable, also the anchor of its section in the receiver guide
    Verdict verdict = Verdict::kPass;
    std::string detail;  //!< why, in one sentence or two
};

//! What the receiver answered to one probe.
struct ProbeAnswer {
    bool sent = false;            //!< false: the probe was not sent (see JudgeReceiver)
    std::optional<int> status;    //!< HTTP status when an answer arrived
    AttemptError error = AttemptError::kNone;
    std::string error_detail;     //!< libcurl's message for a transport error
    std::string snippet;          //!< the first bytes of the answer's body
    std::int64_t duration_ms = 0;

    [[nodiscard]] bool Accepted() const { return status && *status >= 200 && *status <= 299; }
};

//! The answers to the four probes.
struct ProbeAnswers {
    ProbeAnswer valid;      //!< correctly signed, fresh timestamp
    ProbeAnswer forged;     //!< both signature headers wrong
    ProbeAnswer stale;      //!< correctly signed, webhook-timestamp 10 minutes old
    ProbeAnswer duplicate;  //!< the valid probe again: same webhook-id, fresh timestamp
};

struct JudgeOptions {
    bool https = false;              //!< the URL is https (the certificate is then checked)
    bool local_host = false;         //!< the URL names loopback / localhost (plain http is fine then)
    std::int64_t slow_ms = 5'000;    //!< an answer slower than this is a warning
    std::int64_t timeout_ms = 15'000;  //!< what the receiver gets from hookd per attempt
};

//! The verdicts, in report order: valid-signature, forged-signature, stale-timestamp,
//! duplicate-delivery, response-time, tls. Pure.
[[nodiscard]] std::vector<CheckResult> JudgeReceiver(const ProbeAnswers& answers, const JudgeOptions& options);

//! True when no check failed (the exit status of `hookd check-receiver` is 0).
[[nodiscard]] bool NoFailures(const std::vector<CheckResult>& results);

struct ReceiverCheckOptions {
    std::string url;                      //!< the payload URL
    //! The secrets that sign, as for a delivery (Webhook::SigningSecrets): the first signs the
    //! legacy header, each adds a webhook-signature entry (a rotation's grace period).
    std::vector<std::string> secrets;
    HttpMethod method = HttpMethod::kPost;
    EventType event = EventType::kCreate;  //!< what the probes carry
    std::string entity = "Agreement";
    EntityId entity_id{"test", false};
    std::int32_t timeout_ms = 15'000;     //!< per probe, as the webhook's timeout
    AddressPolicy policy;                 //!< the SSRF guard, as for deliveries
    std::string ca_file;                  //!< empty = system bundle
};

//! Sends the probes and judges them. Blocks for up to about two timeouts (the valid,
//! forged and stale probes go together; the duplicate follows the valid one). `now_s`
//! is the unix time the timestamps are based on. A URL that cannot be built into a
//! request is an error (kInvalid); everything the receiver does is a verdict.
[[nodiscard]] Result<std::vector<CheckResult>> RunReceiverCheck(const ReceiverCheckOptions& options,
                                                                std::int64_t now_s);

//! The probes' answers only (for tests and diagnostics); same contract as above.
[[nodiscard]] Result<ProbeAnswers> SendProbes(const ReceiverCheckOptions& options, std::int64_t now_s);

}  // namespace hookd::delivery
