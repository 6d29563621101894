#include "core/domain.hpp"

#include <algorithm>
#include <cctype>

namespace hookd {
namespace {

bool IEquals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

}  // namespace

std::string_view ToString(EventType t) {
    switch (t) {
        case EventType::kCreate: return "CREATE";
        case EventType::kUpdate: return "UPDATE";
        case EventType::kDelete: return "DELETE";
        case EventType::kArchive: return "ARCHIVE";
    }
    return "CREATE";
}

std::optional<EventType> ParseEventType(std::string_view s) {
    for (EventType t : kAllEventTypes) {
        if (IEquals(s, ToString(t))) return t;
    }
    return std::nullopt;
}

std::string_view ToString(HttpMethod m) { return m == HttpMethod::kGet ? "GET" : "POST"; }

std::optional<HttpMethod> ParseMethod(std::string_view s) {
    if (IEquals(s, "GET")) return HttpMethod::kGet;
    if (IEquals(s, "POST")) return HttpMethod::kPost;
    return std::nullopt;
}

std::string_view ToString(Ordering o) { return o == Ordering::kEntity ? "entity" : "none"; }

std::optional<Ordering> ParseOrdering(std::string_view s) {
    if (s == "none") return Ordering::kNone;
    if (s == "entity") return Ordering::kEntity;
    return std::nullopt;
}

bool IsValidEntityIdString(std::string_view s) {
    if (s.empty() || s.size() > 128) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '~' || c == '-';
    });
}

bool Webhook::Matches(EventType type, std::string_view entity) const {
    if ((events & Bit(type)) == 0) return false;
    if (send_everything) return true;
    return std::find(entities.begin(), entities.end(), entity) != entities.end();
}

std::vector<std::string_view> Webhook::SigningSecrets(TimeMs now) const {
    std::vector<std::string_view> out{secret};
    if (old_secret && now < old_secret_until) out.emplace_back(*old_secret);
    return out;
}

std::string_view ToString(DeliveryState s) {
    switch (s) {
        case DeliveryState::kPending: return "pending";
        case DeliveryState::kSucceeded: return "succeeded";
        case DeliveryState::kFailed: return "failed";
        case DeliveryState::kCancelled: return "cancelled";
    }
    return "pending";
}

std::optional<DeliveryState> ParseDeliveryState(std::string_view s) {
    for (auto st : {DeliveryState::kPending, DeliveryState::kSucceeded, DeliveryState::kFailed,
                    DeliveryState::kCancelled}) {
        if (s == ToString(st)) return st;
    }
    return std::nullopt;
}

std::string_view ToString(AttemptError e) {
    switch (e) {
        case AttemptError::kNone: return "";
        case AttemptError::kTimeout: return "timeout";
        case AttemptError::kConnect: return "connect";
        case AttemptError::kDns: return "dns";
        case AttemptError::kTls: return "tls";
        case AttemptError::kBlocked: return "blocked";
        case AttemptError::kTooLarge: return "too_large";
        case AttemptError::kHttp: return "http";
        case AttemptError::kOther: return "other";
    }
    return "other";
}

}  // namespace hookd
