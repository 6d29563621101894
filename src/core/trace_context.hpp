#pragma once
// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` header that
// links a publisher's trace to the receiver's. An ingest request's header (or a new trace)
// is stored with each event; every delivery attempt sends the event's trace-id with a
// parent-id of its own (one span per attempt), the flags copied. Pure except for the
// random ids of NewTrace and ForAttempt.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hookd::trace {

//! One parsed `traceparent`: ids as lower-case hex.
struct TraceParent {
    std::string trace_id;    //!< 32 hex characters, not all zeros
    std::string parent_id;   //!< 16 hex characters, not all zeros
    std::uint8_t flags = 0;  //!< bit 0: sampled; other bits copied as they came

    auto operator<=>(const TraceParent&) const = default;
};

//! Parses a `traceparent` header value. Version 00: exactly 55 characters
//! "00-<trace-id>-<parent-id>-<flags>", lower-case hex only, neither id all zeros. Version
//! ff is invalid. A higher version (01..fe) is read as 00 when its first 55 characters
//! are, and anything after them starts with '-' (the spec's forward compatibility).
//! nullopt for anything else: the caller ignores the header and starts a new trace.
[[nodiscard]] std::optional<TraceParent> Parse(std::string_view header);

//! "00-<trace-id>-<parent-id>-<flags>" (always version 00, as this implementation speaks it).
[[nodiscard]] std::string Format(const TraceParent& tp);

//! The same trace with `parent_id` as the new parent (a child span's context).
[[nodiscard]] TraceParent WithParent(TraceParent tp, std::string parent_id);

//! A new random 16-hex-character span id, never all zeros. Thread-safe.
[[nodiscard]] std::string NewSpanId();

//! A new trace: random trace-id and parent-id, flags 01 (sampled: hookd records the trace
//! id with the event, so a receiver that samples by its parent keeps the other half).
//! Thread-safe.
[[nodiscard]] TraceParent NewTrace();

//! The header for one delivery attempt of an event stored with `stored` (a traceparent as
//! Format wrote it): the same trace-id and flags, `span_id` as parent-id. nullopt when
//! `stored` is absent (events from before trace context) or does not parse.
[[nodiscard]] std::optional<std::string> ForAttempt(const std::optional<std::string>& stored, std::string_view span_id);

//! `tracestate` (vendors' trace data, kept and passed on unchanged): at most 512 characters
//! of printable ASCII (0x20..0x7e), a comma-separated list whose non-empty members each
//! hold a '='. nullopt otherwise; the caller keeps it only beside a valid traceparent.
[[nodiscard]] std::optional<std::string> CheckTraceState(std::string_view header);

}  // namespace hookd::trace
