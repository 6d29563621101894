#pragma once
// A real HTTP receiver on 127.0.0.1 (hookd's own server) that records what arrives and
// answers with a programmable status, optionally after a delay.
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "api/http_server.hpp"

namespace hookd::testing {

class Receiver {
public:
    struct Hit {
        api::HttpRequest request;
        std::chrono::steady_clock::time_point at;
    };
    //! `respond` gets the 0-based hit number and returns {status, delay_ms}.
    using Respond = std::function<std::pair<int, int>(int)>;

    explicit Receiver(Respond respond = [](int) { return std::pair{200, 0}; })
        : respond_(std::move(respond)),
          server_(api::HttpServerOptions{"127.0.0.1", 0, 1 << 20, 16384, 30000, 10000, 1, 16},
                  [this](const api::HttpRequest& r) { return Handle(r); }) {
        if (!server_.Start()) throw std::runtime_error("receiver cannot start");
    }
    ~Receiver() { server_.Stop(); }

    [[nodiscard]] std::string Url(const std::string& path = "/hook") const {
        return "http://127.0.0.1:" + std::to_string(server_.port()) + path;
    }
    [[nodiscard]] std::vector<Hit> Hits() const {
        std::lock_guard lock(mu_);
        return hits_;
    }
    [[nodiscard]] int Count() const {
        std::lock_guard lock(mu_);
        return static_cast<int>(hits_.size());
    }
    //! Waits up to `ms` for at least `n` hits.
    bool WaitFor(int n, int ms) const {
        const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (std::chrono::steady_clock::now() < end) {
            if (Count() >= n) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return Count() >= n;
    }
    std::vector<std::pair<std::string, std::string>> extra_headers;

private:
    api::HttpResponse Handle(const api::HttpRequest& r) {
        int n;
        {
            std::lock_guard lock(mu_);
            n = static_cast<int>(hits_.size());
            hits_.push_back({r, std::chrono::steady_clock::now()});
        }
        auto [status, delay] = respond_(n);
        if (delay > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay));
        api::HttpResponse res;
        res.status = status;
        res.content_type = "text/plain";
        res.body = "status " + std::to_string(status);
        res.headers = extra_headers;
        return res;
    }

    Respond respond_;
    mutable std::mutex mu_;
    std::vector<Hit> hits_;
    api::HttpServer server_;
};

}  // namespace hookd::testing
