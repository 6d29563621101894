#include <gtest/gtest.h>

#include "core/address_guard.hpp"
#include "core/catalogue.hpp"
#include "core/crypto.hpp"
#include "core/domain.hpp"
#include "core/health.hpp"
#include "core/ids.hpp"
#include "core/log_line.hpp"
#include "core/metrics.hpp"
#include "core/retry_schedule.hpp"
#include "core/signature.hpp"
#include "core/time.hpp"
#include "core/trace_context.hpp"
#include "core/wire.hpp"

namespace hookd {
namespace {

TEST(JsonLogLine, OneObjectWithTimeLevelMessageAndThread) {
    EXPECT_EQ(JsonLogLine(1'795'881'290'123, "info", "stopped", 42),
              R"({"time":"2026-11-28T15:54:50.123Z","level":"info","message":"stopped","thread":42})");
}

TEST(JsonLogLine, EscapesQuotesBackslashesAndControlCharacters) {
    EXPECT_EQ(JsonLogLine(0, "error", "a \"b\" \\ c\nd\te\x01", 1),
              R"({"time":"1970-01-01T00:00:00.000Z","level":"error","message":"a \"b\" \\ c\nd\te\u0001","thread":1})");
}

TEST(JsonLogLine, TakesIdsAndSiteFromTheMessage) {
    const std::string wh = "wh_01JD8Z7Q3N4V5W6X7Y8Z9ABCDE";
    const std::string dlv = "dlv_01JD8Z7Q3N4V5W6X7Y8Z9ABCDF";
    const std::string line =
        JsonLogLine(0, "warning", "webhook " + wh + " of site acme-2 disabled; delivery " + dlv + ".", 7);
    EXPECT_NE(line.find(R"("site":"acme-2")"), std::string::npos) << line;
    EXPECT_NE(line.find(R"("webhook":")" + wh + "\""), std::string::npos) << line;
    EXPECT_NE(line.find(R"("delivery":")" + dlv + "\""), std::string::npos) << line;
    EXPECT_EQ(line.find("\"event\""), std::string::npos) << line;

    const std::string path = JsonLogLine(0, "error", "handler for GET /v1/sites/beta/webhooks/" + wh + " threw: x", 7);
    EXPECT_NE(path.find(R"("site":"beta")"), std::string::npos) << path;
    EXPECT_NE(path.find(R"("webhook":")" + wh + "\""), std::string::npos) << path;
}

TEST(JsonLogLine, IgnoresLookAlikes) {
    // Not a word of its own, too short, lower case (not Crockford base32), a website.
    const std::string line = JsonLogLine(
        0, "info", "xwh_01JD8Z7Q3N4V5W6X7Y8Z9ABCDE wh_01JD8Z dlv_01jd8z7q3n4v5w6x7y8z9abcdf website Acme", 1);
    EXPECT_EQ(line.find("\"webhook\""), std::string::npos) << line;
    EXPECT_EQ(line.find("\"delivery\""), std::string::npos) << line;
    EXPECT_EQ(line.find("\"site\""), std::string::npos) << line;
}

TEST(Metrics, PerWebhookFailuresDisablesAndStoreGauges) {
    Metrics m;
    m.AttemptFinished("acme", "wh_A", false, 0.02, 0);
    m.AttemptFinished("acme", "wh_A", false, 0.02, 2);
    m.AttemptFinished("acme", "wh_B", true, 0.02, 1);
    m.AttemptFinished("we\"ird", "wh_C", false, 0.02, 0);
    m.WebhookDisabled(DisableReason::kGone);
    StoreGauges g;
    g.up = true;
    g.pending = 3;
    g.oldest_unattempted_age_s = 12.5;
    const std::string text = m.Render(g);
    EXPECT_NE(text.find("hookd_webhook_attempt_failures_total{site=\"acme\",webhook=\"wh_A\"} 2\n"), std::string::npos);
    EXPECT_EQ(text.find("webhook=\"wh_B\""), std::string::npos) << "no series for a webhook without failures";
    EXPECT_NE(text.find(R"(site="we\"ird")"), std::string::npos) << "label values escaped";
    EXPECT_NE(text.find("hookd_webhooks_disabled_total{reason=\"gone\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("hookd_webhooks_disabled_total{reason=\"failing\"} 0\n"), std::string::npos);
    EXPECT_NE(text.find("hookd_deliveries_total{outcome=\"failed\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("hookd_store_up 1\n"), std::string::npos);
    EXPECT_NE(text.find("hookd_queue_depth 3\n"), std::string::npos);
    EXPECT_NE(text.find("hookd_oldest_unattempted_age_seconds 12.500\n"), std::string::npos);

    const std::string down = m.Render(StoreGauges{});
    EXPECT_NE(down.find("hookd_store_up 0\n"), std::string::npos);
    EXPECT_NE(down.find("hookd_queue_depth -1\n"), std::string::npos);
    EXPECT_EQ(down.find("\nhookd_oldest_unattempted_age_seconds "), std::string::npos) << "unknown: no sample";
}

TEST(Signature, SeedTestVector) {
    EXPECT_EQ(signature::Legacy("mySecret", "CREATE", "Agreement", "25"),
              "6206491ddab1218e7d6a9c8b3fbaa43da7858ee678dc6cd53a4dcabf0216568e");
    EXPECT_TRUE(signature::VerifyLegacy("mySecret", "CREATE", "Agreement", "25",
                                        "6206491DDAB1218E7D6A9C8B3FBAA43DA7858EE678DC6CD53A4DCABF0216568E"));
    EXPECT_FALSE(signature::VerifyLegacy("mySecret", "CREATE", "Agreement", "26",
                                         "6206491ddab1218e7d6a9c8b3fbaa43da7858ee678dc6cd53a4dcabf0216568e"));
}

TEST(Signature, StandardWebhooksKnownAnswer) {
    // Reference values from the Standard Webhooks specification's test vector.
    const auto key = crypto::Base64Decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    ASSERT_TRUE(key);
    EXPECT_EQ(signature::Standard(*key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, R"({"test": 2432232314})"),
              "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    EXPECT_EQ(signature::StandardSecret("mySecret"), "whsec_bXlTZWNyZXQ=");
}

TEST(Signature, HeaderCarriesEverySecretAndVerifiesEither) {
    std::vector<std::string_view> secrets{"new", "old"};
    const auto header = signature::StandardHeader(secrets, "dlv_1", 100, "body");
    EXPECT_NE(header.find(' '), std::string::npos);
    EXPECT_TRUE(signature::VerifyStandard("new", "dlv_1", 100, "body", header));
    EXPECT_TRUE(signature::VerifyStandard("old", "dlv_1", 100, "body", header));
    EXPECT_FALSE(signature::VerifyStandard("other", "dlv_1", 100, "body", header));
    EXPECT_FALSE(signature::VerifyStandard("new", "dlv_1", 101, "body", header));
}

TEST(Wire, PostBodyIsByteExact) {
    EXPECT_EQ(wire::PostBody(EventType::kCreate, "Agreement", {"25", true}),
              R"({"event":"CREATE","entity":"Agreement","entityId":25})");
    EXPECT_EQ(wire::PostBody(EventType::kArchive, "Room", {"r-1.a", false}),
              R"({"event":"ARCHIVE","entity":"Room","entityId":"r-1.a"})");
}

TEST(Wire, GetUrlJoinsWithExactlyOneSlash) {
    const std::string suffix = "/CREATE/Agreement/25";
    EXPECT_EQ(*wire::JoinGetUrl("http://h/hooks", suffix), "http://h/hooks/CREATE/Agreement/25");
    EXPECT_EQ(*wire::JoinGetUrl("http://h/hooks/", suffix), "http://h/hooks/CREATE/Agreement/25");
    EXPECT_EQ(*wire::JoinGetUrl("http://h/hooks//", suffix), "http://h/hooks/CREATE/Agreement/25");
    EXPECT_EQ(*wire::JoinGetUrl("http://h", suffix), "http://h/CREATE/Agreement/25");
    EXPECT_EQ(*wire::JoinGetUrl("http://h/", suffix), "http://h/CREATE/Agreement/25");
    EXPECT_EQ(*wire::JoinGetUrl("http://h:81/a/b?x=1&y=2", suffix), "http://h:81/a/b/CREATE/Agreement/25?x=1&y=2");
    EXPECT_EQ(*wire::JoinGetUrl("https://h/a/?x=1#frag", suffix), "https://h/a/CREATE/Agreement/25?x=1");
}

TEST(Wire, PathSegmentsArePercentEncoded) {
    EXPECT_EQ(wire::PathSuffix(EventType::kUpdate, "Room", {"a.b_c~d-e", false}), "/UPDATE/Room/a.b_c~d-e");
    EXPECT_EQ(wire::PathSuffix(EventType::kUpdate, "Room", {"a b", false}), "/UPDATE/Room/a%20b");
}

TEST(Wire, BuildSignsBothWays) {
    std::vector<std::string_view> secrets{"mySecret"};
    auto post = wire::Build(HttpMethod::kPost, "http://h/x", "dlv_A", EventType::kCreate, "Agreement", {"25", true},
                            secrets, 1700000000);
    ASSERT_TRUE(post);
    auto header = [&](const wire::Request& r, std::string_view name) {
        for (const auto& [k, v] : r.headers) {
            if (k == name) return v;
        }
        return std::string();
    };
    EXPECT_EQ(header(*post, "x-ioffice-signature"), "6206491ddab1218e7d6a9c8b3fbaa43da7858ee678dc6cd53a4dcabf0216568e");
    EXPECT_EQ(header(*post, "webhook-id"), "dlv_A");
    EXPECT_EQ(header(*post, "webhook-timestamp"), "1700000000");
    EXPECT_EQ(header(*post, "webhook-signature"), signature::Standard("mySecret", "dlv_A", 1700000000, post->body));
    EXPECT_EQ(header(*post, "Content-Type"), "application/json");
    auto get = wire::Build(HttpMethod::kGet, "http://h/x?q=1", "dlv_A", EventType::kCreate, "Agreement",
                           {"25", true}, secrets, 1700000000);
    ASSERT_TRUE(get);
    EXPECT_EQ(get->url, "http://h/x/CREATE/Agreement/25?q=1");
    EXPECT_TRUE(get->body.empty());
    EXPECT_EQ(header(*get, "webhook-signature"),
              signature::Standard("mySecret", "dlv_A", 1700000000, "/CREATE/Agreement/25"));
}

TEST(TraceContext, ParsesTheSpecExample) {
    // https://www.w3.org/TR/trace-context/#examples-of-http-traceparent-headers
    auto tp = trace::Parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    ASSERT_TRUE(tp);
    EXPECT_EQ(tp->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(tp->parent_id, "00f067aa0ba902b7");
    EXPECT_EQ(tp->flags, 0x01);
    EXPECT_EQ(trace::Format(*tp), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    auto unsampled = trace::Parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
    ASSERT_TRUE(unsampled);
    EXPECT_EQ(unsampled->flags, 0x00);
    // Unknown flag bits are kept.
    EXPECT_EQ(trace::Format(*trace::Parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff")),
              "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff");
}

TEST(TraceContext, RejectsWhatTheSpecCallsInvalid) {
    const std::string ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    ASSERT_TRUE(trace::Parse(ok));
    EXPECT_FALSE(trace::Parse(""));
    EXPECT_FALSE(trace::Parse(ok.substr(0, 54)));  // too short
    EXPECT_FALSE(trace::Parse(ok + "0"));           // version 00 is exactly 55 characters
    EXPECT_FALSE(trace::Parse(ok + "-extra"));      // ... even with a separator
    EXPECT_FALSE(trace::Parse(" " + ok.substr(1)));
    EXPECT_FALSE(trace::Parse("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));  // upper case
    EXPECT_FALSE(trace::Parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01"));
    EXPECT_FALSE(trace::Parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A"));
    EXPECT_FALSE(trace::Parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));  // zero trace-id
    EXPECT_FALSE(trace::Parse("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));  // zero parent-id
    EXPECT_FALSE(trace::Parse("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));  // version ff
    EXPECT_FALSE(trace::Parse("0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    EXPECT_FALSE(trace::Parse("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));  // separators
    EXPECT_FALSE(trace::Parse("00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01"));
    EXPECT_FALSE(trace::Parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01"));
    EXPECT_FALSE(trace::Parse("00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01"));  // misplaced '-'
    EXPECT_FALSE(trace::Parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x"));
    EXPECT_FALSE(trace::Parse(std::string("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\0", 55)));
}

TEST(TraceContext, HigherVersionsAreReadAsVersion00) {
    auto tp = trace::Parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds");
    ASSERT_TRUE(tp);
    EXPECT_EQ(trace::Format(*tp), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    EXPECT_TRUE(trace::Parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    EXPECT_FALSE(trace::Parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.what"));
}

TEST(TraceContext, NewTracesAndSpansAreRandomAndValid) {
    const auto a = trace::NewTrace();
    const auto b = trace::NewTrace();
    EXPECT_NE(a.trace_id, b.trace_id);
    EXPECT_EQ(a.flags, 0x01);
    EXPECT_EQ(trace::Parse(trace::Format(a)), a);
    const std::string span = trace::NewSpanId();
    EXPECT_EQ(span.size(), 16u);
    EXPECT_NE(span, trace::NewSpanId());
    EXPECT_EQ(span.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(TraceContext, EachAttemptIsAChildSpanOfTheEvent) {
    const std::optional<std::string> stored = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    EXPECT_EQ(trace::ForAttempt(stored, "b7ad6b7169203331"), "00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-00");
    EXPECT_FALSE(trace::ForAttempt(std::nullopt, "b7ad6b7169203331"));
    EXPECT_FALSE(trace::ForAttempt(std::string("garbage"), "b7ad6b7169203331"));
}

TEST(TraceContext, TraceStateIsKeptWhenWellFormed) {
    EXPECT_EQ(trace::CheckTraceState("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    EXPECT_TRUE(trace::CheckTraceState("a=1, ,b=2"));
    EXPECT_FALSE(trace::CheckTraceState(""));
    EXPECT_FALSE(trace::CheckTraceState("novalue"));
    EXPECT_FALSE(trace::CheckTraceState("a=1,=2"));
    EXPECT_FALSE(trace::CheckTraceState("a=1,b="));
    EXPECT_FALSE(trace::CheckTraceState("a=\x01"));
    EXPECT_FALSE(trace::CheckTraceState("a=" + std::string(511, 'x')));
}

TEST(Wire, TraceHeadersFollowTheOthersAndOnlyWhenStored) {
    std::vector<std::string_view> secrets{"mySecret"};
    Delivery d;
    const auto without = wire::Build(HttpMethod::kPost, "http://h/x", "dlv_A", EventType::kCreate, "Agreement",
                                     {"25", true}, secrets, 1700000000, wire::TraceFor(d));
    ASSERT_TRUE(without);
    for (const auto& [k, v] : without->headers) EXPECT_NE(k, "traceparent");
    d.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    d.tracestate = "rojo=1";
    const auto with = wire::Build(HttpMethod::kPost, "http://h/x", "dlv_A", EventType::kCreate, "Agreement",
                                  {"25", true}, secrets, 1700000000, wire::TraceFor(d, "b7ad6b7169203331"));
    ASSERT_TRUE(with);
    ASSERT_EQ(with->headers.size(), without->headers.size() + 2);
    // The SPEC.md §2 headers are unchanged; the trace headers come last.
    for (std::size_t i = 0; i < without->headers.size(); ++i) EXPECT_EQ(with->headers[i], without->headers[i]);
    EXPECT_EQ(with->headers[without->headers.size()],
              (std::pair<std::string, std::string>{"traceparent",
                                                   "00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01"}));
    EXPECT_EQ(with->headers.back(), (std::pair<std::string, std::string>{"tracestate", "rojo=1"}));
    EXPECT_EQ(with->body, without->body);
    // A fresh span per attempt.
    EXPECT_NE(wire::TraceFor(d).traceparent, wire::TraceFor(d).traceparent);
}

TEST(Wire, PayloadUrlChecks) {
    EXPECT_FALSE(wire::CheckPayloadUrl("https://example.com/hook"));
    EXPECT_FALSE(wire::CheckPayloadUrl("http://example.com:8080"));
    EXPECT_TRUE(wire::CheckPayloadUrl("ftp://example.com/"));
    EXPECT_TRUE(wire::CheckPayloadUrl("example.com/hook"));
    EXPECT_TRUE(wire::CheckPayloadUrl("http:///nohost"));
    EXPECT_TRUE(wire::CheckPayloadUrl("http://user:pw@example.com/"));
    EXPECT_TRUE(wire::CheckPayloadUrl(""));
    EXPECT_TRUE(wire::CheckPayloadUrl("http://exa mple.com/"));
    EXPECT_TRUE(wire::CheckPayloadUrl("http://example.com/" + std::string(3000, 'a')));
}

TEST(RetrySchedule, ParsesAndCountsAttempts) {
    auto s = RetrySchedule::Parse("0s,1s,2m,1h");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->attempts(), 4u);
    EXPECT_EQ(s->delays(), (std::vector<DurationMs>{0, 1000, 120000, 3600000}));
    EXPECT_FALSE(RetrySchedule::Parse(""));
    EXPECT_FALSE(RetrySchedule::Parse("1s,,2s"));
    EXPECT_FALSE(RetrySchedule::Parse("5x"));
    EXPECT_EQ(RetrySchedule::Default().attempts(), 11u);
}

TEST(RetrySchedule, JitterIsBoundedAndInjected) {
    const RetrySchedule s({0, 10'000, 20'000});
    const RandomSource low = [] { return 0.0; };
    const RandomSource mid = [] { return 0.5; };
    const RandomSource high = [] { return 0.999999; };
    EXPECT_EQ(*s.NextDelay(1, mid), 10'000);
    EXPECT_EQ(*s.NextDelay(1, low), 9'000);
    EXPECT_EQ(*s.NextDelay(1, high), 11'000);
    EXPECT_EQ(*s.NextDelay(2, mid), 20'000);
    EXPECT_FALSE(s.NextDelay(3, mid));  // three attempts made: exhausted
    // Retry-After raises the delay, capped at one hour.
    EXPECT_EQ(*s.NextDelay(1, mid, 60'000), 60'000);
    EXPECT_EQ(*s.NextDelay(1, mid, 1'000), 10'000);
    EXPECT_EQ(*s.NextDelay(1, mid, 99'000'000), RetrySchedule::kMaxRetryAfter);
}

TEST(AddressGuard, OddLiteralFormsAreCaught) {
    for (const char* host : {"127.0.0.1", "127.1", "0x7f.1", "2130706433", "0177.0.0.1", "017700000001", "::1",
                             "[::1]", "::ffff:127.0.0.1", "[::ffff:7f00:1]", "0.0.0.0", "0", "10.1.2.3",
                             "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "224.0.0.1",
                             "255.255.255.255", "fc00::1", "fd12:3456::1", "fe80::1", "ff02::1", "::",
                             "64:ff9b::7f00:1", "240.0.0.1"}) {
        auto ip = ParseLiteralHost(host);
        ASSERT_TRUE(ip) << host;
        EXPECT_TRUE(IsNonPublic(*ip)) << host;
    }
    for (const char* host : {"8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "93.184.216.34", "[2001:4860::8888]"}) {
        auto ip = ParseLiteralHost(host);
        ASSERT_TRUE(ip) << host;
        EXPECT_FALSE(IsNonPublic(*ip)) << host;
    }
    EXPECT_FALSE(ParseLiteralHost("example.com"));
    EXPECT_FALSE(ParseLiteralHost("1.2.3.4.5"));
    EXPECT_FALSE(ParseLiteralHost("256.1.1.1"));
}

TEST(AddressGuard, PolicyAllowList) {
    auto lo = *ParseLiteralHost("127.0.0.1");
    auto ten = *ParseLiteralHost("10.0.0.5");
    EXPECT_FALSE(AddressPolicy().Allows(lo));
    EXPECT_TRUE(AddressPolicy(true, {}).Allows(lo));
    AddressPolicy p(false, {*Cidr::Parse("10.0.0.0/24")});
    EXPECT_TRUE(p.Allows(ten));
    EXPECT_FALSE(p.Allows(lo));
    EXPECT_TRUE(p.Allows(*ParseLiteralHost("8.8.8.8")));
    EXPECT_FALSE(Cidr::Parse("10.0.0.0/33"));
    EXPECT_FALSE(Cidr::Parse("nonsense"));
}

TEST(Time, FormatsAndParsesRfc3339) {
    EXPECT_EQ(FormatTime(0), "1970-01-01T00:00:00.000Z");
    EXPECT_EQ(FormatTime(1700000000123), "2023-11-14T22:13:20.123Z");
    EXPECT_EQ(*ParseTime("2023-11-14T22:13:20.123Z"), 1700000000123);
    EXPECT_EQ(*ParseTime("2023-11-14T23:13:20+01:00"), 1700000000000);
    EXPECT_EQ(*ParseTime("2023-11-14T22:13:20.5Z"), 1700000000500);
    EXPECT_FALSE(ParseTime("2023-11-14"));
    EXPECT_FALSE(ParseTime("2023-13-14T22:13:20Z"));
    EXPECT_FALSE(ParseTime("yesterday"));
    EXPECT_EQ(*ParseDuration("1500ms"), 1500);
    EXPECT_EQ(*ParseDuration("2m"), 120000);
    EXPECT_EQ(*ParseDuration("30d"), 30LL * 86400000);
    EXPECT_FALSE(ParseDuration("m"));
    EXPECT_FALSE(ParseDuration("-1s"));
}

TEST(Ids, PrefixedSortedAndWellFormed) {
    std::string prev;
    for (int i = 0; i < 1000; ++i) {
        auto id = NewId(kDeliveryPrefix);
        EXPECT_TRUE(IsWellFormedId(id, kDeliveryPrefix)) << id;
        EXPECT_LT(prev, id);
        prev = id;
    }
    EXPECT_TRUE(IsValidSiteId("acme"));
    EXPECT_TRUE(IsValidSiteId("a-1"));
    EXPECT_FALSE(IsValidSiteId("-a"));
    EXPECT_FALSE(IsValidSiteId("Acme"));
    EXPECT_FALSE(IsValidSiteId(std::string(64, 'a')));
}

TEST(Domain, MatchingAndParsing) {
    Webhook w;
    w.events = Bit(EventType::kCreate) | Bit(EventType::kDelete);
    w.entities = {"Agreement", "Room"};
    EXPECT_TRUE(w.Matches(EventType::kCreate, "Agreement"));
    EXPECT_FALSE(w.Matches(EventType::kUpdate, "Agreement"));
    EXPECT_FALSE(w.Matches(EventType::kCreate, "Desk"));
    w.send_everything = true;
    EXPECT_TRUE(w.Matches(EventType::kDelete, "Desk"));
    EXPECT_EQ(*ParseEventType("create"), EventType::kCreate);
    EXPECT_EQ(*ParseEventType("Archive"), EventType::kArchive);
    EXPECT_FALSE(ParseEventType("CREATED"));
    EXPECT_EQ(*ParseMethod("get"), HttpMethod::kGet);
    EXPECT_TRUE(IsValidEntityIdString("A-z_0.9~"));
    EXPECT_FALSE(IsValidEntityIdString("a/b"));
    EXPECT_FALSE(IsValidEntityIdString(std::string(129, 'a')));
}

TEST(Domain, RotatedSecretSignsDuringGraceOnly) {
    Webhook w;
    w.secret = "new";
    w.old_secret = "old";
    w.old_secret_until = 1000;
    EXPECT_EQ(w.SigningSecrets(999).size(), 2u);
    EXPECT_EQ(w.SigningSecrets(1000).size(), 1u);
}

TEST(Catalogue, ParsesAndMatchesCaseInsensitively) {
    auto c = Catalogue::Parse(R"({"entities":[{"name":"Agreement","description":"a"},{"name":"WorkOrder"}]})");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->Canonical("workorder"), "WorkOrder");
    EXPECT_TRUE(c->Canonical("Nope").empty());
    EXPECT_FALSE(Catalogue::Parse(R"({"entities":[{"name":"A"},{"name":"a"}]})"));
    EXPECT_FALSE(Catalogue::Parse(R"({"entities":[]})"));
    EXPECT_FALSE(Catalogue::Parse("not json"));
}

TEST(Crypto, SecretBoxRoundTripsAndRejectsWrongKey) {
    auto box = crypto::SecretBox::Create(std::string(32, 'k'));
    auto other = crypto::SecretBox::Create(std::string(32, 'x'));
    ASSERT_TRUE(box && other);
    const auto sealed = box->Seal("mySecret");
    EXPECT_EQ(sealed.find("mySecret"), std::string::npos);
    EXPECT_NE(sealed, box->Seal("mySecret"));  // random nonce
    EXPECT_EQ(*box->Open(sealed), "mySecret");
    EXPECT_FALSE(other->Open(sealed));
    EXPECT_FALSE(crypto::SecretBox::Create("short"));
}

TEST(Crypto, Encodings) {
    EXPECT_EQ(crypto::HexEncode("\x01\xff"), "01ff");
    EXPECT_EQ(*crypto::HexDecode("01FF"), "\x01\xff");
    EXPECT_EQ(crypto::Base64Encode("mySecret"), "bXlTZWNyZXQ=");
    EXPECT_EQ(*crypto::Base64Decode("bXlTZWNyZXQ="), "mySecret");
    EXPECT_EQ(crypto::Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Health, LatencyBucketsAreInclusiveUpperBounds) {
    EXPECT_EQ(health::LatencyBucket(0), 0u);
    EXPECT_EQ(health::LatencyBucket(5), 0u);
    EXPECT_EQ(health::LatencyBucket(6), 1u);
    EXPECT_EQ(health::LatencyBucket(100), 6u);
    EXPECT_EQ(health::LatencyBucket(20'000), 14u);
    EXPECT_EQ(health::LatencyBucket(20'001), 15u);
    EXPECT_EQ(health::LatencyBucket(600'000), 15u);
    EXPECT_EQ(health::kLatencyBuckets, 16u);
}

TEST(Health, PercentilesInterpolateInsideTheirBucket) {
    health::LatencyHistogram h{};
    EXPECT_FALSE(health::Percentile(h, 0.5));
    // 100 answers: 90 in (50, 75] ms, 10 in (1000, 2500] ms.
    h[health::LatencyBucket(60)] = 90;
    h[health::LatencyBucket(2000)] = 10;
    EXPECT_EQ(*health::Percentile(h, 0.5), 64);  // the 50th of 90 in (50, 75]: 50 + 25 × 50/90
    EXPECT_EQ(*health::Percentile(h, 0.9), 75);                 // the last one of that bucket
    EXPECT_EQ(*health::Percentile(h, 0.95), 1000 + 1500 * 5 / 10);
    EXPECT_EQ(*health::Percentile(h, 1.0), 2500);
    health::LatencyHistogram slow{};
    slow[15] = 1;  // above 20 s: the estimate stays below the longest timeout
    EXPECT_EQ(*health::Percentile(slow, 0.5), 60'000);
}

TEST(Health, CountsRecordKindsAndOnlyAnsweredLatencies) {
    health::Counts c;
    EXPECT_FALSE(c.SuccessRatio());
    c.Record(health::KindOf(DeliveryState::kSucceeded), 12, true);
    c.Record(health::KindOf(DeliveryState::kPending), 30, true);
    c.Record(health::KindOf(DeliveryState::kFailed), 0, false);  // e.g. connection refused
    c.Record(health::KindOf(DeliveryState::kSucceeded), 40, true);
    EXPECT_EQ(c.succeeded, 2);
    EXPECT_EQ(c.retried, 1);
    EXPECT_EQ(c.failed, 1);
    EXPECT_EQ(c.attempts(), 4);
    EXPECT_DOUBLE_EQ(*c.SuccessRatio(), 0.5);
    std::int64_t answered = 0;
    for (auto n : c.latency) answered += n;
    EXPECT_EQ(answered, 3);
    Attempt a;
    EXPECT_FALSE(health::Answered(a));
    a.error = AttemptError::kTimeout;
    EXPECT_TRUE(health::Answered(a));
    a.error = AttemptError::kConnect;
    EXPECT_FALSE(health::Answered(a));
    a.status = 503;
    EXPECT_TRUE(health::Answered(a));
}

TEST(Health, WindowsEndWithTheCurrentIntervalAndAlignToIt) {
    const TimeMs now = 1'700'000'000'000 + 1234;  // 2023-11-14T22:13:21.234Z
    EXPECT_EQ(health::HourOf(now) % health::kHourMs, 0);
    EXPECT_LE(health::HourOf(now), now);
    EXPECT_GT(health::HourOf(now) + health::kHourMs, now);
    EXPECT_EQ(health::kDay.Start(now), health::HourOf(now) - 23 * health::kHourMs);
    EXPECT_EQ(health::kWeek.Start(now) % (6 * health::kHourMs), 0);
    EXPECT_GT(health::kWeek.Start(now) + 28 * 6 * health::kHourMs, now);

    std::vector<health::Hour> hours;
    auto at = [&](TimeMs hour, std::int64_t ok) {
        health::Hour h{hour, {}};
        h.counts.succeeded = ok;
        hours.push_back(h);
    };
    const TimeMs current = health::HourOf(now);
    at(current, 1);                              // the last interval
    at(current - 23 * health::kHourMs, 2);       // the first one of the day
    at(current - 24 * health::kHourMs, 4);       // outside the day, inside the week
    at(current - 200 * health::kHourMs, 8);      // outside both
    auto day = health::Bucket(hours, health::kDay, now);
    ASSERT_EQ(day.size(), 24u);
    EXPECT_EQ(day.back().succeeded, 1);
    EXPECT_EQ(day.front().succeeded, 2);
    std::int64_t sum = 0;
    for (const auto& c : day) sum += c.succeeded;
    EXPECT_EQ(sum, 3);
    auto week = health::Bucket(hours, health::kWeek, now);
    ASSERT_EQ(week.size(), 28u);
    sum = 0;
    for (const auto& c : week) sum += c.succeeded;
    EXPECT_EQ(sum, 7);
    EXPECT_GE(week.back().succeeded, 1);  // the current hour is in the last interval
}

}  // namespace
}  // namespace hookd
