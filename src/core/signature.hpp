#pragma once
// The two signatures every delivery carries (SPEC.md §2). Pure functions.
#include <span>
#include <string>
#include <string_view>

namespace hookd::signature {

//! "EVENT:Entity:id" — what the legacy header signs.
[[nodiscard]] std::string LegacyMessage(std::string_view event, std::string_view entity, std::string_view id);
//! x-ioffice-signature: lower-case hex HMAC-SHA256(secret, "EVENT:Entity:id").
[[nodiscard]] std::string Legacy(std::string_view secret, std::string_view event, std::string_view entity,
                                 std::string_view id);
//! Standard Webhooks: "v1," + base64 HMAC-SHA256(secret, "{msg_id}.{timestamp}.{payload}").
[[nodiscard]] std::string Standard(std::string_view secret, std::string_view msg_id, std::int64_t timestamp,
                                   std::string_view payload);
//! The webhook-signature header value: one "v1,…" per secret, space-separated.
[[nodiscard]] std::string StandardHeader(std::span<const std::string_view> secrets, std::string_view msg_id,
                                         std::int64_t timestamp, std::string_view payload);
//! Constant-time check of a legacy hex signature (case-insensitive hex).
[[nodiscard]] bool VerifyLegacy(std::string_view secret, std::string_view event, std::string_view entity,
                                std::string_view id, std::string_view signature_hex);
//! True when any space-separated "v1,…" entry of `header` matches.
[[nodiscard]] bool VerifyStandard(std::string_view secret, std::string_view msg_id, std::int64_t timestamp,
                                  std::string_view payload, std::string_view header);
//! The Standard Webhooks form of a raw secret: "whsec_" + base64(secret).
[[nodiscard]] std::string StandardSecret(std::string_view secret);

}  // namespace hookd::signature
