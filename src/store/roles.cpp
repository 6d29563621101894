#include "store/store.hpp"

namespace hookd::store {

std::string_view ToString(Role r) {
    switch (r) {
        case Role::kOperator: return "operator";
        case Role::kAdmin: return "admin";
        case Role::kPublisher: return "publisher";
    }
    return "admin";
}

std::optional<Role> ParseRole(std::string_view s) {
    if (s == "operator") return Role::kOperator;
    if (s == "admin") return Role::kAdmin;
    if (s == "publisher") return Role::kPublisher;
    return std::nullopt;
}

}  // namespace hookd::store
