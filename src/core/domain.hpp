#pragma once
// The value types of hookd's domain: event types, entity ids, webhooks, change
// events, deliveries and attempts. Plain data; validation lives in validation.hpp.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ids.hpp"
#include "core/time.hpp"

namespace hookd {

// The numeric values of these enums are stored in the database (both stores) and written
// into SQL; they are part of the on-disk format: never renumber, only append.

enum class EventType : std::uint8_t { kCreate = 0, kUpdate = 1, kDelete = 2, kArchive = 3 };
inline constexpr std::array<EventType, 4> kAllEventTypes = {EventType::kCreate, EventType::kUpdate,
                                                            EventType::kDelete, EventType::kArchive};
[[nodiscard]] std::string_view ToString(EventType t);
//! Case-insensitive: "create", "Create" and "CREATE" all parse.
[[nodiscard]] std::optional<EventType> ParseEventType(std::string_view s);

//! A set of event types as a bit mask (bit i = EventType value i).
using EventMask = std::uint8_t;
[[nodiscard]] constexpr EventMask Bit(EventType t) { return static_cast<EventMask>(1u << static_cast<unsigned>(t)); }

enum class HttpMethod : std::uint8_t { kGet = 0, kPost = 1 };
[[nodiscard]] std::string_view ToString(HttpMethod m);
[[nodiscard]] std::optional<HttpMethod> ParseMethod(std::string_view s);

enum class Ordering : std::uint8_t { kNone = 0, kEntity = 1 };
[[nodiscard]] std::string_view ToString(Ordering o);
[[nodiscard]] std::optional<Ordering> ParseOrdering(std::string_view s);

//! An entity id: a non-negative 64-bit integer (JSON number) or a string of
//! [A-Za-z0-9._~-]{1,128} (JSON string). `text` is the decimal or the string.
struct EntityId {
    std::string text;
    bool is_number = false;
    bool operator==(const EntityId&) const = default;
};
//! True when `s` matches [A-Za-z0-9._~-]{1,128}.
[[nodiscard]] bool IsValidEntityIdString(std::string_view s);

struct Webhook {
    WebhookId id;
    SiteId site;
    std::string payload_url;
    std::string secret;                     //!< plaintext in memory; sealed in the store
    std::optional<std::string> old_secret;  //!< still signs until old_secret_until (rotation)
    TimeMs old_secret_until = 0;
    EventMask events = 0;
    HttpMethod method = HttpMethod::kPost;
    bool send_everything = false;
    std::vector<std::string> entities;  //!< catalogue spelling; empty when send_everything
    std::string description;
    bool enabled = true;
    Ordering ordering = Ordering::kNone;
    std::int32_t timeout_ms = 15000;   //!< per attempt
    std::int32_t max_in_flight = 8;    //!< concurrent requests to this webhook
    std::optional<std::int32_t> rate_limit_per_second;
    std::optional<std::string> disabled_reason;
    std::optional<TimeMs> disabled_at;
    TimeMs created_at = 0;
    TimeMs updated_at = 0;
    //! Incremented by every change of the stored webhook; an update applies only to the
    //! version it was made from (see Store::UpdateWebhook).
    std::int64_t version = 0;

    //! Whether a change event of this type and entity is owed to this webhook.
    [[nodiscard]] bool Matches(EventType type, std::string_view entity) const;
    //! Secrets that sign right now: the current one, then the old one during its grace period.
    [[nodiscard]] std::vector<std::string_view> SigningSecrets(TimeMs now) const;
};

struct ChangeEvent {
    EventId id;
    SiteId site;
    EventType type = EventType::kCreate;
    std::string entity;
    EntityId entity_id;
    TimeMs created_at = 0;
    //! W3C trace context of the request that submitted it (core/trace_context.hpp), as
    //! stored: `traceparent` in version 00 form; nullopt for events from before it existed.
    std::optional<std::string> traceparent;
    std::optional<std::string> tracestate;
};

//! Stored as 0..3; the SQL of both stores names them by these values (`state = 0` is pending).
enum class DeliveryState : std::uint8_t { kPending = 0, kSucceeded = 1, kFailed = 2, kCancelled = 3 };
[[nodiscard]] std::string_view ToString(DeliveryState s);
[[nodiscard]] std::optional<DeliveryState> ParseDeliveryState(std::string_view s);

//! Why an attempt failed without (or despite) an HTTP status.
enum class AttemptError : std::uint8_t {
    kNone = 0, kTimeout = 1, kConnect = 2, kDns = 3, kTls = 4, kBlocked = 5, kTooLarge = 6, kHttp = 7, kOther = 8
};
[[nodiscard]] std::string_view ToString(AttemptError e);

struct Attempt {
    int number = 0;
    TimeMs started_at = 0;
    std::int64_t duration_ms = 0;
    std::optional<int> status;  //!< HTTP status when a response arrived
    AttemptError error = AttemptError::kNone;
    std::string response_snippet;  //!< first 1 KiB of the body, valid UTF-8
};

struct Delivery {
    DeliveryId id;
    SiteId site;
    WebhookId webhook_id;
    EventId event_id;
    EventType type = EventType::kCreate;
    std::string entity;
    EntityId entity_id;
    DeliveryState state = DeliveryState::kPending;
    int attempt_count = 0;
    std::optional<TimeMs> next_attempt_at;
    TimeMs created_at = 0;
    TimeMs updated_at = 0;
    std::optional<int> last_status;
    AttemptError last_error = AttemptError::kNone;
    bool test = false;
    //! Its event's trace context (ChangeEvent::traceparent, tracestate); each attempt sends
    //! the trace-id with a parent-id of its own (wire::TraceFor).
    std::optional<std::string> traceparent;
    std::optional<std::string> tracestate;
    std::vector<Attempt> attempts;  //!< filled only when asked for
};

}  // namespace hookd
