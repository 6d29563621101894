// hookd-sink: a fast loopback HTTP/1.1 receiver for the benchmarks.
//
// One thread, epoll (level-triggered), non-blocking sockets, keep-alive. Every request
// is answered `200 OK` with a tiny body, except:
//   - paths starting with one of the --hang-prefix values are never answered (the
//     client times out and closes the connection);
//   - while "hang all" is on (POST /_sink/hang?all=1), every request is held; turning it
//     off (POST /_sink/hang?all=0) answers the held ones (outside the hang prefixes) at once.
// For each answered request it records the arrival time (CLOCK_REALTIME, ns) and the
// entityId of the delivery (from the JSON body of a POST, or the last path segment of a
// GET), so that the harness can compute latencies.
//
// Control endpoints (same port, paths under /_sink/):
//   GET  /_sink/stats            counters as JSON
//   POST /_sink/reset            clears counters and records
//   POST /_sink/hang?all=0|1     holds every request / releases the held ones
//   POST /_sink/dump?path=FILE   writes "entityId arrivalNs" lines to FILE
//
// Usage: hookd-sink [--host 127.0.0.1] [--port 0] [--ports N] [--hang-prefix /hang]... [--max-records N]
// Prints "listening on 127.0.0.1:PORT" (with " also P2,P3,..." for --ports N > 1) on stdout
// once ready. Stops on SIGTERM/SIGINT.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

std::int64_t NowNs() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

bool IEquals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const char x = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] + 32) : a[i];
        const char y = (b[i] >= 'A' && b[i] <= 'Z') ? static_cast<char>(b[i] + 32) : b[i];
        if (x != y) return false;
    }
    return true;
}

std::string_view Trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

// The value of `name` in a query string "a=1&b=2" (no decoding: the harness sends plain values).
std::string QueryParam(std::string_view query, std::string_view name) {
    std::size_t pos = 0;
    while (pos <= query.size()) {
        std::size_t end = query.find('&', pos);
        if (end == std::string_view::npos) end = query.size();
        const std::string_view part = query.substr(pos, end - pos);
        const std::size_t eq = part.find('=');
        if (eq != std::string_view::npos && part.substr(0, eq) == name) return std::string(part.substr(eq + 1));
        pos = end + 1;
    }
    return {};
}

// -1 when there is no non-negative integer entity id.
std::int64_t EntityIdOf(std::string_view method, std::string_view path, std::string_view body) {
    std::string_view digits;
    if (method == "POST") {
        constexpr std::string_view kKey = "\"entityId\":";
        const std::size_t p = body.find(kKey);
        if (p == std::string_view::npos) return -1;
        digits = body.substr(p + kKey.size());
        while (!digits.empty() && (digits.front() == ' ' || digits.front() == '"')) digits.remove_prefix(1);
    } else {
        const std::size_t slash = path.rfind('/');
        if (slash == std::string_view::npos) return -1;
        digits = path.substr(slash + 1);
    }
    std::int64_t v = -1;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    (void)ptr;
    return ec == std::errc() ? v : -1;
}

struct Record {
    std::int64_t entity_id;
    std::int64_t arrival_ns;
};

struct Conn {
    int fd = -1;
    std::string in;
    std::size_t in_off = 0;  // bytes of `in` already consumed
    std::string out;
    std::size_t out_off = 0;
    bool want_out = false;   // EPOLLOUT registered
    bool held = false;       // waiting for a hang to be released
    bool held_forever = false;  // a hang prefix: never answered
    bool close_after = false;
    std::int64_t held_entity = -1;
    std::int64_t held_arrival = 0;
};

class Sink {
public:
    Sink(std::vector<std::string> hang_prefixes, std::size_t max_records)
        : hang_prefixes_(std::move(hang_prefixes)), max_records_(max_records) {}

    //! Adds a listening socket; returns its port, or -1.
    int Listen(const std::string& host, int port) {
        const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) return -1;
        listen_fds_.push_back(fd);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<std::uint16_t>(port));
        if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) return -1;
        if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -1;
        if (listen(fd, 4096) != 0) return -1;
        socklen_t len = sizeof addr;
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
        if (ep_ < 0) ep_ = epoll_create1(EPOLL_CLOEXEC);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
        return ntohs(addr.sin_port);
    }

    void Run() {
        std::vector<epoll_event> events(512);
        while (!g_stop) {
            const int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 200);
            if (n < 0) {
                if (errno == EINTR) continue;
                std::perror("epoll_wait");
                return;
            }
            for (int i = 0; i < n; ++i) {
                const int fd = events[static_cast<std::size_t>(i)].data.fd;
                const std::uint32_t what = events[static_cast<std::size_t>(i)].events;
                if (std::find(listen_fds_.begin(), listen_fds_.end(), fd) != listen_fds_.end()) {
                    Accept(fd);
                    continue;
                }
                auto it = conns_.find(fd);
                if (it == conns_.end()) continue;
                Conn& c = *it->second;
                bool alive = true;
                if (what & (EPOLLIN | EPOLLERR | EPOLLHUP)) alive = OnReadable(c);
                if (alive && (what & EPOLLOUT)) alive = Flush(c);
                if (!alive) Close(fd);
            }
        }
    }

private:
    void Accept(int listener) {
        while (true) {
            const int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) return;  // EAGAIN or a transient error: epoll tells us again
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            auto c = std::make_unique<Conn>();
            c->fd = fd;
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.fd = fd;
            epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
            conns_.emplace(fd, std::move(c));
            ++accepted_;
        }
    }

    void Close(int fd) {
        auto it = conns_.find(fd);
        if (it == conns_.end()) return;
        if (it->second->held) {
            --held_now_;
            ++dropped_;
        }
        epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
        close(fd);
        conns_.erase(it);
    }

    // Returns false when the connection is to be closed.
    bool OnReadable(Conn& c) {
        char buf[65536];
        while (true) {
            const ssize_t n = read(c.fd, buf, sizeof buf);
            if (n > 0) {
                c.in.append(buf, static_cast<std::size_t>(n));
                bytes_in_ += static_cast<std::uint64_t>(n);
                if (static_cast<std::size_t>(n) < sizeof buf) break;
                continue;
            }
            if (n == 0) return false;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            return false;
        }
        return Process(c);
    }

    // Parses and answers every complete request in the buffer (stops at a held one).
    bool Process(Conn& c) {
        while (!c.held) {
            const std::string_view data = std::string_view(c.in).substr(c.in_off);
            const std::size_t head_end = data.find("\r\n\r\n");
            if (head_end == std::string_view::npos) {
                if (data.size() > (1u << 20)) return false;  // absurd header size
                break;
            }
            const std::string_view head = data.substr(0, head_end);
            const std::size_t line_end = head.find("\r\n");
            const std::string_view line = head.substr(0, line_end);
            const std::size_t sp1 = line.find(' ');
            const std::size_t sp2 = line.rfind(' ');
            if (sp1 == std::string_view::npos || sp2 <= sp1) return false;
            const std::string_view method = line.substr(0, sp1);
            const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
            std::size_t content_length = 0;
            bool close_conn = false;
            std::size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
            while (pos < head.size()) {
                std::size_t e = head.find("\r\n", pos);
                if (e == std::string_view::npos) e = head.size();
                const std::string_view h = head.substr(pos, e - pos);
                const std::size_t colon = h.find(':');
                if (colon != std::string_view::npos) {
                    const std::string_view name = h.substr(0, colon);
                    const std::string_view value = Trim(h.substr(colon + 1));
                    if (IEquals(name, "content-length")) {
                        std::from_chars(value.data(), value.data() + value.size(), content_length);
                    } else if (IEquals(name, "connection") && IEquals(value, "close")) {
                        close_conn = true;
                    } else if (IEquals(name, "transfer-encoding")) {
                        return false;  // not used by libcurl for our requests
                    }
                }
                pos = e + 2;
            }
            const std::size_t total = head_end + 4 + content_length;
            if (data.size() < total) break;  // wait for the body
            const std::string_view body = data.substr(head_end + 4, content_length);
            const std::size_t q = target.find('?');
            const std::string_view path = target.substr(0, q);
            const std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
            c.close_after = close_conn;
            if (path.substr(0, 7) == "/_sink/") {
                Control(c, method, path, query);
            } else {
                const std::int64_t arrival = NowNs();
                const std::int64_t entity = EntityIdOf(method, path, body);
                bool forever = false;
                for (const auto& p : hang_prefixes_) forever |= path.substr(0, p.size()) == p;
                if (forever || hang_all_) {
                    c.held = true;
                    c.held_forever = forever;
                    c.held_entity = entity;
                    c.held_arrival = arrival;
                    ++held_now_;
                    ++held_total_;
                } else {
                    Answer(c, entity, arrival);
                }
            }
            c.in_off += total;
            if (c.close_after) break;
        }
        if (c.in_off == c.in.size()) {
            c.in.clear();
            c.in_off = 0;
        } else if (c.in_off > 65536) {
            c.in.erase(0, c.in_off);
            c.in_off = 0;
        }
        return Flush(c);
    }

    void Answer(Conn& c, std::int64_t entity, std::int64_t arrival) {
        static constexpr std::string_view kOk =
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
        static constexpr std::string_view kOkClose =
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        c.out.append(c.close_after ? kOkClose : kOk);
        ++answered_;
        if (first_ns_ == 0) first_ns_ = arrival;
        last_ns_ = std::max(last_ns_, arrival);
        if (records_.size() < max_records_) records_.push_back(Record{entity, arrival});
    }

    void Reply(Conn& c, int status, const std::string& body) {
        std::string r = "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Error") +
                        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                        (c.close_after ? "\r\nConnection: close" : "") + "\r\n\r\n" + body;
        c.out += r;
    }

    void Control(Conn& c, std::string_view method, std::string_view path, std::string_view query) {
        if (path == "/_sink/stats") {
            std::string b = "{\"answered\":" + std::to_string(answered_) + ",\"heldNow\":" + std::to_string(held_now_) +
                            ",\"heldTotal\":" + std::to_string(held_total_) + ",\"dropped\":" + std::to_string(dropped_) +
                            ",\"firstNs\":" + std::to_string(first_ns_) + ",\"lastNs\":" + std::to_string(last_ns_) +
                            ",\"connections\":" + std::to_string(conns_.size()) + ",\"accepted\":" +
                            std::to_string(accepted_) + ",\"bytesIn\":" + std::to_string(bytes_in_) +
                            ",\"hangAll\":" + (hang_all_ ? "true" : "false") + ",\"nowNs\":" + std::to_string(NowNs()) +
                            "}";
            Reply(c, 200, b);
        } else if (path == "/_sink/reset" && method == "POST") {
            answered_ = held_total_ = dropped_ = 0;
            first_ns_ = last_ns_ = 0;
            bytes_in_ = 0;
            accepted_ = 0;
            records_.clear();
            records_.shrink_to_fit();
            Reply(c, 200, "{\"ok\":true}");
        } else if (path == "/_sink/hang" && method == "POST") {
            const bool on = QueryParam(query, "all") == "1";
            std::size_t released = 0;
            hang_all_ = on;
            if (!on) released = ReleaseHeld();
            Reply(c, 200, "{\"hangAll\":" + std::string(on ? "true" : "false") + ",\"released\":" +
                              std::to_string(released) + "}");
        } else if (path == "/_sink/dump" && method == "POST") {
            const std::string file = QueryParam(query, "path");
            std::FILE* f = file.empty() ? nullptr : std::fopen(file.c_str(), "w");
            if (!f) {
                Reply(c, 400, "{\"error\":\"cannot open the dump file\"}");
                return;
            }
            for (const auto& r : records_) std::fprintf(f, "%lld %lld\n", static_cast<long long>(r.entity_id),
                                                        static_cast<long long>(r.arrival_ns));
            std::fclose(f);
            Reply(c, 200, "{\"records\":" + std::to_string(records_.size()) + "}");
        } else {
            Reply(c, 404, "{\"error\":\"unknown control path\"}");
        }
    }

    // Answers every held request outside the hang prefixes; returns how many.
    std::size_t ReleaseHeld() {
        std::size_t n = 0;
        std::vector<int> to_close;
        for (auto& [fd, cp] : conns_) {
            Conn& c = *cp;
            if (!c.held || c.held_forever) continue;
            c.held = false;
            --held_now_;
            // The request counts as arriving now: the receiver was "down" until this moment.
            Answer(c, c.held_entity, NowNs());
            ++n;
            if (!Process(c)) to_close.push_back(fd);
        }
        for (int fd : to_close) Close(fd);
        return n;
    }

    bool Flush(Conn& c) {
        while (c.out_off < c.out.size()) {
            const ssize_t n = write(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off);
            if (n > 0) {
                c.out_off += static_cast<std::size_t>(n);
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                if (!c.want_out) {
                    epoll_event ev{};
                    ev.events = EPOLLIN | EPOLLOUT;
                    ev.data.fd = c.fd;
                    epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
                    c.want_out = true;
                }
                return true;
            }
            return false;
        }
        c.out.clear();
        c.out_off = 0;
        if (c.want_out) {
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.fd = c.fd;
            epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
            c.want_out = false;
        }
        return !c.close_after;
    }

    std::vector<std::string> hang_prefixes_;
    std::size_t max_records_;
    std::vector<int> listen_fds_;
    int ep_ = -1;
    std::unordered_map<int, std::unique_ptr<Conn>> conns_;
    bool hang_all_ = false;
    std::uint64_t answered_ = 0, held_now_ = 0, held_total_ = 0, dropped_ = 0, accepted_ = 0, bytes_in_ = 0;
    std::int64_t first_ns_ = 0, last_ns_ = 0;
    std::vector<Record> records_;
};

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    int port = 0;
    int ports = 1;
    std::vector<std::string> hang;
    std::size_t max_records = 4'000'000;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        const bool has_value = i + 1 < argc;
        if (a == "--host" && has_value) {
            host = argv[++i];
        } else if (a == "--port" && has_value) {
            port = std::atoi(argv[++i]);
        } else if (a == "--ports" && has_value) {
            ports = std::max(1, std::atoi(argv[++i]));
        } else if (a == "--hang-prefix" && has_value) {
            hang.emplace_back(argv[++i]);
        } else if (a == "--max-records" && has_value) {
            max_records = static_cast<std::size_t>(std::atoll(argv[++i]));
        } else {
            std::fprintf(stderr,
                         "usage: hookd-sink [--host 127.0.0.1] [--port 0] [--ports N] [--hang-prefix /hang]... "
                         "[--max-records N]\n");
            return 2;
        }
    }
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGTERM, OnSignal);
    std::signal(SIGINT, OnSignal);
    Sink sink(std::move(hang), max_records);
    const int bound = sink.Listen(host, port);
    if (bound < 0) {
        std::fprintf(stderr, "hookd-sink: cannot listen on %s:%d: %s\n", host.c_str(), port, std::strerror(errno));
        return 1;
    }
    // More listening ports on request: receivers of many webhooks are many hosts in real
    // life, and libcurl keeps one connection pool per host:port.
    std::string more;
    for (int i = 1; i < ports; ++i) {
        const int p = sink.Listen(host, 0);
        if (p < 0) {
            std::fprintf(stderr, "hookd-sink: cannot listen on another port: %s\n", std::strerror(errno));
            return 1;
        }
        more += (more.empty() ? " also " : ",") + std::to_string(p);
    }
    std::printf("listening on %s:%d%s\n", host.c_str(), bound, more.c_str());
    std::fflush(stdout);
    sink.Run();
    return 0;
}
