#pragma once
// Helpers shared by the libFuzzer targets.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace hookd::fuzz {

//! Reports a broken property with the offending values and aborts (libFuzzer saves the input).
[[noreturn]] inline void Fail(std::string_view what, std::string_view detail = {}) {
    std::fprintf(stderr, "PROPERTY FAILED: %.*s\n  %.*s\n", static_cast<int>(what.size()), what.data(),
                 static_cast<int>(detail.size()), detail.data());
    std::abort();
}

inline void Check(bool ok, std::string_view what, std::string_view detail = {}) {
    if (!ok) Fail(what, detail);
}

//! Splits the input at '\n' into exactly `n` fields (missing ones are empty; the last
//! field takes the rest of the input, newlines included).
inline std::vector<std::string> Fields(const std::uint8_t* data, std::size_t size, std::size_t n) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> out;
    out.reserve(n);
    while (out.size() + 1 < n) {
        const std::size_t nl = in.find('\n');
        if (nl == std::string_view::npos) break;
        out.emplace_back(in.substr(0, nl));
        in.remove_prefix(nl + 1);
    }
    out.emplace_back(in);
    out.resize(n);
    return out;
}

}  // namespace hookd::fuzz
