#include "app/config.hpp"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace hookd::app {

namespace {

std::string Trim(const std::string& s) {
    const auto begin = s.find_first_not_of(" \t\r");
    if (begin == std::string::npos) return "";
    return s.substr(begin, s.find_last_not_of(" \t\r") - begin + 1);
}

}  // namespace

Result<std::vector<ConfigEntry>> ReadConfigFile(const std::string& path) {
    const std::string where = "--config " + path;
    if (std::filesystem::is_directory(path)) return Fail(Error::Invalid(where + ": is a folder, not a file"));
    std::ifstream in(path);
    if (!in) return Fail(Error::Invalid(where + ": cannot read it: " + std::strerror(errno)));
    std::vector<ConfigEntry> entries;
    std::string text;
    for (int line = 1; std::getline(in, text); ++line) {
        const std::string l = Trim(text);
        if (l.empty() || l.front() == '#') continue;
        const std::string at = where + " line " + std::to_string(line) + ": ";
        const auto eq = l.find('=');
        if (eq == std::string::npos || l.front() == '[') {
            return Fail(Error::Invalid(at + "expected key = value, got '" + l.substr(0, 60) + "'"));
        }
        ConfigEntry e{Trim(l.substr(0, eq)), Trim(l.substr(eq + 1)), line};
        if (e.key.empty()) return Fail(Error::Invalid(at + "the key before '=' is empty"));
        if (e.value.size() >= 2 && (e.value.front() == '"' || e.value.front() == '\'') &&
            e.value.back() == e.value.front()) {
            e.value = e.value.substr(1, e.value.size() - 2);
        }
        for (const auto& earlier : entries) {
            if (earlier.key == e.key) {
                return Fail(
                    Error::Invalid(at + "'" + e.key + "' is already set on line " + std::to_string(earlier.line)));
            }
        }
        entries.push_back(std::move(e));
    }
    if (in.bad()) return Fail(Error::Invalid(where + ": cannot read it: " + std::strerror(errno)));
    return entries;
}

Result<cli::ServeSettings> Validate(const ServeFlags& f) {
    cli::ServeSettings s;
    const auto colon = f.listen.rfind(':');
    if (colon == std::string::npos || colon == 0) {
        return Fail(Error::Invalid("--listen: expected HOST:PORT, got '" + f.listen + "'"));
    }
    s.host = f.listen.substr(0, colon);
    if (s.host.size() > 2 && s.host.front() == '[' && s.host.back() == ']') s.host = s.host.substr(1, s.host.size() - 2);
    if (s.host == "localhost") s.host = "127.0.0.1";
    int port = -1;
    const std::string p = f.listen.substr(colon + 1);
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
    if (ec != std::errc() || ptr != p.data() + p.size() || port < 0 || port > 65535) {
        return Fail(Error::Invalid("--listen: bad port '" + p + "'"));
    }
    s.port = static_cast<unsigned short>(port);

    auto db = cli::ParseDbUrl(f.db);
    if (!db) return Fail(db.error());
    s.sqlite_path = db->sqlite_path;
    s.postgres_url = db->postgres_url;
    s.data_dir = db->data_dir;

    std::vector<Cidr> cidrs;
    for (const auto& item : f.allow_cidrs) {
        std::size_t pos = 0;
        while (pos <= item.size()) {
            std::size_t end = item.find(',', pos);
            if (end == std::string::npos) end = item.size();
            const std::string one = item.substr(pos, end - pos);
            if (!one.empty()) {
                auto c = Cidr::Parse(one);
                if (!c) return Fail(Error::Invalid("--allow-cidr: " + c.error().message));
                cidrs.push_back(*c);
            }
            pos = end + 1;
        }
    }
    s.policy = AddressPolicy(f.allow_private_network, std::move(cidrs));

    if (!f.retry_schedule.empty()) {
        auto sched = RetrySchedule::Parse(f.retry_schedule);
        if (!sched) return Fail(Error::Invalid("--retry-schedule: " + sched.error().message));
        s.schedule = *sched;
    }
    auto duration = [](const std::string& flag, const std::string& v, DurationMs min) -> Result<DurationMs> {
        auto d = ParseDuration(v);
        if (!d || *d < min) {
            return Fail(Error::Invalid(flag + ": bad duration '" + v + "' (use e.g. 500ms, 10s, 5m, 2h, 30d)"));
        }
        return *d;
    };
    auto lease = duration("--lease", f.lease, 1000);
    if (!lease) return Fail(lease.error());
    s.lease_ms = *lease;
    auto drain = duration("--drain-timeout", f.drain_timeout, 0);
    if (!drain) return Fail(drain.error());
    s.drain_ms = *drain;
    auto retention = duration("--retention", f.retention, 1000);
    if (!retention) return Fail(retention.error());
    s.retention_ms = *retention;
    auto purge = duration("--purge-interval", f.purge_interval, 100);
    if (!purge) return Fail(purge.error());
    s.purge_interval_ms = *purge;
    auto disable = duration("--auto-disable-after", f.auto_disable_after, 0);
    if (!disable) return Fail(disable.error());
    s.auto_disable_after_ms = *disable;
    auto busy = duration("--sqlite-busy-timeout", f.busy_timeout, 0);
    if (!busy || *busy > 600'000) return Fail(Error::Invalid("--sqlite-busy-timeout: expected 0s to 10m"));
    s.busy_timeout_ms = static_cast<int>(*busy);

    if (f.sqlite_synchronous != "FULL" && f.sqlite_synchronous != "NORMAL") {
        return Fail(Error::Invalid("--sqlite-synchronous: expected FULL or NORMAL"));
    }
    s.sqlite_synchronous = f.sqlite_synchronous;
    if (f.max_in_flight < 1 || f.max_in_flight > 100000) {
        return Fail(Error::Invalid("--max-in-flight: expected 1 to 100000"));
    }
    s.max_in_flight = f.max_in_flight;
    auto client = duration("--client-timeout", f.client_timeout, 100);
    if (!client || *client > 3'600'000) return Fail(Error::Invalid("--client-timeout: expected 100ms to 1h"));
    s.client_timeout_ms = static_cast<int>(*client);
    if (f.max_connections < 1 || f.max_connections > 1'000'000) {
        return Fail(Error::Invalid("--max-connections: expected 1 to 1000000"));
    }
    s.max_connections = f.max_connections;
    if (f.handler_threads < 1 || f.handler_threads > 256) {
        return Fail(Error::Invalid("--handler-threads: expected 1 to 256"));
    }
    s.handler_threads = f.handler_threads;
    if (f.api_rate_limit < 0) return Fail(Error::Invalid("--api-rate-limit: must not be negative"));
    s.api_rate_limit = f.api_rate_limit;
    static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
    if (std::find(std::begin(kLevels), std::end(kLevels), f.log_level) == std::end(kLevels)) {
        return Fail(Error::Invalid("--log-level: expected trace, debug, info, warn, error or off"));
    }
    s.log_level = f.log_level;
    if (f.log_format != "text" && f.log_format != "json") {
        return Fail(Error::Invalid("--log-format: expected text or json"));
    }
    s.log_json = f.log_format == "json";
    s.catalog_file = f.catalog_file;
    s.master_key_file =
        f.master_key_file.empty() ? (std::filesystem::path(s.data_dir) / "master.key").string() : f.master_key_file;
    s.metrics_token = f.metrics_token;
    s.ca_file = f.ca_file;
    if (!s.ca_file.empty() && !std::filesystem::exists(s.ca_file)) {
        return Fail(Error::Invalid("--ca-file: " + s.ca_file + " does not exist"));
    }
    s.node_id = f.node_id;
    if (s.node_id.empty()) {
        char host[256] = {};
        gethostname(host, sizeof host - 1);
        // Stable across restarts (so a restarted node resumes its own leases at once) and
        // unique per host as long as each node listens on its own port.
        s.node_id = std::string(host) + ":" + std::to_string(s.port == 0 ? getpid() : s.port);
    }
    if (const char* t = std::getenv("HOOKD_OPERATOR_TOKEN"); t && *t) {
        s.operator_token = t;
        s.operator_token_source = "HOOKD_OPERATOR_TOKEN";
    } else if (!f.operator_token_file.empty()) {
        // A file (e.g. in /etc/hookd, or a systemd credential): the token, trailing space and newlines ignored.
        std::ifstream in(f.operator_token_file);
        if (!in) {
            return Fail(Error::Invalid("--operator-token-file: cannot read " + f.operator_token_file + ": " +
                                       std::strerror(errno)));
        }
        std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
        if (token.empty()) return Fail(Error::Invalid("--operator-token-file: " + f.operator_token_file + " is empty"));
        if (token.find_first_of(" \t\r\n") != std::string::npos) {
            return Fail(Error::Invalid("--operator-token-file: " + f.operator_token_file + " holds more than one line"));
        }
        s.operator_token = std::move(token);
        s.operator_token_source = f.operator_token_file;
    }
    if (const char* k = std::getenv("HOOKD_MASTER_KEY"); k && *k) s.master_key_env = k;
    if (!f.capture.empty() && !cli::IsPostgresUrl(f.capture)) {
        return Fail(Error::Invalid("--capture: expected postgresql://USER@HOST:PORT/DB"));
    }
    if (f.capture.empty() != f.capture_map.empty()) {
        return Fail(Error::Invalid(f.capture.empty() ? "--capture-map: needs --capture (the source database)"
                                                     : "--capture: needs --capture-map (the capture map file)"));
    }
    s.capture_url = f.capture;
    s.capture_map_file = f.capture_map;
    return s;
}

}  // namespace hookd::app
