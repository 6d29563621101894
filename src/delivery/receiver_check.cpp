#include "delivery/receiver_check.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>

#include "core/crypto.hpp"
#include "core/ids.hpp"
#include "core/text.hpp"
#include "core/trace_context.hpp"
#include "core/wire.hpp"
#include "delivery/http_client.hpp"

namespace hookd::delivery {
namespace {

constexpr std::int64_t kStaleSeconds = 600;  // the stale probe's webhook-timestamp age
constexpr std::size_t kShownSnippet = 120;   // answer bytes quoted in a verdict
constexpr std::size_t kKeptSnippet = 512;    // answer bytes read per probe

std::string Seconds(std::int64_t ms) {
    if (ms < 1000) return std::to_string(ms) + " ms";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
    return buf;
}

// "HTTP 401 \"bad signature\"": the status and the first bytes of the answer, on one line.
std::string StatusText(const ProbeAnswer& a) {
    std::string out = "HTTP " + std::to_string(*a.status);
    std::string body = ValidUtf8(a.snippet, kShownSnippet);
    for (char& c : body) {
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    }
    while (!body.empty() && body.back() == ' ') body.pop_back();
    if (!body.empty()) out += " \"" + body + (a.snippet.size() > kShownSnippet ? "…" : "") + "\"";
    return out;
}

// Why there was no answer, in words.
std::string NoAnswerText(const ProbeAnswer& a, std::int64_t timeout_ms) {
    const std::string detail = a.error_detail.empty() ? "" : ": " + a.error_detail;
    switch (a.error) {
        case AttemptError::kTimeout: return "no answer within the timeout (" + Seconds(timeout_ms) + ")";
        case AttemptError::kBlocked:
            return "not sent: hookd's address guard refuses this address (loopback, private or reserved; "
                   "--allow-private-network allows local receivers)";
        case AttemptError::kDns: return "no answer: DNS lookup failed" + detail;
        case AttemptError::kConnect: return "no answer: cannot connect" + detail;
        case AttemptError::kTls: return "no answer: TLS failed" + detail;
        case AttemptError::kTooLarge: return "the answer was too large" + detail;
        default: return "no answer" + detail;
    }
}

// What a probe got, for "refused (...)".
std::string AnswerText(const ProbeAnswer& a, std::int64_t timeout_ms) {
    return a.status ? StatusText(a) : NoAnswerText(a, timeout_ms);
}

CheckResult Valid(const ProbeAnswers& p, const JudgeOptions& o) {
    const ProbeAnswer& a = p.valid;
    if (a.Accepted()) {
        return {"valid-signature", Verdict::kPass,
                "a correctly signed delivery was accepted (HTTP " + std::to_string(*a.status) + ")"};
    }
    if (a.status) {
        return {"valid-signature", Verdict::kFail,
                "a correctly signed delivery was refused: " + StatusText(a) +
                    " (hookd would retry it and finally mark it failed; check the secret and the URL)"};
    }
    return {"valid-signature", Verdict::kFail, NoAnswerText(a, o.timeout_ms)};
}

// Forged and stale probes must be refused; refusing means nothing while the valid one is refused too.
CheckResult MustRefuse(std::string name, const ProbeAnswer& a, const ProbeAnswer& valid, const JudgeOptions& o,
                       CheckResult when_accepted) {
    if (a.Accepted()) return when_accepted;
    if (!valid.status) {
        return {std::move(name), Verdict::kWarn, "not checked: the correctly signed delivery got no answer"};
    }
    const std::string what = AnswerText(a, o.timeout_ms);
    if (!valid.Accepted()) {
        return {std::move(name), Verdict::kWarn,
                "refused (" + what + "), but so was the correctly signed delivery: this proves nothing until "
                                     "valid-signature passes"};
    }
    return {std::move(name), Verdict::kPass, "refused (" + what + ")"};
}

CheckResult Forged(const ProbeAnswers& p, const JudgeOptions& o) {
    return MustRefuse("forged-signature", p.forged, p.valid, o,
                      {"forged-signature", Verdict::kFail,
                       "accepts forged signatures: HTTP " + (p.forged.status ? std::to_string(*p.forged.status) : "") +
                           " to a delivery whose x-ioffice-signature and webhook-signature are both wrong; anyone "
                           "who knows the URL can send it changes"});
}

CheckResult Stale(const ProbeAnswers& p, const JudgeOptions& o) {
    return MustRefuse(
        "stale-timestamp", p.stale, p.valid, o,
        {"stale-timestamp", Verdict::kWarn,
         "accepts a correctly signed delivery whose webhook-timestamp is 10 minutes old: replay protection is "
         "missing, so a captured request can be sent again. The legacy x-ioffice-signature has no timestamp "
         "and cannot prevent this: verify webhook-signature and refuse timestamps more than 5 minutes away"});
}

CheckResult Duplicate(const ProbeAnswers& p, const JudgeOptions& o) {
    const ProbeAnswer& a = p.duplicate;
    if (!a.sent) {
        return {"duplicate-delivery", Verdict::kWarn,
                "not checked: the correctly signed delivery was not accepted, so there was nothing to repeat"};
    }
    if (a.Accepted()) {
        return {"duplicate-delivery", Verdict::kPass,
                "the same webhook-id delivered twice was accepted both times (HTTP " + std::to_string(*a.status) +
                    ")"};
    }
    return {"duplicate-delivery", Verdict::kWarn,
            "the same webhook-id delivered a second time was refused (" + AnswerText(a, o.timeout_ms) +
                "): hookd retries with the same webhook-id, so a retry after a lost answer would look like a "
                "failure. Answer 2xx to a duplicate and skip the work instead"};
}

CheckResult ResponseTime(const ProbeAnswers& p, const JudgeOptions& o) {
    if (!p.valid.status) {
        if (p.valid.error == AttemptError::kTimeout) {
            return {"response-time", Verdict::kWarn, "no answer within the timeout (" + Seconds(o.timeout_ms) + ")"};
        }
        return {"response-time", Verdict::kWarn, "not measured: no answer"};
    }
    std::int64_t ms = p.valid.duration_ms;
    if (p.duplicate.sent && p.duplicate.status) ms = std::max(ms, p.duplicate.duration_ms);
    if (ms > o.slow_ms) {
        return {"response-time", Verdict::kWarn,
                "answered in " + Seconds(ms) + ", close to hookd's timeout (" + Seconds(o.timeout_ms) +
                    "): answer 2xx first, then do the work"};
    }
    return {"response-time", Verdict::kPass, "answered in " + Seconds(ms)};
}

CheckResult Tls(const ProbeAnswers& p, const JudgeOptions& o) {
    if (!o.https) {
        if (o.local_host) return {"tls", Verdict::kPass, "plain http to this machine: no certificate to check"};
        return {"tls", Verdict::kWarn,
                "plain http: deliveries and their signatures cross the network unencrypted; use an https URL"};
    }
    if (p.valid.error == AttemptError::kTls) {
        return {"tls", Verdict::kFail,
                "the certificate was not verified" +
                    (p.valid.error_detail.empty() ? std::string() : ": " + p.valid.error_detail)};
    }
    if (p.valid.status) return {"tls", Verdict::kPass, "certificate verified"};
    return {"tls", Verdict::kWarn, "not checked: " + NoAnswerText(p.valid, o.timeout_ms)};
}

bool IsLocalHost(std::string_view host) {
    if (host == "localhost" || host.ends_with(".localhost")) return true;
    auto ip = ParseLiteralHost(host);
    if (!ip) return false;
    if (!ip->v6) return ip->bytes[0] == 127;
    for (int i = 0; i < 15; ++i) {
        if (ip->bytes[i] != 0) return false;
    }
    return ip->bytes[15] == 1;
}

ProbeAnswer FromResult(const HttpResult& r) {
    ProbeAnswer a;
    a.sent = true;
    a.status = r.status;
    a.error = r.error;
    a.error_detail = r.error_detail;
    a.snippet = r.snippet;
    a.duration_ms = r.duration_ms;
    return a;
}

std::int64_t SteadyMs() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

// Drives `client` until `n` more results arrived (libcurl enforces each probe's timeout;
// the deadline only guards against a bug).
std::vector<HttpResult> Collect(HttpClient& client, std::size_t n, std::int64_t deadline_ms) {
    std::vector<HttpResult> done;
    while (done.size() < n && SteadyMs() < deadline_ms) client.Poll(100, done);
    return done;
}

}  // namespace

std::string_view ToString(Verdict v) {
    switch (v) {
        case Verdict::kPass: return "PASS";
        case Verdict::kWarn: return "WARN";
        case Verdict::kFail: return "FAIL";
    }
    return "FAIL";
}

std::vector<CheckResult> JudgeReceiver(const ProbeAnswers& answers, const JudgeOptions& options) {
    return {Valid(answers, options),    Forged(answers, options),       Stale(answers, options),
            Duplicate(answers, options), ResponseTime(answers, options), Tls(answers, options)};
}

bool NoFailures(const std::vector<CheckResult>& results) {
    return std::none_of(results.begin(), results.end(), [](const CheckResult& r) { return r.verdict == Verdict::kFail; });
}

Result<ProbeAnswers> SendProbes(const ReceiverCheckOptions& o, std::int64_t now_s) {
    if (auto msg = wire::CheckPayloadUrl(o.url)) return Fail(Error::Invalid("the URL " + *msg, {{"url", *msg}}));
    if (o.secrets.empty() || o.secrets.front().empty()) {
        return Fail(Error::Invalid("the secret is empty", {{"secret", "is required"}}));
    }
    const std::string id = NewId(kDeliveryPrefix);
    // Both headers signed with a key that is not the secret: what a forger can do.
    const std::string forged_key = crypto::Base64UrlEncode(crypto::RandomBytes(24));
    const std::vector<std::string_view> secret(o.secrets.begin(), o.secrets.end());
    const std::vector<std::string_view> wrong{forged_key};
    // Each probe as a delivery attempt would be, trace context included: a trace of its own.
    auto build = [&](std::string_view msg_id, const std::vector<std::string_view>& keys, std::int64_t ts) {
        return wire::Build(o.method, o.url, msg_id, o.event, o.entity, o.entity_id, keys, ts,
                           wire::TraceHeaders{trace::Format(trace::NewTrace()), {}});
    };
    auto valid = build(id, secret, now_s);
    auto forged = build(NewId(kDeliveryPrefix), wrong, now_s);
    auto stale = build(NewId(kDeliveryPrefix), secret, now_s - kStaleSeconds);
    if (!valid || !forged || !stale) return Fail(valid ? (forged ? stale.error() : forged.error()) : valid.error());

    HttpClient client(HttpClientOptions{o.policy, o.ca_file, kKeptSnippet});
    const std::int64_t started = SteadyMs();
    const std::int64_t guard_ms = o.timeout_ms + 10'000;
    client.Start(std::move(*valid), o.timeout_ms, 1);
    client.Start(std::move(*forged), o.timeout_ms, 2);
    client.Start(std::move(*stale), o.timeout_ms, 3);
    ProbeAnswers answers;
    for (const HttpResult& r : Collect(client, 3, started + guard_ms)) {
        (r.tag == 1 ? answers.valid : r.tag == 2 ? answers.forged : answers.stale) = FromResult(r);
    }
    if (!answers.valid.Accepted()) return answers;
    // A retry: the same webhook-id with this moment's timestamp.
    auto again = build(id, secret, now_s + (SteadyMs() - started) / 1000);
    if (!again) return Fail(again.error());
    client.Start(std::move(*again), o.timeout_ms, 4);
    const std::int64_t second = SteadyMs();
    for (const HttpResult& r : Collect(client, 1, second + guard_ms)) answers.duplicate = FromResult(r);
    return answers;
}

Result<std::vector<CheckResult>> RunReceiverCheck(const ReceiverCheckOptions& o, std::int64_t now_s) {
    auto answers = SendProbes(o, now_s);
    if (!answers) return Fail(answers.error());
    JudgeOptions j;
    std::string scheme = o.url.substr(0, o.url.find(':'));
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    j.https = scheme == "https";
    j.local_host = IsLocalHost(wire::HostOf(o.url));
    j.timeout_ms = o.timeout_ms;
    return JudgeReceiver(*answers, j);
}

}  // namespace hookd::delivery
