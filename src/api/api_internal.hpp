#pragma once
// Shared between the api/*.cpp files; not part of the module's interface.
#include <boost/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/api.hpp"
#include "api/json_io.hpp"

namespace hookd::api {

enum class Access : std::uint8_t {
    kPublic,     //!< no token
    kAny,        //!< any valid token
    kOperator,   //!< operator only
    kAdmin,      //!< admin of the {site} in the path
    kPublisher,  //!< publisher of the {site} in the path
};

struct Api::Ctx {
    const HttpRequest& req;
    Principal who;
    std::unordered_map<std::string, std::string> params;  //!< from the path pattern
    std::unordered_map<std::string, std::string> query;

    [[nodiscard]] const std::string& Param(const std::string& name) const { return params.at(name); }
    [[nodiscard]] std::optional<std::string> Query(const std::string& name) const {
        auto it = query.find(name);
        if (it == query.end()) return std::nullopt;
        return it->second;
    }
};

struct Api::Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Access access;
    std::function<HttpResponse(Api&, Ctx&)> fn;
};

//! Parses the body as a JSON object. An empty body is an empty object when `empty_ok`.
[[nodiscard]] Result<boost::json::object> ParseObject(const HttpRequest& req, bool empty_ok);
//! Whether a ?cursor value is an id of the listed kind (a list's cursor is its last id).
using CursorCheck = bool (*)(std::string_view cursor);
//! Reads ?limit and ?cursor; a bad value is a kInvalid error naming the parameter.
[[nodiscard]] Result<store::PageRequest> ParsePage(const Api::Ctx& ctx, CursorCheck valid_cursor);
//! 400 problem for bad query parameters (the error's fields name them).
[[nodiscard]] HttpResponse BadQuery(const Error& e);

}  // namespace hookd::api
