#include "core/trace_context.hpp"

#include "core/crypto.hpp"

namespace hookd::trace {
namespace {

constexpr std::size_t kLength = 55;  // 2 + 1 + 32 + 1 + 16 + 1 + 2

bool IsLowerHex(std::string_view s) {
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

bool AllZeros(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

int HexValue(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

std::string RandomNonZeroHex(std::size_t bytes) {
    for (;;) {
        std::string hex = crypto::HexEncode(crypto::RandomBytes(bytes));
        if (!AllZeros(hex)) return hex;
    }
}

}  // namespace

std::optional<TraceParent> Parse(std::string_view h) {
    if (h.size() < kLength) return std::nullopt;
    const std::string_view version = h.substr(0, 2);
    if (!IsLowerHex(version) || version == "ff") return std::nullopt;
    if (version == "00") {
        if (h.size() != kLength) return std::nullopt;
    } else if (h.size() > kLength && h[kLength] != '-') {
        return std::nullopt;
    }
    if (h[2] != '-' || h[35] != '-' || h[52] != '-') return std::nullopt;
    const std::string_view trace_id = h.substr(3, 32);
    const std::string_view parent_id = h.substr(36, 16);
    const std::string_view flags = h.substr(53, 2);
    if (!IsLowerHex(trace_id) || !IsLowerHex(parent_id) || !IsLowerHex(flags)) return std::nullopt;
    if (AllZeros(trace_id) || AllZeros(parent_id)) return std::nullopt;
    TraceParent tp;
    tp.trace_id = std::string(trace_id);
    tp.parent_id = std::string(parent_id);
    tp.flags = static_cast<std::uint8_t>(HexValue(flags[0]) * 16 + HexValue(flags[1]));
    return tp;
}

std::string Format(const TraceParent& tp) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(kLength);
    out.append("00-").append(tp.trace_id).push_back('-');
    out.append(tp.parent_id).push_back('-');
    out.push_back(kHex[tp.flags >> 4]);
    out.push_back(kHex[tp.flags & 15]);
    return out;
}

TraceParent WithParent(TraceParent tp, std::string parent_id) {
    tp.parent_id = std::move(parent_id);
    return tp;
}

std::string NewSpanId() { return RandomNonZeroHex(8); }

TraceParent NewTrace() {
    TraceParent tp;
    tp.trace_id = RandomNonZeroHex(16);
    tp.parent_id = NewSpanId();
    tp.flags = 0x01;
    return tp;
}

std::optional<std::string> ForAttempt(const std::optional<std::string>& stored, std::string_view span_id) {
    if (!stored) return std::nullopt;
    auto tp = Parse(*stored);
    if (!tp) return std::nullopt;
    return Format(WithParent(std::move(*tp), std::string(span_id)));
}

std::optional<std::string> CheckTraceState(std::string_view h) {
    if (h.empty() || h.size() > 512) return std::nullopt;
    for (char c : h) {
        if (c < 0x20 || c > 0x7e) return std::nullopt;
    }
    bool any = false;
    std::size_t pos = 0;
    while (pos <= h.size()) {
        std::size_t end = h.find(',', pos);
        if (end == std::string_view::npos) end = h.size();
        std::string_view member = h.substr(pos, end - pos);
        while (!member.empty() && member.front() == ' ') member.remove_prefix(1);
        while (!member.empty() && member.back() == ' ') member.remove_suffix(1);
        if (!member.empty()) {
            const auto eq = member.find('=');
            if (eq == std::string_view::npos || eq == 0 || eq + 1 == member.size()) return std::nullopt;
            any = true;
        }
        pos = end + 1;
    }
    if (!any) return std::nullopt;
    return std::string(h);
}

}  // namespace hookd::trace
