#pragma once
// What change capture reports about itself (GET /v1/capture and /metrics), as plain data.
// It lives in core so that the API can show it without depending on the capture module:
// serve.cpp hands the API a CaptureStatusSource.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace hookd {

struct CaptureStatus {
    std::string state = "off";  //!< "streaming", "connecting", "error" or "off"
    std::optional<std::string> slot;
    std::optional<std::string> publication;
    std::optional<std::string> confirmed_lsn;  //!< "X/X": the position confirmed to the source
    std::int64_t lag_bytes = 0;                //!< the source's current WAL position minus confirmed_lsn
    std::int64_t lag_ms = 0;    //!< now minus the commit time of the last accepted transaction; 0 when caught up
    std::uint64_t changes = 0;  //!< row changes accepted as events since start
    std::uint64_t skipped_unknown_site = 0;
    std::uint64_t skipped_unmapped_table = 0;
    std::uint64_t skipped_bad_row = 0;  //!< rows of a mapped table without a usable id or site
    std::uint64_t errors = 0;           //!< failed connections, checks and commits since start
    std::optional<std::string> error;   //!< the last error, while it lasts

    [[nodiscard]] std::uint64_t skipped() const {
        return skipped_unknown_site + skipped_unmapped_table + skipped_bad_row;
    }
};

//! Returns the current status; thread-safe. Empty = capture not configured ("off").
using CaptureStatusSource = std::function<CaptureStatus()>;

//! The hookd_capture_* series in Prometheus text format.
[[nodiscard]] std::string RenderCaptureMetrics(const CaptureStatus& status);

}  // namespace hookd
