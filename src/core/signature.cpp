#include "core/signature.hpp"

#include <algorithm>
#include <cctype>
#include <string>

#include "core/crypto.hpp"

namespace hookd::signature {

std::string LegacyMessage(std::string_view event, std::string_view entity, std::string_view id) {
    std::string msg;
    msg.reserve(event.size() + entity.size() + id.size() + 2);
    msg.append(event).append(":").append(entity).append(":").append(id);
    return msg;
}

std::string Legacy(std::string_view secret, std::string_view event, std::string_view entity, std::string_view id) {
    return crypto::HexEncode(crypto::HmacSha256(secret, LegacyMessage(event, entity, id)));
}

std::string Standard(std::string_view secret, std::string_view msg_id, std::int64_t timestamp,
                     std::string_view payload) {
    std::string content;
    content.reserve(msg_id.size() + payload.size() + 24);
    content.append(msg_id).append(".").append(std::to_string(timestamp)).append(".").append(payload);
    return "v1," + crypto::Base64Encode(crypto::HmacSha256(secret, content));
}

std::string StandardHeader(std::span<const std::string_view> secrets, std::string_view msg_id, std::int64_t timestamp,
                           std::string_view payload) {
    std::string out;
    for (auto s : secrets) {
        if (!out.empty()) out.push_back(' ');
        out += Standard(s, msg_id, timestamp, payload);
    }
    return out;
}

bool VerifyLegacy(std::string_view secret, std::string_view event, std::string_view entity, std::string_view id,
                  std::string_view signature_hex) {
    std::string given(signature_hex);
    std::transform(given.begin(), given.end(), given.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return crypto::ConstantTimeEquals(Legacy(secret, event, entity, id), given);
}

bool VerifyStandard(std::string_view secret, std::string_view msg_id, std::int64_t timestamp, std::string_view payload,
                    std::string_view header) {
    const std::string expected = Standard(secret, msg_id, timestamp, payload);
    bool ok = false;
    std::size_t pos = 0;
    while (pos <= header.size()) {
        std::size_t end = header.find(' ', pos);
        if (end == std::string_view::npos) end = header.size();
        const auto part = header.substr(pos, end - pos);
        if (!part.empty()) ok |= crypto::ConstantTimeEquals(part, expected);
        pos = end + 1;
    }
    return ok;
}

std::string StandardSecret(std::string_view secret) { return "whsec_" + crypto::Base64Encode(secret); }

}  // namespace hookd::signature
