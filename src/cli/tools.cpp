// `hookd listen`, `sign`, `verify` and `migrate`: developer tools.
#include <boost/json.hpp>

#include <csignal>
#include <cstdio>
#include <ctime>
#include <mutex>

#include <cstdlib>
#include <filesystem>

#include "api/http_server.hpp"
#include "cli/keys.hpp"
#include "core/crypto.hpp"
#include "cli/commands.hpp"
#include "core/domain.hpp"
#include "core/signature.hpp"
#include "core/text.hpp"
#include "core/time.hpp"
#include "store/postgres/pg_store.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace hookd::cli {
namespace {

// The event, entity and id a delivery carries: from the JSON body (POST) or the last
// three path segments (GET). Also the payload the Standard Webhooks signature covers.
struct Parsed {
    std::string event, entity, id, payload;
    bool ok = false;
};

Parsed ParseDelivery(const api::HttpRequest& req) {
    Parsed p;
    if (req.method == "POST") {
        boost::system::error_code ec;
        auto v = boost::json::parse(req.body, ec);
        p.payload = req.body;
        if (ec || !v.is_object()) return p;
        const auto& o = v.as_object();
        const auto* ev = o.if_contains("event");
        const auto* en = o.if_contains("entity");
        const auto* id = o.if_contains("entityId");
        if (!ev || !en || !id || !ev->is_string() || !en->is_string()) return p;
        p.event = ev->as_string();
        p.entity = en->as_string();
        p.id = id->is_string() ? std::string(id->as_string()) : boost::json::serialize(*id);
        p.ok = true;
        return p;
    }
    auto segs = PathSegments(req.path);
    if (segs.size() < 3) return p;
    p.event = segs[segs.size() - 3];
    p.entity = segs[segs.size() - 2];
    p.id = segs[segs.size() - 1];
    p.payload = "/" + p.event + "/" + p.entity + "/" + p.id;
    p.ok = true;
    return p;
}

}  // namespace

int Listen(const ListenOptions& o) {
    const auto colon = o.listen.rfind(':');
    if (colon == std::string::npos) {
        std::fprintf(stderr, "hookd listen: --listen expects HOST:PORT\n");
        return 2;
    }
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    std::mutex out_mu;
    api::HttpServerOptions hopt;
    hopt.host = o.listen.substr(0, colon);
    hopt.port = static_cast<unsigned short>(std::stoi(o.listen.substr(colon + 1)));
    hopt.handler_threads = 2;
    api::HttpServer server(hopt, [&](const api::HttpRequest& req) {
        const Parsed p = ParseDelivery(req);
        const std::string legacy(req.Header("x-ioffice-signature"));
        const std::string msg_id(req.Header("webhook-id"));
        const std::string ts_text(req.Header("webhook-timestamp"));
        const std::string sig(req.Header("webhook-signature"));
        std::int64_t ts = 0;
        try {
            ts = std::stoll(ts_text);
        } catch (...) {
        }
        const bool legacy_ok = p.ok && signature::VerifyLegacy(o.secret, p.event, p.entity, p.id, legacy);
        const bool standard_ok = signature::VerifyStandard(o.secret, msg_id, ts, p.payload, sig);
        const std::int64_t age = static_cast<std::int64_t>(std::time(nullptr)) - ts;
        const bool fresh = age <= o.tolerance_s && age >= -o.tolerance_s;
        {
            std::lock_guard lock(out_mu);
            std::printf("%s %s %s%s\n", FormatTime(SystemClock().Now()).c_str(), req.method.c_str(), req.path.c_str(),
                        req.query.empty() ? "" : ("?" + req.query).c_str());
            if (!req.body.empty()) std::printf("  body: %s\n", req.body.c_str());
            std::printf("  event: %s %s %s   webhook-id: %s\n", p.event.c_str(), p.entity.c_str(), p.id.c_str(),
                        msg_id.c_str());
            std::printf("  x-ioffice-signature: %s   webhook-signature: %s%s\n", legacy_ok ? "valid" : "INVALID",
                        standard_ok ? "valid" : "INVALID", fresh ? "" : " (timestamp outside tolerance)");
            std::fflush(stdout);
        }
        api::HttpResponse r;
        r.content_type = "text/plain";
        if (legacy_ok && standard_ok && fresh) {
            r.status = o.status;
            r.body = "ok";
        } else {
            r.status = 400;
            r.body = "signature check failed";
        }
        return r;
    });
    if (auto r = server.Start(); !r) {
        std::fprintf(stderr, "hookd listen: %s\n", r.error().message.c_str());
        return 1;
    }
    std::printf("hookd listen: receiving on http://%s:%u/ (Ctrl-C to stop)\n", hopt.host.c_str(), server.port());
    std::printf("  Standard Webhooks secret: %s\n", signature::StandardSecret(o.secret).c_str());
    std::fflush(stdout);
    int sig = 0;
    sigwait(&signals, &sig);
    server.Stop();
    return 0;
}

int Sign(const SignOptions& o) {
    auto type = ParseEventType(o.event);
    if (!type) {
        std::fprintf(stderr, "hookd sign: EVENT must be CREATE, UPDATE, DELETE or ARCHIVE\n");
        return 2;
    }
    std::printf("%s\n", signature::Legacy(o.secret, ToString(*type), o.entity, o.id).c_str());
    if (!o.msg_id.empty()) {
        std::printf("%s\n", signature::Standard(o.secret, o.msg_id, o.timestamp, o.payload).c_str());
    }
    return 0;
}

int Verify(const SignOptions& o) {
    auto type = ParseEventType(o.event);
    if (!type) {
        std::fprintf(stderr, "hookd verify: EVENT must be CREATE, UPDATE, DELETE or ARCHIVE\n");
        return 2;
    }
    bool ok;
    if (o.signature.rfind("v1,", 0) == 0) {
        ok = signature::VerifyStandard(o.secret, o.msg_id, o.timestamp, o.payload, o.signature);
    } else {
        ok = signature::VerifyLegacy(o.secret, ToString(*type), o.entity, o.id, o.signature);
    }
    std::printf("%s\n", ok ? "valid" : "invalid");
    return ok ? 0 : 1;
}

int Rekey(const RekeyOptions& o) {
    // The database and the default key file as `serve` finds them.
    auto db = ParseDbUrl(o.db);
    if (!db) {
        std::fprintf(stderr, "hookd rekey: %s\n", db.error().message.c_str());
        return 2;
    }
    const bool shared = !db->postgres_url.empty();
    const std::string& sqlite_path = db->sqlite_path;
    const std::string& data_dir = db->data_dir;
    const std::string db_name = shared ? "the PostgreSQL database" : sqlite_path;
    const std::string key_file =
        o.key_file.empty() ? (std::filesystem::path(data_dir) / "master.key").string() : o.key_file;
    std::optional<std::string> env;
    if (const char* k = std::getenv("HOOKD_MASTER_KEY"); k && *k) env = k;
    auto old_key = LoadMasterKey(env, key_file, false);
    if (!old_key) {
        std::fprintf(stderr, "hookd rekey: %s\n", old_key.error().message.c_str());
        return 2;
    }
    if (!shared && !std::filesystem::exists(sqlite_path)) {
        std::fprintf(stderr, "hookd rekey: database %s does not exist\n", sqlite_path.c_str());
        return 2;
    }
    auto old_box = crypto::SecretBox::Create(*old_key);
    if (!old_box) {
        std::fprintf(stderr, "hookd rekey: %s\n", old_box.error().message.c_str());
        return 2;
    }
    auto store = shared ? store::OpenPostgresStore({db->postgres_url, 1}, std::move(*old_box))
                        : store::OpenSqliteStore({sqlite_path, "FULL", 5000}, std::move(*old_box));
    if (!store) {
        std::fprintf(stderr, "hookd rekey: cannot open %s: %s\n", db_name.c_str(), store.error().message.c_str());
        return 1;
    }
    if (auto r = (*store)->VerifyMasterKey(); !r) {
        std::fprintf(stderr, "hookd rekey: %s\n", r.error().message.c_str());
        return 1;
    }
    // Only now, with the current key known to be right, is a new key file created.
    auto new_key = LoadMasterKey(std::nullopt, o.new_key_file, true);
    if (!new_key) {
        std::fprintf(stderr, "hookd rekey: %s\n", new_key.error().message.c_str());
        return 2;
    }
    auto new_box = crypto::SecretBox::Create(*new_key);
    if (!new_box) {
        std::fprintf(stderr, "hookd rekey: %s\n", new_box.error().message.c_str());
        return 2;
    }
    if (auto r = (*store)->Rekey(*new_box); !r) {
        std::fprintf(stderr, "hookd rekey: %s\n", r.error().message.c_str());
        return 1;
    }
    if (env) {
        std::printf(
            "every secret in %s is now encrypted with the key in %s; start hookd with HOOKD_MASTER_KEY set "
            "to that key%s\n",
            db_name.c_str(), o.new_key_file.c_str(), shared ? ", on every node" : "");
    } else {
        std::printf(
            "every secret in %s is now encrypted with the key in %s; start hookd with --master-key-file %s "
            "(or move it to %s)%s\n",
            db_name.c_str(), o.new_key_file.c_str(), o.new_key_file.c_str(), key_file.c_str(),
            shared ? ", on every node" : "");
    }
    return 0;
}

int Migrate(const MigrateOptions& o) {
    if (!o.from.empty() || !o.to.empty()) {
        auto from = SqlitePathFromUrl(o.from);
        if (!from || !IsPostgresUrl(o.to)) {
            std::fprintf(stderr, "hookd migrate: --from must be sqlite:PATH and --to postgresql://...\n");
            return 2;
        }
        if (!std::filesystem::exists(*from)) {
            std::fprintf(stderr, "hookd migrate: %s does not exist\n", from->c_str());
            return 2;
        }
        // Bring the SQLite file to the current schema first, so the tables line up.
        if (auto v = store::MigrateSqlite(*from); !v) {
            std::fprintf(stderr, "hookd migrate: %s\n", v.error().message.c_str());
            return 1;
        }
        auto n = store::CopySqliteToPostgres(*from, o.to);
        if (!n) {
            std::fprintf(stderr, "hookd migrate: %s\n", n.error().message.c_str());
            return 1;
        }
        std::printf("copied %lld rows from %s to PostgreSQL; start the nodes with --db <that URL> and the same "
                    "master key\n",
                    static_cast<long long>(*n), from->c_str());
        return 0;
    }
    if (IsPostgresUrl(o.db)) {
        auto v = store::MigratePostgres(o.db);
        if (!v) {
            std::fprintf(stderr, "hookd migrate: %s\n", v.error().message.c_str());
            return 1;
        }
        std::printf("PostgreSQL database is at schema version %d\n", *v);
        return 0;
    }
    auto path = SqlitePathFromUrl(o.db);
    if (!path) {
        std::fprintf(stderr, "hookd migrate: %s\n", path.error().message.c_str());
        return 2;
    }
    auto v = store::MigrateSqlite(*path);
    if (!v) {
        std::fprintf(stderr, "hookd migrate: %s\n", v.error().message.c_str());
        return 1;
    }
    std::printf("database %s is at schema version %d\n", path->c_str(), *v);
    return 0;
}

}  // namespace hookd::cli
