#include "core/health.hpp"

#include <algorithm>
#include <cmath>

namespace hookd::health {

std::size_t LatencyBucket(std::int64_t duration_ms) {
    const auto it = std::lower_bound(kLatencyBoundsMs.begin(), kLatencyBoundsMs.end(), duration_ms);
    return static_cast<std::size_t>(it - kLatencyBoundsMs.begin());
}

std::optional<std::int64_t> Percentile(const LatencyHistogram& h, double q) {
    std::int64_t n = 0;
    for (auto c : h) n += c;
    if (n == 0) return std::nullopt;
    const auto rank = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(q * static_cast<double>(n))));
    std::int64_t below = 0;
    for (std::size_t i = 0; i < h.size(); ++i) {
        if (h[i] == 0 || below + h[i] < rank) {
            below += h[i];
            continue;
        }
        const double lo = i == 0 ? 0.0 : static_cast<double>(kLatencyBoundsMs[i - 1]);
        const double hi = static_cast<double>(i < kLatencyBoundsMs.size() ? kLatencyBoundsMs[i] : kLatencyCeilingMs);
        const double at = lo + (hi - lo) * static_cast<double>(rank - below) / static_cast<double>(h[i]);
        return static_cast<std::int64_t>(std::llround(at));
    }
    return static_cast<std::int64_t>(kLatencyCeilingMs);  // unreachable: rank ≤ n
}

void Counts::Add(const Counts& other) {
    succeeded += other.succeeded;
    retried += other.retried;
    failed += other.failed;
    for (std::size_t i = 0; i < latency.size(); ++i) latency[i] += other.latency[i];
}

void Counts::Record(AttemptKind kind, std::int64_t duration_ms, bool answered) {
    switch (kind) {
        case AttemptKind::kSucceeded: ++succeeded; break;
        case AttemptKind::kRetried: ++retried; break;
        case AttemptKind::kFailed: ++failed; break;
    }
    if (answered) ++latency[LatencyBucket(duration_ms)];
}

std::optional<double> Counts::SuccessRatio() const {
    const auto n = attempts();
    if (n == 0) return std::nullopt;
    return static_cast<double>(succeeded) / static_cast<double>(n);
}

AttemptKind KindOf(DeliveryState state_after) {
    switch (state_after) {
        case DeliveryState::kSucceeded: return AttemptKind::kSucceeded;
        case DeliveryState::kPending: return AttemptKind::kRetried;
        default: return AttemptKind::kFailed;
    }
}

bool Answered(const Attempt& a) { return a.status.has_value() || a.error == AttemptError::kTimeout; }

TimeMs Window::Start(TimeMs now) const {
    const TimeMs current = now - ((now % interval_ms) + interval_ms) % interval_ms;
    return current - static_cast<TimeMs>(intervals - 1) * interval_ms;
}

std::vector<Counts> Bucket(std::span<const Hour> hours, const Window& window, TimeMs now) {
    std::vector<Counts> out(static_cast<std::size_t>(window.intervals));
    const TimeMs start = window.Start(now);
    for (const Hour& h : hours) {
        if (h.start < start) continue;
        const auto i = static_cast<std::size_t>((h.start - start) / window.interval_ms);
        if (i < out.size()) out[i].Add(h.counts);
    }
    return out;
}

}  // namespace hookd::health
