#include "store/common/hours.hpp"

namespace hookd::store::common {

HourDeltas CountHours(std::span<const Outcome* const> applied) {
    HourDeltas out;
    for (const Outcome* o : applied) {
        const Attempt& a = o->attempt;
        out[{o->webhook_id.str(), health::HourOf(a.started_at)}].Record(health::KindOf(o->state), a.duration_ms,
                                                                          health::Answered(a));
    }
    return out;
}

std::vector<std::string> HourColumns() {
    std::vector<std::string> out{"succeeded", "retried", "failed"};
    for (std::size_t i = 0; i < health::kLatencyBuckets; ++i) out.push_back("l" + std::to_string(i));
    return out;
}

std::string HourColumnList() {
    std::string out;
    for (const auto& c : HourColumns()) out += (out.empty() ? "" : ", ") + c;
    return out;
}

}  // namespace hookd::store::common
