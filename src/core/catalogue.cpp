#include "core/catalogue.hpp"

#include <algorithm>
#include <cctype>

#include <boost/json.hpp>

namespace hookd {
namespace {

std::string Lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

bool IsValidName(std::string_view s) {
    if (s.empty() || s.size() > 64 || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

}  // namespace

Result<Catalogue> Catalogue::Parse(std::string_view json) {
    boost::system::error_code ec;
    auto doc = boost::json::parse(json, ec);
    if (ec || !doc.is_object()) return Fail(Error::Invalid("catalogue is not a JSON object"));
    const auto* list = doc.as_object().if_contains("entities");
    if (!list || !list->is_array() || list->as_array().empty()) {
        return Fail(Error::Invalid("catalogue needs a non-empty \"entities\" array"));
    }
    Catalogue cat;
    for (const auto& item : list->as_array()) {
        const auto* obj = item.if_object();
        const auto* name = obj ? obj->if_contains("name") : nullptr;
        if (!name || !name->is_string() || !IsValidName(name->as_string())) {
            return Fail(Error::Invalid("catalogue entry " + std::to_string(cat.entries_.size()) + " has a bad name"));
        }
        std::string desc;
        if (const auto* d = obj->if_contains("description"); d && d->is_string()) desc = d->as_string().c_str();
        std::string n(name->as_string());
        if (!cat.by_lower_name_.emplace(Lower(n), cat.entries_.size()).second) {
            return Fail(Error::Invalid("catalogue has a duplicate entity: " + n));
        }
        cat.entries_.push_back({std::move(n), std::move(desc)});
    }
    return cat;
}

std::string_view Catalogue::Canonical(std::string_view name) const {
    auto it = by_lower_name_.find(Lower(name));
    if (it == by_lower_name_.end()) return {};
    return entries_[it->second].name;
}

}  // namespace hookd
