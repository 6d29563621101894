#include "store/common/rows.hpp"

namespace hookd::store::common {

std::string JoinList(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& s : items) {
        if (!out.empty()) out.push_back(',');
        out += s;
    }
    return out;
}

std::vector<std::string> SplitList(std::string_view s) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < s.size()) {
        std::size_t end = s.find(',', pos);
        if (end == std::string_view::npos) end = s.size();
        out.emplace_back(s.substr(pos, end - pos));
        pos = end + 1;
    }
    return out;
}

}  // namespace hookd::store::common
