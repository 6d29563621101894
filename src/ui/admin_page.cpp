#include "ui/admin_page.hpp"

#include "core/embedded_file.hpp"

namespace hookd::ui::assets {
const std::vector<hookd::EmbeddedFile>& Files();
}

namespace hookd::ui {
namespace {

std::string_view ContentType(std::string_view path) {
    auto ends = [&](std::string_view ext) {
        return path.size() >= ext.size() && path.substr(path.size() - ext.size()) == ext;
    };
    if (ends(".html")) return "text/html; charset=utf-8";
    if (ends(".js")) return "text/javascript; charset=utf-8";
    if (ends(".css")) return "text/css; charset=utf-8";
    if (ends(".svg")) return "image/svg+xml";
    if (ends(".png")) return "image/png";
    if (ends(".ico")) return "image/x-icon";
    if (ends(".json")) return "application/json";
    return "application/octet-stream";
}

api::HttpResponse Redirect(std::string location) {
    api::HttpResponse r;
    r.status = 302;
    r.content_type = "text/plain";
    r.body = "see " + location;
    r.headers.emplace_back("Location", std::move(location));
    return r;
}

}  // namespace

api::HttpResponse ServeAdmin(const api::HttpRequest& request) {
    const std::string& path = request.path;
    if (path == "/" || path == "/admin") return Redirect("/admin/");
    constexpr std::string_view kPrefix = "/admin/";
    if (path.rfind(kPrefix, 0) == 0 && (request.method == "GET" || request.method == "HEAD")) {
        std::string_view name = std::string_view(path).substr(kPrefix.size());
        if (name.empty()) name = "index.html";
        for (const auto& f : assets::Files()) {
            if (f.path == name) {
                api::HttpResponse r;
                r.content_type = std::string(ContentType(name));
                if (request.method == "GET") r.body = std::string(f.data);
                r.headers.emplace_back("Cache-Control", "no-cache");
                r.headers.emplace_back("X-Content-Type-Options", "nosniff");
                r.headers.emplace_back("X-Frame-Options", "DENY");
                r.headers.emplace_back("Referrer-Policy", "no-referrer");
                r.headers.emplace_back("Content-Security-Policy",
                                       "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                       "script-src 'self'; connect-src 'self'; frame-ancestors 'none'");
                return r;
            }
        }
    }
    api::HttpResponse r;
    r.status = 404;
    r.content_type = "application/problem+json";
    r.body = R"({"type":"https://hookd.dev/problems/not-found","title":"Not found","status":404,"detail":"no such page"})";
    return r;
}

}  // namespace hookd::ui
