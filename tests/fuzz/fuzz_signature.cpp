// libFuzzer target: signature verification (core/signature.hpp), time and duration
// parsing (core/time.hpp), the encoders and the secret box (core/crypto.hpp).
//
// Input: nine fields separated by '\n' —
//   secret, event, entity, entity id, legacy signature (hex),
//   webhook-id, webhook-timestamp, payload, webhook-signature header (takes the rest).
// Every field is also fed to ParseTime, ParseDuration, Base64Decode, HexDecode and
// SecretBox::Open.
//
// Properties checked, beyond "no crash, leak or undefined behaviour":
//  - what Legacy / StandardHeader produce verifies (also upper-case hex, also with a
//    second secret in the header), and a one-character change does not;
//  - the fuzzed signature verifies only if it equals the real one;
//  - SecretBox never opens fuzzed data, and opens what it sealed;
//  - Hex and Base64 round-trip; ParseTime / ParseDuration round-trip through Format*.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <span>

#include "core/crypto.hpp"
#include "core/signature.hpp"
#include "core/time.hpp"
#include "fuzz_common.hpp"

namespace {

using namespace hookd;
using fuzz::Check;

const crypto::SecretBox& Box() {
    static const crypto::SecretBox box = *crypto::SecretBox::Create(std::string(32, 'k'));
    return box;
}

std::string Lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

void CheckField(const std::string& s) {
    if (auto t = ParseTime(s)) {
        // Years 0000..9999 format back to a time ParseTime reads the same (FormatTime is UTC).
        if (*t >= -62'167'219'200'000 && *t < 253'402'300'800'000) {
            const std::string again = FormatTime(*t);
            Check(ParseTime(again) == t, "ParseTime(FormatTime(t)) == t", s + " -> " + again);
        }
    }
    if (auto d = ParseDuration(s)) {
        Check(*d >= 0, "durations are not negative", s);
        // Up to 100 years: beyond that FormatDuration may need more than the 12 digits
        // ParseDuration reads (e.g. 78187216568d -> 1876493197632h), which no setting needs.
        if (*d <= 100LL * 365 * 86'400'000) {
            const std::string again = FormatDuration(*d);
            Check(ParseDuration(again) == d, "ParseDuration(FormatDuration(d)) == d", s + " -> " + again);
        }
    }
    if (auto raw = crypto::HexDecode(s)) {
        Check(crypto::HexEncode(*raw) == Lower(s), "HexEncode(HexDecode(x)) == lower(x)", s);
    }
    (void)crypto::Base64Decode(s);
    auto back = crypto::Base64Decode(crypto::Base64Encode(s));
    Check(back && *back == s, "Base64Decode(Base64Encode(x)) == x", s);
    Check(crypto::Base64UrlEncode(s).find_first_of("+/=") == std::string::npos, "Base64UrlEncode alphabet", s);

    Check(!Box().Open(s), "SecretBox opens only what it sealed", s);
    auto opened = Box().Open(Box().Seal(s));
    Check(opened && *opened == s, "SecretBox::Open(Seal(x)) == x", s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 16384) return -1;
    const auto f = fuzz::Fields(data, size, 9);
    const std::string &secret = f[0], &event = f[1], &entity = f[2], &id = f[3], &legacy_sig = f[4];
    const std::string &msg_id = f[5], &ts_text = f[6], &payload = f[7], &header = f[8];
    std::int64_t ts = 0;
    std::from_chars(ts_text.data(), ts_text.data() + ts_text.size(), ts);

    // Legacy header.
    const std::string legacy = signature::Legacy(secret, event, entity, id);
    Check(legacy.size() == 64, "legacy signature is 64 hex characters", legacy);
    Check(signature::VerifyLegacy(secret, event, entity, id, legacy), "legacy signature verifies", legacy);
    std::string upper = legacy;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    Check(signature::VerifyLegacy(secret, event, entity, id, upper), "upper-case legacy signature verifies", upper);
    std::string flipped = legacy;
    flipped[0] = flipped[0] == '0' ? '1' : '0';
    Check(!signature::VerifyLegacy(secret, event, entity, id, flipped), "altered legacy signature fails", flipped);
    Check(signature::VerifyLegacy(secret, event, entity, id, legacy_sig) == (Lower(legacy_sig) == legacy),
          "fuzzed legacy signature verifies only if it is the real one", legacy_sig);

    // Standard Webhooks header, with the fuzzed secret and a second one (rotation).
    const std::string other = secret + "-old";
    const std::string_view secrets[] = {secret, other};
    const std::string std_header = signature::StandardHeader(std::span(secrets), msg_id, ts, payload);
    Check(signature::VerifyStandard(secret, msg_id, ts, payload, std_header), "standard header verifies (new)",
          std_header);
    Check(signature::VerifyStandard(other, msg_id, ts, payload, std_header), "standard header verifies (old)",
          std_header);
    const std::int64_t other_ts = ts == INT64_MAX ? ts - 1 : ts + 1;
    Check(!signature::VerifyStandard(secret, msg_id, other_ts, payload, std_header),
          "another timestamp does not verify", std_header);
    const std::string mine = signature::Standard(secret, msg_id, ts, payload);
    bool listed = false;
    for (std::size_t pos = 0; pos <= header.size();) {
        std::size_t end = header.find(' ', pos);
        if (end == std::string::npos) end = header.size();
        listed |= header.substr(pos, end - pos) == mine;
        pos = end + 1;
    }
    Check(signature::VerifyStandard(secret, msg_id, ts, payload, header) == listed,
          "fuzzed header verifies only if it lists the real signature", header);
    (void)signature::StandardSecret(secret);

    for (const auto& field : f) CheckField(field);
    return 0;
}
