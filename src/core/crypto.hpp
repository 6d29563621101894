#pragma once
// Small wrappers over OpenSSL: randomness, encodings, hashing, HMAC and the
// AES-256-GCM box that keeps webhook secrets encrypted at rest.
#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace hookd::crypto {

//! `n` cryptographically random bytes.
[[nodiscard]] std::string RandomBytes(std::size_t n);
[[nodiscard]] std::string HexEncode(std::string_view bytes);
[[nodiscard]] std::optional<std::string> HexDecode(std::string_view hex);
[[nodiscard]] std::string Base64Encode(std::string_view bytes);
[[nodiscard]] std::optional<std::string> Base64Decode(std::string_view b64);
//! RFC 4648 §5 alphabet, no padding.
[[nodiscard]] std::string Base64UrlEncode(std::string_view bytes);
//! SHA-256 as lower-case hex.
[[nodiscard]] std::string Sha256Hex(std::string_view data);
//! Raw 32-byte HMAC-SHA256.
[[nodiscard]] std::string HmacSha256(std::string_view key, std::string_view message);
//! Constant-time equality (length is not secret).
[[nodiscard]] bool ConstantTimeEquals(std::string_view a, std::string_view b);

//! AES-256-GCM with a random 96-bit nonce per message. Thread-safe (immutable).
class SecretBox final {
public:
    static constexpr std::size_t kKeySize = 32;
    //! `key` must be exactly 32 bytes.
    static Result<SecretBox> Create(std::string_view key);

    //! base64(nonce ‖ ciphertext ‖ tag), prefixed "v1:".
    [[nodiscard]] std::string Seal(std::string_view plaintext) const;
    //! Errors when the data was not sealed with this key or was tampered with.
    [[nodiscard]] Result<std::string> Open(std::string_view sealed) const;

private:
    explicit SecretBox(std::string key) : key_(std::move(key)) {}
    std::string key_;
};

}  // namespace hookd::crypto
