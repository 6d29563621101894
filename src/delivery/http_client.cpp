#include "delivery/http_client.hpp"

#include <curl/curl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

#include "core/text.hpp"
#include "core/time.hpp"

namespace hookd::delivery {
namespace {

std::int64_t SteadyMs() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

struct Transfer {
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    std::string body;
    std::string response;
    std::optional<DurationMs> retry_after;
    bool blocked = false;
    bool truncated = false;
    std::size_t snippet_bytes = 1024;
    const AddressPolicy* policy = nullptr;
    std::uint64_t tag = 0;
    std::int64_t started = 0;
    char error_buffer[CURL_ERROR_SIZE] = {};  // libcurl's words for a failed transfer
};

std::size_t OnWrite(char* data, std::size_t size, std::size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const std::size_t len = size * n;
    const std::size_t room = t->snippet_bytes + 4 > t->response.size() ? t->snippet_bytes + 4 - t->response.size() : 0;
    t->response.append(data, std::min(len, room));
    if (len > room) {
        // We keep only the snippet: stop reading here rather than download the rest.
        t->truncated = true;
        return 0;
    }
    return len;
}

std::size_t OnHeader(char* data, std::size_t size, std::size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const std::string_view line(data, size * n);
    constexpr std::string_view kName = "retry-after:";
    if (line.size() > kName.size() && strncasecmp(line.data(), kName.data(), kName.size()) == 0) {
        std::string_view v = line.substr(kName.size());
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        std::int64_t secs = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), secs);
        if (ec == std::errc() && secs >= 0) {
            t->retry_after = std::min<std::int64_t>(secs, 86'400) * 1000;
        } else {
            // An HTTP date.
            const std::string date(v.substr(0, v.find_first_of("\r\n")));
            const time_t when = curl_getdate(date.c_str(), nullptr);
            if (when > 0) t->retry_after = std::max<std::int64_t>(0, (when - time(nullptr)) * 1000);
        }
    }
    return size * n;
}

curl_socket_t OnOpenSocket(void* user, curlsocktype purpose, curl_sockaddr* addr) {
    auto* t = static_cast<Transfer*>(user);
    if (purpose == CURLSOCKTYPE_IPCXN) {
        auto ip = FromSockaddr(&addr->addr);
        if (!ip || !t->policy->Allows(*ip)) {
            t->blocked = true;
            return CURL_SOCKET_BAD;
        }
    }
    return socket(addr->family, addr->socktype, addr->protocol);
}

AttemptError MapCurlError(CURLcode rc) {
    switch (rc) {
        case CURLE_OPERATION_TIMEDOUT: return AttemptError::kTimeout;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY: return AttemptError::kDns;
        case CURLE_COULDNT_CONNECT: return AttemptError::kConnect;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS: return AttemptError::kTls;
        case CURLE_FILESIZE_EXCEEDED: return AttemptError::kTooLarge;
        default: return AttemptError::kOther;
    }
}

}  // namespace

// libcurl's socket interface over epoll: only sockets with something to do are serviced,
// instead of curl_multi_perform walking every transfer on every turn of the loop.
struct HttpClient::Impl {
    HttpClientOptions options;
    CURLM* multi = nullptr;
    int epoll_fd = -1;
    int wake_fd = -1;                 // eventfd: Wakeup() from other threads
    std::int64_t timer_at = -1;       // when libcurl wants CURL_SOCKET_TIMEOUT (steady ms), -1 = never
    std::vector<CURL*> idle;  // easy handles kept for reuse
    std::unordered_map<CURL*, std::unique_ptr<Transfer>> active;

    static int OnSocket(CURL*, curl_socket_t s, int what, void* user, void*) {
        auto* self = static_cast<Impl*>(user);
        if (what == CURL_POLL_REMOVE) {
            epoll_ctl(self->epoll_fd, EPOLL_CTL_DEL, s, nullptr);
            return 0;
        }
        epoll_event ev{};
        ev.data.fd = s;
        if (what & CURL_POLL_IN) ev.events |= EPOLLIN;
        if (what & CURL_POLL_OUT) ev.events |= EPOLLOUT;
        if (epoll_ctl(self->epoll_fd, EPOLL_CTL_MOD, s, &ev) != 0 && errno == ENOENT) {
            epoll_ctl(self->epoll_fd, EPOLL_CTL_ADD, s, &ev);
        }
        return 0;
    }

    static int OnTimer(CURLM*, long timeout_ms, void* user) {
        auto* self = static_cast<Impl*>(user);
        self->timer_at = timeout_ms < 0 ? -1 : SteadyMs() + timeout_ms;
        return 0;
    }

    void Act(curl_socket_t s, int flags) {
        int running = 0;
        curl_multi_socket_action(multi, s, flags, &running);
    }

    void ActOnTimer() {
        if (timer_at >= 0 && SteadyMs() >= timer_at) {
            timer_at = -1;
            Act(CURL_SOCKET_TIMEOUT, 0);
        }
    }

    // Options that never change: set once per easy handle.
    void Configure(CURL* easy) const {
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(easy, CURLOPT_PATH_AS_IS, 1L);  // an entity id ".." must not become a dot segment
        // Never through a proxy from the environment: the SSRF guard must see the receiver's address.
        curl_easy_setopt(easy, CURLOPT_PROXY, "");
        curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, OnWrite);
        curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, OnHeader);
        curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, OnOpenSocket);
        curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
        // A CA directory stops libcurl caching the store (PLATFORM.md): use the file only.
        curl_easy_setopt(easy, CURLOPT_CAPATH, nullptr);
        curl_easy_setopt(easy, CURLOPT_CAINFO, options.ca_file.c_str());
    }
};

HttpClient::HttpClient(HttpClientOptions options) : impl_(std::make_unique<Impl>()) {
    static const bool kInit = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
    (void)kInit;
    impl_->options = std::move(options);
    if (impl_->options.ca_file.empty()) impl_->options.ca_file = "/etc/ssl/certs/ca-certificates.crt";
    impl_->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    impl_->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (impl_->epoll_fd < 0 || impl_->wake_fd < 0) throw std::runtime_error("cannot create epoll/eventfd");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = impl_->wake_fd;
    epoll_ctl(impl_->epoll_fd, EPOLL_CTL_ADD, impl_->wake_fd, &ev);
    impl_->multi = curl_multi_init();
    curl_multi_setopt(impl_->multi, CURLMOPT_MAXCONNECTS, 1024L);
    curl_multi_setopt(impl_->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    curl_multi_setopt(impl_->multi, CURLMOPT_SOCKETFUNCTION, &Impl::OnSocket);
    curl_multi_setopt(impl_->multi, CURLMOPT_SOCKETDATA, impl_.get());
    curl_multi_setopt(impl_->multi, CURLMOPT_TIMERFUNCTION, &Impl::OnTimer);
    curl_multi_setopt(impl_->multi, CURLMOPT_TIMERDATA, impl_.get());
}

HttpClient::~HttpClient() {
    for (auto& [easy, t] : impl_->active) {
        curl_multi_remove_handle(impl_->multi, easy);
        curl_slist_free_all(t->headers);
        curl_easy_cleanup(easy);
    }
    for (CURL* e : impl_->idle) curl_easy_cleanup(e);
    curl_multi_cleanup(impl_->multi);
    close(impl_->wake_fd);
    close(impl_->epoll_fd);
}

std::size_t HttpClient::in_flight() const { return impl_->active.size(); }

void HttpClient::Start(wire::Request&& request, int timeout_ms, std::uint64_t tag) {
    CURL* easy;
    if (!impl_->idle.empty()) {
        easy = impl_->idle.back();
        impl_->idle.pop_back();
    } else {
        easy = curl_easy_init();
        impl_->Configure(easy);
    }
    auto t = std::make_unique<Transfer>();
    t->easy = easy;
    t->tag = tag;
    t->policy = &impl_->options.policy;
    t->snippet_bytes = impl_->options.snippet_bytes;
    t->started = SteadyMs();
    std::string line;
    for (const auto& [name, value] : request.headers) {
        line.assign(name).append(": ").append(value);
        t->headers = curl_slist_append(t->headers, line.c_str());
    }
    t->headers = curl_slist_append(t->headers, "Expect:");
    curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min(timeout_ms, 10000)));
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, t.get());
    curl_easy_setopt(easy, CURLOPT_PRIVATE, t.get());
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->error_buffer);
    if (request.method == HttpMethod::kPost) {
        t->body = std::move(request.body);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, t->body.c_str());
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(t->body.size()));
        curl_easy_setopt(easy, CURLOPT_POST, 1L);
    } else {
        curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    }
    curl_multi_add_handle(impl_->multi, easy);
    impl_->active.emplace(easy, std::move(t));
}

void HttpClient::Poll(int timeout_ms, std::vector<HttpResult>& done) {
    const std::size_t before = done.size();
    impl_->ActOnTimer();  // e.g. start the transfers just added
    Collect(done);
    // Transfers that already finished leave nothing to wait for: don't sleep then.
    std::int64_t wait = done.size() > before ? 0 : timeout_ms;
    if (impl_->timer_at >= 0) wait = std::min<std::int64_t>(wait, std::max<std::int64_t>(0, impl_->timer_at - SteadyMs()));
    std::array<epoll_event, 256> events;
    const int n = epoll_wait(impl_->epoll_fd, events.data(), static_cast<int>(events.size()), static_cast<int>(wait));
    for (int i = 0; i < n; ++i) {
        const int fd = events[static_cast<std::size_t>(i)].data.fd;
        const std::uint32_t ev = events[static_cast<std::size_t>(i)].events;
        if (fd == impl_->wake_fd) {
            std::uint64_t count = 0;
            (void)!read(impl_->wake_fd, &count, sizeof count);
            continue;
        }
        int flags = 0;
        if (ev & EPOLLIN) flags |= CURL_CSELECT_IN;
        if (ev & EPOLLOUT) flags |= CURL_CSELECT_OUT;
        if (ev & (EPOLLERR | EPOLLHUP)) flags |= CURL_CSELECT_ERR;
        impl_->Act(fd, flags);
    }
    impl_->ActOnTimer();
    Collect(done);
}

void HttpClient::Collect(std::vector<HttpResult>& done) {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(impl_->multi, &left)) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL* easy = msg->easy_handle;
        auto it = impl_->active.find(easy);
        if (it == impl_->active.end()) continue;
        Transfer& t = *it->second;
        HttpResult r;
        r.tag = t.tag;
        r.duration_ms = SteadyMs() - t.started;
        long code = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
        const CURLcode rc = msg->data.result;
        if (code > 0 && (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && t.truncated))) {
            r.status = static_cast<int>(code);
            if (code < 200 || code > 299) r.error = AttemptError::kHttp;
        } else if (t.blocked) {
            r.error = AttemptError::kBlocked;
        } else {
            r.error = MapCurlError(rc);
            if (code > 0) r.status = static_cast<int>(code);
            r.error_detail = t.error_buffer[0] ? std::string(t.error_buffer) : std::string(curl_easy_strerror(rc));
        }
        r.snippet = SanitizeSnippet(t.response, t.snippet_bytes);
        r.retry_after = t.retry_after;
        curl_multi_remove_handle(impl_->multi, easy);
        curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, nullptr);  // the buffer goes with the transfer
        curl_slist_free_all(t.headers);
        impl_->active.erase(it);
        impl_->idle.push_back(easy);
        done.push_back(std::move(r));
    }
}

void HttpClient::Wakeup() {
    const std::uint64_t one = 1;
    (void)!write(impl_->wake_fd, &one, sizeof one);
}

std::string HttpClient::SanitizeSnippet(std::string_view in, std::size_t max) { return ValidUtf8(in, max); }

}  // namespace hookd::delivery
