#pragma once
// Strong, prefixed, time-ordered ids: "wh_01JD…", "evt_01JD…", "dlv_01JD…", "tok_01JD…", "aud_01JD…".
// The body is a ULID (48-bit milliseconds + 80 random bits, Crockford base32), so ids
// sort by creation time and serve as pagination cursors.
#include <compare>
#include <string>
#include <string_view>

namespace hookd {

template <typename Tag>
class StrongId {
public:
    StrongId() = default;
    explicit StrongId(std::string value) : value_(std::move(value)) {}
    [[nodiscard]] const std::string& str() const { return value_; }
    [[nodiscard]] bool empty() const { return value_.empty(); }
    auto operator<=>(const StrongId&) const = default;

private:
    std::string value_;
};

struct WebhookTag;
struct EventTag;
struct DeliveryTag;
struct TokenTag;
using WebhookId = StrongId<WebhookTag>;
using EventId = StrongId<EventTag>;
using DeliveryId = StrongId<DeliveryTag>;
using TokenId = StrongId<TokenTag>;
using SiteId = std::string;  // an operator-chosen slug

inline constexpr std::string_view kWebhookPrefix = "wh_";
inline constexpr std::string_view kEventPrefix = "evt_";
inline constexpr std::string_view kDeliveryPrefix = "dlv_";
inline constexpr std::string_view kTokenPrefix = "tok_";
inline constexpr std::string_view kAuditPrefix = "aud_";  //!< audit log entries (plain strings, no StrongId)

//! A new ULID-bodied id with the given prefix; monotonic within the process. Thread-safe.
[[nodiscard]] std::string NewId(std::string_view prefix);

template <typename Id>
[[nodiscard]] Id NewTypedId(std::string_view prefix) {
    return Id(NewId(prefix));
}

//! True when `s` is `prefix` followed by 26 Crockford base32 characters.
[[nodiscard]] bool IsWellFormedId(std::string_view s, std::string_view prefix);

//! Site slug: [a-z0-9][a-z0-9-]{0,62}
[[nodiscard]] bool IsValidSiteId(std::string_view s);

}  // namespace hookd
