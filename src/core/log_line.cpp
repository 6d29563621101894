#include "core/log_line.hpp"

#include <array>
#include <cstdio>
#include <optional>

#include "core/ids.hpp"

namespace hookd {

namespace {

void AppendEscaped(std::string& out, std::string_view s) {
    out += '"';
    for (const char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
                    out += buf;
                } else {
                    out += c;
                }
        }
    }
    out += '"';
}

bool IsWordChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// The first well-formed id with `prefix` standing as a word of its own in `msg`.
std::optional<std::string_view> FindId(std::string_view msg, std::string_view prefix) {
    constexpr std::size_t kBody = 26;  // a ULID
    for (std::size_t pos = msg.find(prefix); pos != std::string_view::npos; pos = msg.find(prefix, pos + 1)) {
        if (pos > 0 && IsWordChar(msg[pos - 1])) continue;
        const std::size_t end = pos + prefix.size() + kBody;
        if (end > msg.size() || (end < msg.size() && IsWordChar(msg[end]))) continue;
        const std::string_view id = msg.substr(pos, end - pos);
        if (IsWellFormedId(id, prefix)) return id;
    }
    return std::nullopt;
}

// The slug after `marker` (e.g. "site " or "/sites/"), when it is a valid site id.
std::optional<std::string_view> FindSite(std::string_view msg, std::string_view marker) {
    for (std::size_t pos = msg.find(marker); pos != std::string_view::npos; pos = msg.find(marker, pos + 1)) {
        if (marker.front() != '/' && pos > 0 && IsWordChar(msg[pos - 1])) continue;
        const std::size_t begin = pos + marker.size();
        std::size_t end = begin;
        while (end < msg.size() &&
               ((msg[end] >= 'a' && msg[end] <= 'z') || (msg[end] >= '0' && msg[end] <= '9') || msg[end] == '-')) {
            ++end;
        }
        if (end < msg.size() && IsWordChar(msg[end])) continue;
        const std::string_view slug = msg.substr(begin, end - begin);
        if (IsValidSiteId(slug)) return slug;
    }
    return std::nullopt;
}

}  // namespace

std::string JsonLogLine(TimeMs time, std::string_view level, std::string_view message, std::uint64_t thread_id) {
    std::string out;
    out.reserve(message.size() + 160);
    out += "{\"time\":\"";
    out += FormatTime(time);
    out += "\",\"level\":";
    AppendEscaped(out, level);
    out += ",\"message\":";
    AppendEscaped(out, message);
    auto site = FindSite(message, "/sites/");
    if (!site) site = FindSite(message, "site ");
    if (site) {
        out += ",\"site\":";
        AppendEscaped(out, *site);
    }
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 4> kIds = {{
        {"webhook", kWebhookPrefix},
        {"delivery", kDeliveryPrefix},
        {"event", kEventPrefix},
        {"token", kTokenPrefix},
    }};
    for (const auto& [field, prefix] : kIds) {
        if (auto id = FindId(message, prefix)) {
            out += ",\"";
            out += field;
            out += "\":";
            AppendEscaped(out, *id);
        }
    }
    out += ",\"thread\":";
    out += std::to_string(thread_id);
    out += '}';
    return out;
}

}  // namespace hookd
