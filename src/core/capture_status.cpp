#include "core/capture_status.hpp"

namespace hookd {

std::string RenderCaptureMetrics(const CaptureStatus& s) {
    std::string out;
    auto series = [&out](const char* name, const char* type, const char* help) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    };
    series("hookd_capture_configured", "gauge", "Whether this node was started with change capture (--capture).");
    out += "hookd_capture_configured " + std::string(s.state == "off" ? "0" : "1") + "\n";
    series("hookd_capture_streaming", "gauge", "Whether this node streams the change capture slot (1) or not (0).");
    out += "hookd_capture_streaming " + std::string(s.state == "streaming" ? "1" : "0") + "\n";
    series("hookd_capture_lag_bytes", "gauge",
           "WAL bytes between the source's current position and the confirmed one.");
    out += "hookd_capture_lag_bytes " + std::to_string(s.lag_bytes) + "\n";
    series("hookd_capture_lag_seconds", "gauge",
           "Age of the last accepted source transaction while behind; 0 when caught up.");
    out += "hookd_capture_lag_seconds " + std::to_string(static_cast<double>(s.lag_ms) / 1000.0) + "\n";
    series("hookd_capture_changes_total", "counter", "Source row changes accepted as events.");
    out += "hookd_capture_changes_total " + std::to_string(s.changes) + "\n";
    series("hookd_capture_skipped_total", "counter", "Source row changes skipped, by reason.");
    out += "hookd_capture_skipped_total{reason=\"unknown_site\"} " + std::to_string(s.skipped_unknown_site) + "\n";
    out += "hookd_capture_skipped_total{reason=\"unmapped_table\"} " + std::to_string(s.skipped_unmapped_table) + "\n";
    out += "hookd_capture_skipped_total{reason=\"bad_row\"} " + std::to_string(s.skipped_bad_row) + "\n";
    series("hookd_capture_errors_total", "counter", "Change capture errors (connections, checks, commits).");
    out += "hookd_capture_errors_total " + std::to_string(s.errors) + "\n";
    return out;
}

}  // namespace hookd
