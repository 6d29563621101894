#pragma once
// The inbound HTTP/1.1 server (Boost.Beast, kept inside http_server.cpp).
// I/O runs on `io_threads`; handlers run on a pool of `handler_threads` so that a
// handler waiting on a commit or a test message never stalls other connections.
#include <memory>
#include <string>

#include "api/http_types.hpp"
#include "core/result.hpp"

namespace hookd::api {

struct HttpServerOptions {
    std::string host = "127.0.0.1";
    unsigned short port = 8080;                //!< 0 = any free port
    std::size_t max_body_bytes = 1 << 20;      //!< larger bodies get 413
    std::size_t max_header_bytes = 16 * 1024;  //!< larger headers get 431
    int read_timeout_ms = 30'000;              //!< slow clients are cut off
    int max_connections = 10'000;
    int io_threads = 1;
    int handler_threads = 8;
};

class HttpServer final {
public:
    HttpServer(HttpServerOptions options, HttpHandler handler);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    //! Binds and starts serving. Errors when the address cannot be bound.
    Status Start();
    //! Stops accepting and closes connections after in-progress responses.
    void Stop();
    //! The port actually bound (useful with port 0).
    [[nodiscard]] unsigned short port() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace hookd::api
