#pragma once
// What the receiver gets (SPEC.md §2): URL, body and headers of one attempt. Pure.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/domain.hpp"
#include "core/result.hpp"

namespace hookd::wire {

struct Request {
    HttpMethod method = HttpMethod::kPost;
    std::string url;
    std::string body;  //!< empty for GET
    std::vector<std::pair<std::string, std::string>> headers;
};

//! "/CREATE/Agreement/25" with each segment percent-encoded.
[[nodiscard]] std::string PathSuffix(EventType type, std::string_view entity, const EntityId& id);
//! {"event":"CREATE","entity":"Agreement","entityId":25} (a string id is quoted).
[[nodiscard]] std::string PostBody(EventType type, std::string_view entity, const EntityId& id);
//! Joins the payload URL's path and `suffix` with exactly one '/', keeping the query
//! at the end and dropping any fragment. Errors when `payload_url` does not parse.
[[nodiscard]] Result<std::string> JoinGetUrl(std::string_view payload_url, std::string_view suffix);
//! Checks a payload URL: absolute http/https with a host, no user-info, ≤ 2048 chars.
//! Returns the message for the field error, or nullopt when fine.
[[nodiscard]] std::optional<std::string> CheckPayloadUrl(std::string_view url);
//! The host part of a valid payload URL (without brackets for IPv6).
[[nodiscard]] std::string HostOf(std::string_view url);

inline constexpr std::string_view kUserAgent = "hookd/" HOOKD_VERSION;

//! The W3C trace context headers of one attempt; an empty value is not sent.
struct TraceHeaders {
    std::string traceparent;
    std::string tracestate;
};

//! One attempt of `d`: its event's trace-id and flags with `span_id` (16 hex characters) as
//! parent-id, and its tracestate; nothing when the event was stored without trace context.
[[nodiscard]] TraceHeaders TraceFor(const Delivery& d, std::string_view span_id);
//! The same with a new random span id (trace::NewSpanId): what each attempt sends.
[[nodiscard]] TraceHeaders TraceFor(const Delivery& d);

//! The whole request for one attempt of delivery `delivery_id` at unix time `now_s`,
//! signed with every secret in `secrets` (the first also signs the legacy header), with
//! `trace`'s headers after the others (they are not signed).
[[nodiscard]] Result<Request> Build(HttpMethod method, std::string_view payload_url, std::string_view delivery_id,
                                    EventType type, std::string_view entity, const EntityId& id,
                                    const std::vector<std::string_view>& secrets, std::int64_t now_s,
                                    const TraceHeaders& trace = {});

}  // namespace hookd::wire
