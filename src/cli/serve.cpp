// `hookd serve`: builds every part and runs them (the composition root).
#include <fcntl.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <csignal>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "api/api.hpp"
#include "api/http_server.hpp"
#include "capture/capture.hpp"
#include "capture/capture_map.hpp"
#include "cli/commands.hpp"
#include "cli/default_catalogue.hpp"
#include "cli/keys.hpp"
#include "cli/logging.hpp"
#include "core/catalogue.hpp"
#include "core/crypto.hpp"
#include "delivery/dispatcher.hpp"
#include "store/postgres/pg_store.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "ui/admin_page.hpp"

namespace hookd::cli {
namespace {

namespace fs = std::filesystem;

Result<Catalogue> LoadCatalogue(const std::string& file) {
    if (file.empty()) return Catalogue::Parse(DefaultCatalogueJson());
    std::ifstream in(file);
    if (!in) return Fail(Error::Invalid("--catalog: cannot read " + file));
    std::stringstream buf;
    buf << in.rdbuf();
    auto c = Catalogue::Parse(buf.str());
    if (!c) return Fail(Error::Invalid("--catalog: " + file + ": " + c.error().message));
    return c;
}

// Makes sure an operator can sign in: HOOKD_OPERATOR_TOKEN, or a token created on first
// start and written next to the database.
void BootstrapOperator(store::Store& store, const ServeSettings& s, const Clock& clock) {
    const std::string file = (fs::path(s.data_dir) / "operator-token").string();
    if (s.operator_token) {
        spdlog::info("operator token: from {}", s.operator_token_source);
        return;
    }
    auto has = store.HasOperatorToken();
    if (has && *has) {
        if (fs::exists(file)) {
            spdlog::info("operator token: in {}", file);
        } else {
            spdlog::info("operator token: created earlier (set HOOKD_OPERATOR_TOKEN to use another)");
        }
        return;
    }
    store::Token t;
    t.id = NewTypedId<TokenId>(kTokenPrefix);
    t.role = store::Role::kOperator;
    t.name = "bootstrap operator";
    t.created_at = clock.Now();
    const std::string secret = "hkd_" + crypto::Base64UrlEncode(crypto::RandomBytes(32));
    // The file first: a token nobody can read is never created, and the secret itself is
    // never logged (logs are shipped and kept where tokens must not be).
    if (!WriteSecretFile(file, secret + "\n")) {
        spdlog::error("operator token: could not write {}; none created (the next start tries again; or set "
                      "HOOKD_OPERATOR_TOKEN or --operator-token-file)",
                      file);
        return;
    }
    if (auto r = store.CreateToken(t, crypto::Sha256Hex(secret)); !r) {
        std::error_code ec;
        fs::remove(file, ec);
        spdlog::error("cannot create the operator token: {}", r.error().message);
        return;
    }
    spdlog::info("operator token: created and written to {} (mode 0600)", file);
}

// Deletes history older than the retention period in small batches.
class Janitor final {
public:
    Janitor(store::Store& store, const Clock& clock, DurationMs retention, DurationMs interval)
        : store_(store), clock_(clock), retention_(retention), interval_(interval), thread_([this] { Run(); }) {}
    ~Janitor() {
        {
            std::lock_guard lock(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }

private:
    void Run() {
        pthread_setname_np(pthread_self(), "hookd-purge");
        std::unique_lock lock(mu_);
        while (!cv_.wait_for(lock, std::chrono::milliseconds(interval_), [this] { return stop_; })) {
            lock.unlock();
            std::int64_t total = 0;
            for (int i = 0; i < 100; ++i) {
                auto n = store_.Purge(clock_.Now() - retention_, 1000);
                if (!n || *n == 0) break;
                total += *n;
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            if (total > 0) spdlog::info("retention: purged {} deliveries", total);
            lock.lock();
        }
    }

    store::Store& store_;
    const Clock& clock_;
    DurationMs retention_;
    DurationMs interval_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace

int Serve(const ServeSettings& s) {
    ConfigureLogging(s.log_level, s.log_json ? LogFormat::kJson : LogFormat::kText);
    // Signals are taken by sigwait below; block them before any thread starts.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    std::error_code ec;
    fs::create_directories(s.data_dir, ec);
    if (ec) {
        spdlog::error("cannot create the data folder {}: {}", s.data_dir, ec.message());
        return 1;
    }
    auto catalogue = LoadCatalogue(s.catalog_file);
    if (!catalogue) {
        spdlog::error("{}", catalogue.error().message);
        return 1;
    }
    // The capture map is checked before anything starts: a bad map stops serve at once.
    std::optional<capture::CaptureMap> capture_map;
    if (!s.capture_url.empty()) {
        auto map = capture::LoadCaptureMap(s.capture_map_file, *catalogue);
        if (!map) {
            spdlog::error("{}", map.error().message);
            return 1;
        }
        capture_map = std::move(*map);
    }
    auto key = LoadMasterKey(s.master_key_env, s.master_key_file, true);
    if (!key) {
        spdlog::error("{}", key.error().message);
        return 1;
    }
    auto box = crypto::SecretBox::Create(*key);
    if (!box) {
        spdlog::error("{}", box.error().message);
        return 1;
    }
    const bool shared = !s.postgres_url.empty();
    const std::string db_name = shared ? "PostgreSQL" : "sqlite:" + s.sqlite_path;
    // One server per SQLite file: its due queue and leases live in this process's memory.
    // The lock is released by the kernel however the process ends.
    if (!shared) {
        const std::string lock_path = s.sqlite_path + ".lock";
        const int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
            spdlog::error("another hookd serve is using {} (lock file {}): stop it first, or use PostgreSQL "
                          "for several nodes",
                          db_name, lock_path);
            return 1;
        }
        // fd stays open (and locked) until the process exits.
    }
    auto store = shared ? store::OpenPostgresStore({s.postgres_url, s.handler_threads + 2, s.node_id}, std::move(*box))
                        : store::OpenSqliteStore({s.sqlite_path, s.sqlite_synchronous, s.busy_timeout_ms}, std::move(*box));
    if (!store) {
        spdlog::error("cannot open the database {}: {}", db_name, store.error().message);
        return 1;
    }
    if (auto r = (*store)->VerifyMasterKey(); !r) {
        spdlog::error("{} (database {})", r.error().message, db_name);
        return 1;
    }

    SystemClock clock;
    Metrics metrics;
    BootstrapOperator(**store, s, clock);

    delivery::DispatcherOptions dopt;
    dopt.node_id = s.node_id;
    dopt.sole_node = !shared;
    dopt.global_max_in_flight = s.max_in_flight;
    dopt.lease_ms = s.lease_ms;
    dopt.schedule = s.schedule;
    dopt.policy = s.policy;
    dopt.ca_file = s.ca_file;
    dopt.auto_disable_after_ms = s.auto_disable_after_ms;
    delivery::Dispatcher dispatcher(**store, metrics, clock, DefaultRandomSource(), dopt);

    // Change capture: its own thread; stopped (after its last commit) before the dispatcher.
    std::unique_ptr<capture::Capture> capture;
    if (capture_map) {
        capture::CaptureOptions copt;
        copt.url = s.capture_url;
        copt.map = std::move(*capture_map);
        capture = std::make_unique<capture::Capture>(
            **store, clock, std::move(copt), [&metrics, &dispatcher](std::size_t events, std::size_t deliveries) {
                metrics.EventsAccepted(events);
                metrics.DeliveriesCreated(deliveries);
                if (deliveries > 0) dispatcher.Wake();
            });
        if (auto r = capture->Prepare(); !r) {
            if (r.error().code == ErrorCode::kInvalid) {
                spdlog::error("{}", r.error().message);
                return 1;
            }
            // The source is unreachable or needs an operator: the capture thread keeps trying
            // and GET /v1/capture shows why.
        }
    }

    api::ApiOptions aopt;
    if (capture) aopt.capture = [&c = *capture] { return c.State(); };
    aopt.operator_token = s.operator_token;
    aopt.policy = s.policy;
    aopt.metrics_token = s.metrics_token;
    aopt.rate_per_second = s.api_rate_limit;
    aopt.rate_burst = s.api_rate_limit * 2;
    aopt.ca_file = s.ca_file;
    api::Api api(**store, dispatcher, *catalogue, metrics, clock, aopt);
    api.SetFallback(ui::ServeAdmin);

    (*store)->OnNewWork([&dispatcher] { dispatcher.Wake(); });
    // Destroyed before the dispatcher: from then on the store's listener thread never
    // calls into it (OnNewWork(nullptr) waits for a call under way).
    struct Unsubscribe {
        store::Store& store;
        ~Unsubscribe() { store.OnNewWork(nullptr); }
    } unsubscribe{**store};

    api::HttpServerOptions hopt;
    hopt.host = s.host;
    hopt.port = s.port;
    hopt.handler_threads = s.handler_threads;
    hopt.read_timeout_ms = s.client_timeout_ms;
    hopt.max_connections = s.max_connections;
    api::HttpServer server(hopt, [&api](const api::HttpRequest& r) { return api.Handle(r); });
    if (auto r = server.Start(); !r) {
        spdlog::error("{}", r.error().message);
        return 1;
    }
    dispatcher.Start();
    if (capture) capture->Start();
    Janitor janitor(**store, clock, s.retention_ms, s.purge_interval_ms);

    const std::string host = s.host.find(':') != std::string::npos ? "[" + s.host + "]" : s.host;
    const std::string base = "http://" + host + ":" + std::to_string(server.port());
    if (shared) {
        spdlog::info("hookd {} listening on {} (database PostgreSQL, node {})", HOOKD_VERSION, base, s.node_id);
    } else {
        spdlog::info("hookd {} listening on {} (database sqlite:{}, synchronous={})", HOOKD_VERSION, base,
                     s.sqlite_path, s.sqlite_synchronous);
    }
    spdlog::info("admin page: {}/admin/", base);
    if (capture) {
        const auto st = capture->State();
        spdlog::info("change capture: slot {}, publication {} (state at GET /v1/capture)", st.slot.value_or(""),
                     st.publication.value_or(""));
    }
    spdlog::info("retry schedule: {} attempts; private network targets {}", s.schedule.attempts(),
                 s.policy.allow_private_network() ? "ALLOWED (--allow-private-network)" : "refused");
    if (!s.policy.allow_list().empty()) {
        std::string cidrs;
        for (const auto& c : s.policy.allow_list()) {
            cidrs += (cidrs.empty() ? "" : ", ") + ToString(c.base) + "/" + std::to_string(c.prefix);
        }
        spdlog::info("allowed despite the address guard (--allow-cidr): {}", cidrs);
    }

    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("received {}, draining (up to {} ms)", sig == SIGTERM ? "SIGTERM" : "SIGINT", s.drain_ms);
    server.Stop();
    if (capture) capture->Stop();
    dispatcher.Stop(s.drain_ms);
    spdlog::info("stopped");
    return 0;
}

}  // namespace hookd::cli
