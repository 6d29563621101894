#pragma once
// JSON shapes of the API (SPEC.md §9) and the problem+json documents.
#include <boost/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "api/http_types.hpp"
#include "core/domain.hpp"
#include "core/result.hpp"
#include "delivery/receiver_check.hpp"
#include "store/store.hpp"

namespace hookd::api {

inline constexpr std::string_view kMaskedSecret = "********";

[[nodiscard]] boost::json::value TimeOrNull(std::optional<TimeMs> t);
[[nodiscard]] boost::json::object ToJson(const store::Site& s);
[[nodiscard]] boost::json::object ToJson(const store::Token& t);
//! The webhook with its secret masked.
[[nodiscard]] boost::json::object ToJson(const Webhook& w);
[[nodiscard]] boost::json::value ToJson(const EntityId& id);
[[nodiscard]] boost::json::object ToJson(const Attempt& a);
//! `with_attempts` adds the "attempts" array.
[[nodiscard]] boost::json::object ToJson(const Delivery& d, bool with_attempts);
//! A receiver check report: {"url","method","passed","checks":[{"name","result","detail"}]}
//! (`hookd check-receiver --json` and POST .../webhooks/{id}/check).
[[nodiscard]] boost::json::object CheckReportJson(std::string_view url, HttpMethod method,
                                                  const std::vector<delivery::CheckResult>& checks);

[[nodiscard]] HttpResponse Json(int status, const boost::json::value& v);
[[nodiscard]] HttpResponse NoContent();
//! RFC 9457 problem document: type https://hookd.dev/problems/<kind of status>, title,
//! status, detail and, when given, the field-level `errors`. 429 and 503 carry Retry-After.
[[nodiscard]] HttpResponse Problem(int status, std::string_view title, std::string_view detail,
                                   const std::vector<FieldError>& errors = {});
//! Maps an Error to its status by its code: kInvalid → 422, kNotFound → 404, kConflict → 409,
//! kForbidden → 403, kUnavailable → 503 with Retry-After, kInternal → 500.
[[nodiscard]] HttpResponse ProblemFrom(const Error& e);

template <typename T, typename Fn>
[[nodiscard]] HttpResponse ListJson(const store::Page<T>& page, Fn to_json) {
    boost::json::array data;
    for (const auto& item : page.items) data.push_back(to_json(item));
    boost::json::object o;
    o["data"] = std::move(data);
    o["nextCursor"] = page.next_cursor ? boost::json::value(*page.next_cursor) : boost::json::value(nullptr);
    return Json(200, o);
}

}  // namespace hookd::api
