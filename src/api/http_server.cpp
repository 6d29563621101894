#include "api/http_server.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <pthread.h>

#include <atomic>
#include <latch>
#include <thread>
#include <vector>

#include "api/json_io.hpp"

namespace hookd::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct Shared {
    HttpServerOptions options;
    HttpHandler handler;
    asio::io_context ioc;
    asio::thread_pool pool;
    std::atomic<int> connections{0};

    Shared(HttpServerOptions o, HttpHandler h)
        : options(std::move(o)), handler(std::move(h)), pool(static_cast<std::size_t>(options.handler_threads)) {}
};

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, Shared& shared) : stream_(std::move(socket)), shared_(shared) {
        ++shared_.connections;
    }
    ~Session() { --shared_.connections; }

    void Run() {
        asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Read(); });
    }

private:
    void Read() {
        parser_.emplace();
        parser_->body_limit(shared_.options.max_body_bytes);
        parser_->header_limit(static_cast<std::uint32_t>(shared_.options.max_header_bytes));
        stream_.expires_after(std::chrono::milliseconds(shared_.options.read_timeout_ms));
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnRead(ec); });
    }

    void OnRead(beast::error_code ec) {
        if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::connection_reset ||
            ec == asio::error::eof) {
            return Close();
        }
        if (ec == http::error::body_limit) {
            unread_ = true;
            return Send(Problem(413, "Payload too large",
                                "the request body exceeds " + std::to_string(shared_.options.max_body_bytes) + " bytes"),
                        false);
        }
        if (ec == http::error::header_limit) {
            unread_ = true;
            return Send(Problem(431, "Request header fields too large",
                                "the request header fields exceed " + std::to_string(shared_.options.max_header_bytes) +
                                    " bytes"),
                        false);
        }
        if (ec) {
            unread_ = true;
            return Send(Problem(400, "Bad request", "malformed HTTP request: " + ec.message()), false);
        }
        auto req = parser_->release();
        HttpRequest in;
        in.method = std::string(req.method_string());
        std::string_view target = req.target();
        const auto q = target.find('?');
        in.path = std::string(target.substr(0, q));  // still percent-encoded: decoded per segment
        if (q != std::string_view::npos) in.query = std::string(target.substr(q + 1));
        in.body = std::move(req.body());
        for (const auto& f : req) {
            std::string name(f.name_string());
            for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            in.headers.emplace_back(std::move(name), std::string(f.value()));
        }
        const bool keep_alive = req.keep_alive();
        stream_.expires_never();
        asio::post(shared_.pool, [self = shared_from_this(), in = std::move(in), keep_alive]() mutable {
            HttpResponse out;
            try {
                out = self->shared_.handler(in);
            } catch (const std::exception& e) {
                spdlog::error("handler for {} {} threw: {}", in.method, in.path, e.what());
                out = Problem(500, "Internal server error", "the request failed; the server log has the cause");
            }
            asio::dispatch(self->stream_.get_executor(), [self, out = std::move(out), keep_alive]() mutable {
                self->Send(std::move(out), keep_alive);
            });
        });
    }

    void Send(HttpResponse out, bool keep_alive) {
        auto res = std::make_shared<http::response<http::string_body>>();
        res->version(11);
        res->result(static_cast<unsigned>(out.status));
        res->set(http::field::server, "hookd/" HOOKD_VERSION);
        if (!out.content_type.empty()) res->set(http::field::content_type, out.content_type);
        for (auto& [k, v] : out.headers) res->set(k, v);
        res->body() = std::move(out.body);
        res->keep_alive(keep_alive);
        res->prepare_payload();
        stream_.expires_after(std::chrono::milliseconds(shared_.options.read_timeout_ms));
        http::async_write(stream_, *res, [self = shared_from_this(), res, keep_alive](beast::error_code ec, std::size_t) {
            if (ec || !keep_alive) return self->Close();
            self->Read();
        });
    }

    void Close() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        if (unread_) return Linger();
        stream_.socket().close(ec);
    }

    // After refusing a request whose body was not read (413, 431, 400), read and drop
    // what the client is still sending for a moment before closing: closing with unread
    // data makes the kernel reset the connection, and the client may never see the answer.
    void Linger() {
        stream_.expires_after(std::chrono::seconds(2));
        stream_.async_read_some(asio::buffer(drain_),
                                [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                                    self->drained_ += n;
                                    if (ec || self->drained_ > (16u << 20)) {
                                        beast::error_code ignored;
                                        self->stream_.socket().close(ignored);
                                        return;
                                    }
                                    self->Linger();
                                });
    }

    beast::tcp_stream stream_;
    bool unread_ = false;  // the request was refused before its body was read
    std::array<char, 16384> drain_{};
    std::size_t drained_ = 0;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    Shared& shared_;
};

}  // namespace

struct HttpServer::Impl {
    Shared shared;
    tcp::acceptor acceptor;
    std::vector<std::thread> threads;
    unsigned short port = 0;

    Impl(HttpServerOptions o, HttpHandler h) : shared(std::move(o), std::move(h)), acceptor(shared.ioc) {}

    void Accept() {
        acceptor.async_accept(asio::make_strand(shared.ioc), [this](beast::error_code ec, tcp::socket socket) {
            if (ec == asio::error::operation_aborted) return;
            if (!ec) {
                if (shared.connections >= shared.options.max_connections) {
                    beast::error_code ignored;
                    socket.close(ignored);
                } else {
                    socket.set_option(tcp::no_delay(true), ec);
                    std::make_shared<Session>(std::move(socket), shared)->Run();
                }
            }
            Accept();
        });
    }
};

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() {
    beast::error_code ec;
    auto address = asio::ip::make_address(impl_->shared.options.host, ec);
    if (ec) return Fail(Error::Invalid("bad listen address '" + impl_->shared.options.host + "'"));
    tcp::endpoint ep(address, impl_->shared.options.port);
    impl_->acceptor.open(ep.protocol(), ec);
    if (!ec) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) impl_->acceptor.bind(ep, ec);
    if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        return Fail(Error::Unavailable("cannot listen on " + impl_->shared.options.host + ":" +
                                       std::to_string(impl_->shared.options.port) + ": " + ec.message()));
    }
    impl_->port = impl_->acceptor.local_endpoint().port();
    impl_->Accept();
    // Name the handler threads (top -H, perf): a latch makes each task land on its own thread.
    const auto handlers = static_cast<std::ptrdiff_t>(impl_->shared.options.handler_threads);
    auto named = std::make_shared<std::latch>(handlers);
    for (std::ptrdiff_t i = 0; i < handlers; ++i) {
        asio::post(impl_->shared.pool, [named] {
            pthread_setname_np(pthread_self(), "hookd-api");
            named->arrive_and_wait();
        });
    }
    for (int i = 0; i < impl_->shared.options.io_threads; ++i) {
        impl_->threads.emplace_back([this] {
            pthread_setname_np(pthread_self(), "hookd-http");
            impl_->shared.ioc.run();
        });
    }
    return {};
}

void HttpServer::Stop() {
    if (impl_->threads.empty()) return;
    asio::post(impl_->shared.ioc, [this] {
        beast::error_code ec;
        impl_->acceptor.close(ec);
    });
    impl_->shared.pool.join();
    impl_->shared.ioc.stop();
    for (auto& t : impl_->threads) t.join();
    impl_->threads.clear();
}

unsigned short HttpServer::port() const { return impl_->port; }

}  // namespace hookd::api
