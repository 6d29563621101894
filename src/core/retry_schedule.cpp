#include "core/retry_schedule.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

namespace hookd {

RandomSource DefaultRandomSource() {
    return [] {
        thread_local std::mt19937_64 rng{std::random_device{}()};
        return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    };
}

RetrySchedule RetrySchedule::Default() {
    return RetrySchedule({0, 5'000, 30'000, 120'000, 600'000, 1'800'000, 3'600'000, 10'800'000, 21'600'000,
                          43'200'000, 86'400'000});
}

Result<RetrySchedule> RetrySchedule::Parse(std::string_view text) {
    std::vector<DurationMs> delays;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        std::size_t end = text.find(',', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view part = text.substr(pos, end - pos);
        while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
        while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
        auto d = ParseDuration(part);
        if (!d) return Fail(Error::Invalid("bad duration '" + std::string(part) + "' (use e.g. 0s,5s,2m,1h)"));
        delays.push_back(*d);
        pos = end + 1;
    }
    if (delays.empty() || delays.size() > 100) return Fail(Error::Invalid("retry schedule needs 1 to 100 entries"));
    return RetrySchedule(std::move(delays));
}

std::optional<DurationMs> RetrySchedule::NextDelay(int attempts_done, const RandomSource& random,
                                                   std::optional<DurationMs> retry_after) const {
    if (attempts_done < 0 || static_cast<std::size_t>(attempts_done) >= delays_.size()) return std::nullopt;
    const DurationMs base = delays_[static_cast<std::size_t>(attempts_done)];
    const double factor = 1.0 + jitter_ * (2.0 * random() - 1.0);
    DurationMs delay = static_cast<DurationMs>(std::llround(static_cast<double>(base) * factor));
    if (retry_after) delay = std::max(delay, std::min(*retry_after, kMaxRetryAfter));
    return std::max<DurationMs>(delay, 0);
}

}  // namespace hookd
