#include "core/ids.hpp"

#include <chrono>
#include <cstdint>
#include <mutex>

#include <openssl/rand.h>

namespace hookd {
namespace {

constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

struct UlidState {
    std::mutex mu;
    std::uint64_t last_ms = 0;
    std::uint8_t rand[10] = {};
};

UlidState& State() {
    static UlidState state;
    return state;
}

}  // namespace

std::string NewId(std::string_view prefix) {
    using namespace std::chrono;
    std::uint64_t ms =
        static_cast<std::uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
    std::uint8_t bytes[16];
    {
        UlidState& st = State();
        std::lock_guard lock(st.mu);
        if (ms <= st.last_ms) {
            // Same (or earlier) millisecond: increment the random part to stay monotonic.
            ms = st.last_ms;
            for (int i = 9; i >= 0; --i) {
                if (++st.rand[i] != 0) break;
            }
        } else {
            st.last_ms = ms;
            RAND_bytes(st.rand, sizeof st.rand);
            st.rand[0] &= 0x7f;  // leave room for increments
        }
        for (int i = 0; i < 6; ++i) bytes[i] = static_cast<std::uint8_t>(ms >> (8 * (5 - i)));
        for (int i = 0; i < 10; ++i) bytes[6 + i] = st.rand[i];
    }
    // 128 bits → 26 base32 chars, most significant first (the first char carries 3 bits).
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;
    for (int i = 0; i < 8; ++i) hi = (hi << 8) | bytes[i];
    for (int i = 8; i < 16; ++i) lo = (lo << 8) | bytes[i];
    char text[26];
    for (int i = 25; i >= 0; --i) {
        text[i] = kAlphabet[lo & 31];
        lo = (lo >> 5) | (hi << 59);
        hi >>= 5;
    }
    std::string out;
    out.reserve(prefix.size() + 26);
    out.append(prefix).append(text, 26);
    return out;
}

bool IsWellFormedId(std::string_view s, std::string_view prefix) {
    if (s.size() != prefix.size() + 26 || s.substr(0, prefix.size()) != prefix) return false;
    for (char c : s.substr(prefix.size())) {
        const bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U');
        if (!ok) return false;
    }
    return true;
}

bool IsValidSiteId(std::string_view s) {
    if (s.empty() || s.size() > 63) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !(i > 0 && c == '-')) return false;
    }
    return true;
}

}  // namespace hookd
