#pragma once
// Asynchronous outbound HTTP over libcurl's multi interface: many transfers on one
// thread, connections reused per host, the SSRF guard applied to the address actually
// connected to. Not thread-safe except Wakeup(): the owning thread drives it.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/address_guard.hpp"
#include "core/domain.hpp"
#include "core/wire.hpp"

namespace hookd::delivery {

struct HttpClientOptions {
    AddressPolicy policy;       //!< which addresses may be connected to
    std::string ca_file;        //!< CA bundle for TLS verification; empty = system bundle
    std::size_t snippet_bytes = 1024;  //!< response bytes kept (the rest is not read)
};

struct HttpResult {
    std::uint64_t tag = 0;
    std::optional<int> status;
    AttemptError error = AttemptError::kNone;
    std::string snippet;                    //!< valid UTF-8, at most snippet_bytes
    std::optional<DurationMs> retry_after;  //!< from a Retry-After header
    std::int64_t duration_ms = 0;
    std::string error_detail;               //!< libcurl's message when `error` is not kNone/kHttp
};

class HttpClient final {
public:
    explicit HttpClient(HttpClientOptions options);
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    //! Starts a transfer; its result comes out of Poll() with the same tag.
    void Start(wire::Request&& request, int timeout_ms, std::uint64_t tag);
    //! Drives transfers for up to `timeout_ms` (returns early on progress or Wakeup())
    //! and appends finished transfers to `done`.
    void Poll(int timeout_ms, std::vector<HttpResult>& done);
    //! Interrupts a Poll() from another thread.
    void Wakeup();
    [[nodiscard]] std::size_t in_flight() const;

    //! Valid UTF-8 from arbitrary bytes (invalid sequences become U+FFFD), cut at `max` bytes.
    static std::string SanitizeSnippet(std::string_view bytes, std::size_t max);

private:
    void Collect(std::vector<HttpResult>& done);
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace hookd::delivery
