#pragma once
// Errors as values at module boundaries: Result<T> for what can fail; exceptions only at
// startup and for configuration.
#include <string>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

namespace hookd {

enum class ErrorCode {
    kInvalid,      //!< the input is malformed or fails validation (400/422)
    kNotFound,     //!< no such resource (404)
    kConflict,     //!< the resource exists already (409)
    kForbidden,    //!< the caller may not do this (403)
    kUnavailable,  //!< the store cannot commit right now; try again (503)
    kInternal,     //!< a bug or an unexpected failure (500)
};

//! One field-level validation message, e.g. {"events[3].entity", "unknown entity 'Foo'"}.
struct FieldError {
    std::string field;
    std::string message;
};

struct Error {
    ErrorCode code = ErrorCode::kInternal;
    std::string message;
    std::vector<FieldError> fields;

    static Error Invalid(std::string msg, std::vector<FieldError> fields = {}) {
        return {ErrorCode::kInvalid, std::move(msg), std::move(fields)};
    }
    static Error NotFound(std::string msg) { return {ErrorCode::kNotFound, std::move(msg), {}}; }
    static Error Conflict(std::string msg) { return {ErrorCode::kConflict, std::move(msg), {}}; }
    static Error Forbidden(std::string msg) { return {ErrorCode::kForbidden, std::move(msg), {}}; }
    static Error Unavailable(std::string msg) { return {ErrorCode::kUnavailable, std::move(msg), {}}; }
    static Error Internal(std::string msg) { return {ErrorCode::kInternal, std::move(msg), {}}; }
};

//! A value or the Error that prevented it. [[nodiscard]]: ignoring a Result is a bug;
//! where a failure really does not matter, discard it with `(void)` and say why.
template <typename T>
class [[nodiscard]] Result : public tl::expected<T, Error> {
public:
    using Base = tl::expected<T, Error>;
    using Base::Base;
    using Base::operator=;
    Result() = default;
    Result(Base b) : Base(std::move(b)) {}  // NOLINT(google-explicit-constructor): from and_then/map
};

using Status = Result<void>;

inline tl::unexpected<Error> Fail(Error e) { return tl::unexpected<Error>(std::move(e)); }

}  // namespace hookd
