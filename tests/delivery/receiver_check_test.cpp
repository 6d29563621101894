#include "delivery/receiver_check.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <ctime>
#include <mutex>
#include <set>

#include "api/http_server.hpp"
#include "core/signature.hpp"

namespace hookd::delivery {
namespace {

ProbeAnswer Answer(int status, std::int64_t ms = 3, std::string body = "") {
    ProbeAnswer a;
    a.sent = true;
    a.status = status;
    a.error = status >= 200 && status <= 299 ? AttemptError::kNone : AttemptError::kHttp;
    a.duration_ms = ms;
    a.snippet = std::move(body);
    return a;
}

ProbeAnswer NoAnswer(AttemptError e, std::string detail = "") {
    ProbeAnswer a;
    a.sent = true;
    a.error = e;
    a.error_detail = std::move(detail);
    return a;
}

// A receiver that verifies everything: the valid delivery and its duplicate pass, the rest is refused.
ProbeAnswers Correct() { return {Answer(204), Answer(401), Answer(401), Answer(204)}; }

JudgeOptions Local() {
    JudgeOptions o;
    o.local_host = true;
    return o;
}

const CheckResult& Named(const std::vector<CheckResult>& r, const std::string& name) {
    for (const auto& c : r) {
        if (c.name == name) return c;
    }
    static const CheckResult kMissing{"missing", Verdict::kFail, "no such check"};
    ADD_FAILURE() << "no check named " << name;
    return kMissing;
}

TEST(ReceiverCheck, ACorrectReceiverPassesEveryCheckInReportOrder) {
    auto r = JudgeReceiver(Correct(), Local());
    std::vector<std::string> names;
    for (const auto& c : r) {
        names.push_back(c.name);
        EXPECT_EQ(c.verdict, Verdict::kPass) << c.name << ": " << c.detail;
    }
    EXPECT_EQ(names, (std::vector<std::string>{"valid-signature", "forged-signature", "stale-timestamp",
                                               "duplicate-delivery", "response-time", "tls"}));
    EXPECT_TRUE(NoFailures(r));
    EXPECT_EQ(ToString(Verdict::kPass), "PASS");
    EXPECT_EQ(ToString(Verdict::kWarn), "WARN");
    EXPECT_EQ(ToString(Verdict::kFail), "FAIL");
}

TEST(ReceiverCheck, AcceptingForgedSignaturesFails) {
    ProbeAnswers p = Correct();
    p.forged = Answer(200);
    p.stale = Answer(200);
    auto r = JudgeReceiver(p, Local());
    EXPECT_EQ(Named(r, "forged-signature").verdict, Verdict::kFail);
    EXPECT_NE(Named(r, "forged-signature").detail.find("accepts forged signatures"), std::string::npos);
    EXPECT_EQ(Named(r, "stale-timestamp").verdict, Verdict::kWarn);
    EXPECT_FALSE(NoFailures(r));
}

TEST(ReceiverCheck, AStaleTimestampAcceptedIsAWarningThatNamesTheLegacyHeader) {
    ProbeAnswers p = Correct();
    p.stale = Answer(200);  // e.g. a receiver that checks only x-ioffice-signature
    auto r = JudgeReceiver(p, Local());
    const auto& stale = Named(r, "stale-timestamp");
    EXPECT_EQ(stale.verdict, Verdict::kWarn);
    EXPECT_NE(stale.detail.find("replay protection"), std::string::npos) << stale.detail;
    EXPECT_NE(stale.detail.find("x-ioffice-signature has no timestamp"), std::string::npos) << stale.detail;
    EXPECT_EQ(Named(r, "forged-signature").verdict, Verdict::kPass);
    EXPECT_TRUE(NoFailures(r));
}

TEST(ReceiverCheck, RefusingADuplicateIsAWarning) {
    ProbeAnswers p = Correct();
    p.duplicate = Answer(409, 2, "duplicate");
    auto r = JudgeReceiver(p, Local());
    const auto& dup = Named(r, "duplicate-delivery");
    EXPECT_EQ(dup.verdict, Verdict::kWarn);
    EXPECT_NE(dup.detail.find("HTTP 409 \"duplicate\""), std::string::npos) << dup.detail;
    EXPECT_TRUE(NoFailures(r));
}

TEST(ReceiverCheck, ASlowAnswerIsAWarningWithItsTime) {
    ProbeAnswers p = Correct();
    p.valid = Answer(200, 4'000);
    p.duplicate = Answer(200, 6'200);  // the slower of the two accepted deliveries counts
    auto r = JudgeReceiver(p, Local());
    const auto& t = Named(r, "response-time");
    EXPECT_EQ(t.verdict, Verdict::kWarn);
    EXPECT_NE(t.detail.find("6.2 s"), std::string::npos) << t.detail;
    p.duplicate = Answer(200, 5'000);
    p.valid = Answer(200, 40);
    EXPECT_EQ(Named(JudgeReceiver(p, Local()), "response-time").verdict, Verdict::kPass);
    EXPECT_NE(Named(JudgeReceiver(p, Local()), "response-time").detail.find("5.0 s"), std::string::npos);
}

TEST(ReceiverCheck, ARefusedValidDeliveryFailsWithStatusAndAnswerAndMakesTheRestInconclusive) {
    ProbeAnswers p{Answer(500, 3, "Internal\nServer Error: stack trace follows"), Answer(500), Answer(500), {}};
    auto r = JudgeReceiver(p, Local());
    const auto& valid = Named(r, "valid-signature");
    EXPECT_EQ(valid.verdict, Verdict::kFail);
    EXPECT_NE(valid.detail.find("HTTP 500 \"Internal Server Error: stack trace follows\""), std::string::npos)
        << valid.detail;
    EXPECT_EQ(Named(r, "forged-signature").verdict, Verdict::kWarn);  // refusing everything proves nothing
    EXPECT_EQ(Named(r, "stale-timestamp").verdict, Verdict::kWarn);
    EXPECT_EQ(Named(r, "duplicate-delivery").verdict, Verdict::kWarn);
    EXPECT_NE(Named(r, "duplicate-delivery").detail.find("not checked"), std::string::npos);
    EXPECT_FALSE(NoFailures(r));
}

TEST(ReceiverCheck, NoAnswerSaysWhy) {
    ProbeAnswers p{NoAnswer(AttemptError::kTimeout), NoAnswer(AttemptError::kTimeout),
                   NoAnswer(AttemptError::kTimeout), {}};
    JudgeOptions o = Local();
    o.timeout_ms = 2'000;
    auto r = JudgeReceiver(p, o);
    EXPECT_EQ(Named(r, "valid-signature").verdict, Verdict::kFail);
    EXPECT_NE(Named(r, "valid-signature").detail.find("no answer within the timeout (2.0 s)"), std::string::npos);
    EXPECT_EQ(Named(r, "response-time").verdict, Verdict::kWarn);

    p.valid = NoAnswer(AttemptError::kBlocked);
    EXPECT_NE(Named(JudgeReceiver(p, o), "valid-signature").detail.find("--allow-private-network"), std::string::npos);
    p.valid = NoAnswer(AttemptError::kConnect, "Connection refused");
    EXPECT_NE(Named(JudgeReceiver(p, o), "valid-signature").detail.find("cannot connect: Connection refused"),
              std::string::npos);
    // Nothing reached the receiver: the other probes prove nothing either way.
    EXPECT_EQ(Named(JudgeReceiver(p, o), "forged-signature").verdict, Verdict::kWarn);
    EXPECT_NE(Named(JudgeReceiver(p, o), "forged-signature").detail.find("not checked"), std::string::npos);
}

TEST(ReceiverCheck, TlsIsCheckedForHttpsAndPlainHttpElsewhereIsAWarning) {
    JudgeOptions https;
    https.https = true;
    ProbeAnswers p = Correct();
    EXPECT_EQ(Named(JudgeReceiver(p, https), "tls").verdict, Verdict::kPass);
    p.valid = NoAnswer(AttemptError::kTls, "SSL certificate problem: self-signed certificate");
    const auto tls = Named(JudgeReceiver(p, https), "tls");
    EXPECT_EQ(tls.verdict, Verdict::kFail);
    EXPECT_NE(tls.detail.find("self-signed certificate"), std::string::npos) << tls.detail;

    JudgeOptions remote_http;
    EXPECT_EQ(Named(JudgeReceiver(Correct(), remote_http), "tls").verdict, Verdict::kWarn);
    EXPECT_EQ(Named(JudgeReceiver(Correct(), Local()), "tls").verdict, Verdict::kPass);
}

// ------------------------------------------------------------ against a real receiver

// A loopback receiver that verifies both signatures and the timestamp as docs/receivers.md
// tells receivers to, and answers duplicates with 2xx. `careless` accepts anything.
class VerifyingReceiver {
public:
    explicit VerifyingReceiver(bool careless = false)
        : careless_(careless),
          server_(api::HttpServerOptions{"127.0.0.1", 0, 1 << 20, 16384, 30000, 10000, 2, 16},
                  [this](const api::HttpRequest& r) { return Handle(r); }) {
        if (!server_.Start()) throw std::runtime_error("receiver cannot start");
    }
    ~VerifyingReceiver() { server_.Stop(); }
    [[nodiscard]] std::string Url() const { return "http://127.0.0.1:" + std::to_string(server_.port()) + "/hook"; }
    std::atomic<int> hits{0};
    std::mutex mu;
    std::multiset<std::string> ids;

private:
    api::HttpResponse Handle(const api::HttpRequest& r) {
        ++hits;
        api::HttpResponse res;
        res.content_type = "text/plain";
        const std::string msg_id(r.Header("webhook-id"));
        {
            std::lock_guard lock(mu);
            ids.insert(msg_id);
        }
        const std::int64_t ts = std::atoll(std::string(r.Header("webhook-timestamp")).c_str());
        const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
        const bool fresh = ts >= now - 300 && ts <= now + 300;
        const bool ok = signature::VerifyStandard("mySecret", msg_id, ts, r.body, r.Header("webhook-signature")) &&
                        signature::VerifyLegacy("mySecret", "CREATE", "Agreement", "test",
                                                r.Header("x-ioffice-signature"));
        res.status = careless_ || (ok && fresh) ? 204 : 401;
        return res;
    }
    bool careless_;
    api::HttpServer server_;
};

ReceiverCheckOptions Options(const std::string& url) {
    ReceiverCheckOptions o;
    o.url = url;
    o.secrets = {"mySecret"};
    o.policy = AddressPolicy(true, {});
    o.timeout_ms = 5'000;
    return o;
}

TEST(ReceiverCheck, RealReceiversAreToldApart) {
    VerifyingReceiver good;
    auto r = RunReceiverCheck(Options(good.Url()), static_cast<std::int64_t>(std::time(nullptr)));
    ASSERT_TRUE(r) << r.error().message;
    for (const auto& c : *r) EXPECT_EQ(c.verdict, Verdict::kPass) << c.name << ": " << c.detail;
    EXPECT_EQ(good.hits.load(), 4);  // valid, forged, stale, and the valid one again
    {
        std::lock_guard lock(good.mu);
        EXPECT_EQ(good.ids.size(), 4u);
        int twice = 0;
        for (const auto& id : good.ids) {
            EXPECT_EQ(id.rfind("dlv_", 0), 0u) << id;
            if (good.ids.count(id) == 2) ++twice;
        }
        EXPECT_EQ(twice, 2);  // one webhook-id, seen twice
    }

    VerifyingReceiver careless(true);
    auto bad = RunReceiverCheck(Options(careless.Url()), static_cast<std::int64_t>(std::time(nullptr)));
    ASSERT_TRUE(bad);
    EXPECT_FALSE(NoFailures(*bad));
    EXPECT_EQ(Named(*bad, "forged-signature").verdict, Verdict::kFail);
}

TEST(ReceiverCheck, TheAddressGuardApplies) {
    VerifyingReceiver good;
    auto o = Options(good.Url());
    o.policy = AddressPolicy(false, {});
    auto r = RunReceiverCheck(o, static_cast<std::int64_t>(std::time(nullptr)));
    ASSERT_TRUE(r);
    EXPECT_EQ(Named(*r, "valid-signature").verdict, Verdict::kFail);
    EXPECT_NE(Named(*r, "valid-signature").detail.find("address guard"), std::string::npos);
    EXPECT_EQ(good.hits.load(), 0);
}

TEST(ReceiverCheck, ABadUrlOrEmptySecretIsAnError) {
    auto o = Options("ftp://example.com/x");
    EXPECT_EQ(RunReceiverCheck(o, 0).error().code, ErrorCode::kInvalid);
    o = Options("http://127.0.0.1:9/x");
    o.secrets = {""};
    EXPECT_EQ(RunReceiverCheck(o, 0).error().code, ErrorCode::kInvalid);
}

}  // namespace
}  // namespace hookd::delivery
