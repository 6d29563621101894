#pragma once
// The entity catalogue: the data points a webhook can select.
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.hpp"

namespace hookd {

struct CatalogueEntry {
    std::string name;
    std::string description;
};

class Catalogue final {
public:
    //! Parses `{"entities":[{"name","description"},...]}`. Names must be unique
    //! (case-insensitively) and match [A-Za-z][A-Za-z0-9_]{0,63}.
    static Result<Catalogue> Parse(std::string_view json);

    //! The catalogue spelling of `name`, matched case-insensitively; empty when unknown.
    [[nodiscard]] std::string_view Canonical(std::string_view name) const;
    [[nodiscard]] const std::vector<CatalogueEntry>& entries() const { return entries_; }

private:
    std::vector<CatalogueEntry> entries_;
    std::unordered_map<std::string, std::size_t> by_lower_name_;
};

}  // namespace hookd
