#include "core/wire.hpp"

#include <boost/url.hpp>

#include "core/signature.hpp"
#include "core/trace_context.hpp"

namespace hookd::wire {
namespace {

void AppendEncoded(std::string& out, std::string_view segment) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (unsigned char c : segment) {
        const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                                c == '-' || c == '.' || c == '_' || c == '~';
        if (unreserved) {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        }
    }
}

}  // namespace

std::string PathSuffix(EventType type, std::string_view entity, const EntityId& id) {
    std::string out;
    out.reserve(16 + entity.size() + id.text.size());
    out.push_back('/');
    out.append(ToString(type));
    out.push_back('/');
    AppendEncoded(out, entity);
    out.push_back('/');
    AppendEncoded(out, id.text);
    return out;
}

std::string PostBody(EventType type, std::string_view entity, const EntityId& id) {
    // Entity names are catalogue names and ids match [A-Za-z0-9._~-]: nothing to escape.
    std::string out;
    out.reserve(48 + entity.size() + id.text.size());
    out.append(R"({"event":")").append(ToString(type)).append(R"(","entity":")").append(entity);
    out.append(R"(","entityId":)");
    if (id.is_number) {
        out.append(id.text);
    } else {
        out.push_back('"');
        out.append(id.text);
        out.push_back('"');
    }
    out.push_back('}');
    return out;
}

Result<std::string> JoinGetUrl(std::string_view payload_url, std::string_view suffix) {
    auto parsed = boost::urls::parse_uri(payload_url);
    if (!parsed) return Fail(Error::Invalid("payload URL does not parse"));
    boost::urls::url u(*parsed);
    std::string path(u.encoded_path());
    while (!path.empty() && path.back() == '/') path.pop_back();
    path.append(suffix);
    u.set_encoded_path(path);
    u.remove_fragment();
    return std::string(u.buffer());
}

std::optional<std::string> CheckPayloadUrl(std::string_view url) {
    if (url.empty()) return "is required";
    if (url.size() > 2048) return "must be at most 2048 characters";
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed) return "must be an absolute http:// or https:// URL";
    const auto scheme = parsed->scheme_id();
    if (scheme != boost::urls::scheme::http && scheme != boost::urls::scheme::https) {
        return "scheme must be http or https";
    }
    if (!parsed->has_authority() || parsed->encoded_host().empty()) return "must have a host";
    if (parsed->has_userinfo()) return "must not contain user credentials";
    for (char c : url) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return "must not contain spaces or control characters";
    }
    return std::nullopt;
}

std::string HostOf(std::string_view url) {
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed) return {};
    std::string host(parsed->encoded_host_address());
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    return host;
}

Result<Request> Build(HttpMethod method, std::string_view payload_url, std::string_view delivery_id, EventType type,
                      std::string_view entity, const EntityId& id, const std::vector<std::string_view>& secrets,
                      std::int64_t now_s, const TraceHeaders& trace) {
    Request req;
    req.method = method;
    std::string signed_payload;
    if (method == HttpMethod::kGet) {
        std::string suffix = PathSuffix(type, entity, id);
        auto url = JoinGetUrl(payload_url, suffix);
        if (!url) return Fail(url.error());
        req.url = std::move(*url);
        signed_payload = std::move(suffix);
    } else {
        req.url = std::string(payload_url);
        auto hash = req.url.find('#');
        if (hash != std::string::npos) req.url.resize(hash);
        req.body = PostBody(type, entity, id);
        signed_payload = req.body;
        req.headers.emplace_back("Content-Type", "application/json");
    }
    req.headers.emplace_back("x-ioffice-signature", signature::Legacy(secrets.front(), ToString(type), entity, id.text));
    req.headers.emplace_back("webhook-id", std::string(delivery_id));
    req.headers.emplace_back("webhook-timestamp", std::to_string(now_s));
    req.headers.emplace_back("webhook-signature", signature::StandardHeader(secrets, delivery_id, now_s, signed_payload));
    req.headers.emplace_back("User-Agent", std::string(kUserAgent));
    if (!trace.traceparent.empty()) {
        req.headers.emplace_back("traceparent", trace.traceparent);
        if (!trace.tracestate.empty()) req.headers.emplace_back("tracestate", trace.tracestate);
    }
    return req;
}

TraceHeaders TraceFor(const Delivery& d, std::string_view span_id) {
    TraceHeaders h;
    if (auto tp = trace::ForAttempt(d.traceparent, span_id)) {
        h.traceparent = std::move(*tp);
        if (d.tracestate) h.tracestate = *d.tracestate;
    }
    return h;
}

TraceHeaders TraceFor(const Delivery& d) {
    if (!d.traceparent) return {};
    return TraceFor(d, trace::NewSpanId());
}

}  // namespace hookd::wire
