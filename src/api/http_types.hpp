#pragma once
// Plain request/response values passed between the HTTP server and the handlers,
// so that handlers never see Beast.
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hookd::api {

struct HttpRequest {
    std::string method;  //!< "GET", "POST", ...
    std::string path;    //!< path without the query, as sent (percent-encoded)
    std::string query;   //!< raw query string without '?'
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  //!< names lower-cased

    [[nodiscard]] std::string_view Header(std::string_view lower_name) const {
        for (const auto& [k, v] : headers) {
            if (k == lower_name) return v;
        }
        return {};
    }
};

struct HttpResponse {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

}  // namespace hookd::api
