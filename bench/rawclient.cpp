// hookd-rawclient: "the limit". A plain libcurl-multi client that sends what hookd
// sends for a delivery (same URL, body and headers, both HMAC-SHA256 signatures
// computed per request) over keep-alive connections with a fixed number of transfers
// in flight, and nothing else: no store, no scheduling, no bookkeeping.
//
// Usage: hookd-rawclient --url URL [--requests N] [--concurrency C] [--method POST|GET]
//                        [--secret S] [--id-start K] [--max-seconds S]
// Prints a JSON summary: requests/s and the client's own CPU seconds.
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::int64_t NowNs() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

double CpuSeconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

std::size_t Discard(char*, std::size_t size, std::size_t n, void*) { return size * n; }

std::string Hmac(std::string_view key, std::string_view msg) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(msg.data()),
         msg.size(), out, &len);
    return std::string(reinterpret_cast<const char*>(out), len);
}

std::string Hex(std::string_view raw) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(raw.size() * 2);
    for (unsigned char c : raw) {
        out.push_back(kDigits[c >> 4]);
        out.push_back(kDigits[c & 15]);
    }
    return out;
}

std::string Base64(std::string_view raw) {
    std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

// A delivery-id-like string: "dlv_" + 26 characters, unique per request.
std::string MessageId(std::int64_t n) {
    static constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    std::string id = "dlv_01JD0000000000";
    std::uint64_t v = static_cast<std::uint64_t>(n);
    std::string tail(12, '0');
    for (int i = 11; i >= 0; --i) {
        tail[static_cast<std::size_t>(i)] = kCrockford[v & 31];
        v >>= 5;
    }
    return id + tail;
}

struct Slot {
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    std::string url;
    std::string body;
    bool busy = false;
};

int Usage() {
    std::fprintf(stderr,
                 "usage: hookd-rawclient --url URL [--requests N] [--concurrency C] [--method POST|GET] "
                 "[--secret S] [--id-start K] [--max-seconds S]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::string url;
    std::int64_t requests = 10000;
    int concurrency = 64;
    std::string method = "POST";
    std::string secret = "bench-secret";
    std::int64_t id_start = 1;
    double max_seconds = 120;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (i + 1 >= argc) return Usage();
        const char* v = argv[++i];
        if (a == "--url") url = v;
        else if (a == "--requests") requests = std::atoll(v);
        else if (a == "--concurrency") concurrency = std::atoi(v);
        else if (a == "--method") method = v;
        else if (a == "--secret") secret = v;
        else if (a == "--id-start") id_start = std::atoll(v);
        else if (a == "--max-seconds") max_seconds = std::atof(v);
        else return Usage();
    }
    if (url.empty() || concurrency < 1 || requests < 1 || (method != "POST" && method != "GET")) return Usage();
    const bool post = method == "POST";
    // hookd joins GET URLs with "/CREATE/Agreement/<id>" (before any query).
    std::string base = url, query;
    if (auto q = base.find('?'); q != std::string::npos) {
        query = base.substr(q);
        base.resize(q);
    }
    while (!base.empty() && base.back() == '/') base.pop_back();

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM* multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(concurrency + 4));
    std::vector<Slot> slots(static_cast<std::size_t>(concurrency));
    for (auto& s : slots) {
        s.easy = curl_easy_init();
        curl_easy_setopt(s.easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(s.easy, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(s.easy, CURLOPT_WRITEFUNCTION, Discard);
        curl_easy_setopt(s.easy, CURLOPT_TIMEOUT_MS, 15'000L);
        curl_easy_setopt(s.easy, CURLOPT_PRIVATE, &s);
        if (post) curl_easy_setopt(s.easy, CURLOPT_POST, 1L);
        else curl_easy_setopt(s.easy, CURLOPT_HTTPGET, 1L);
    }

    std::int64_t next = 0, done = 0, ok = 0, failed = 0;
    const double cpu0 = CpuSeconds();
    const std::int64_t start_ns = NowNs();
    const std::int64_t deadline = start_ns + static_cast<std::int64_t>(max_seconds * 1e9);
    std::int64_t end_ns = start_ns;
    int running = 0;
    bool timed_out = false;
    while (done < requests) {
        if (NowNs() > deadline) {
            timed_out = true;
            break;
        }
        for (auto& s : slots) {
            if (s.busy || next >= requests) continue;
            const std::int64_t id = id_start + next++;
            const std::string ids = std::to_string(id);
            const std::string msg_id = MessageId(id);
            const std::string ts = std::to_string(NowNs() / 1'000'000'000);
            std::string signed_payload;
            if (post) {
                s.body = "{\"event\":\"CREATE\",\"entity\":\"Agreement\",\"entityId\":" + ids + "}";
                signed_payload = s.body;
                s.url = url;
            } else {
                signed_payload = "/CREATE/Agreement/" + ids;
                s.url = base + signed_payload + query;
            }
            curl_slist_free_all(s.headers);
            s.headers = nullptr;
            if (post) s.headers = curl_slist_append(s.headers, "Content-Type: application/json");
            s.headers = curl_slist_append(
                s.headers, ("x-ioffice-signature: " + Hex(Hmac(secret, "CREATE:Agreement:" + ids))).c_str());
            s.headers = curl_slist_append(s.headers, ("webhook-id: " + msg_id).c_str());
            s.headers = curl_slist_append(s.headers, ("webhook-timestamp: " + ts).c_str());
            s.headers = curl_slist_append(
                s.headers,
                ("webhook-signature: v1," + Base64(Hmac(secret, msg_id + "." + ts + "." + signed_payload))).c_str());
            s.headers = curl_slist_append(s.headers, "User-Agent: hookd/bench");
            s.headers = curl_slist_append(s.headers, "Expect:");
            curl_easy_setopt(s.easy, CURLOPT_URL, s.url.c_str());
            curl_easy_setopt(s.easy, CURLOPT_HTTPHEADER, s.headers);
            if (post) {
                curl_easy_setopt(s.easy, CURLOPT_POSTFIELDS, s.body.c_str());
                curl_easy_setopt(s.easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(s.body.size()));
            }
            curl_multi_add_handle(multi, s.easy);
            s.busy = true;
        }
        curl_multi_perform(multi, &running);
        int numfds = 0;
        // Poll only when no transfer finished during perform (else its message would wait).
        const auto busy = std::count_if(slots.begin(), slots.end(), [](const Slot& x) { return x.busy; });
        if (running >= busy) curl_multi_poll(multi, nullptr, 0, 50, &numfds);
        curl_multi_perform(multi, &running);
        int left = 0;
        while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
            if (m->msg != CURLMSG_DONE) continue;
            Slot* s = nullptr;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &s);
            long code = 0;
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            if (m->data.result == CURLE_OK && code >= 200 && code <= 299) ++ok;
            else ++failed;
            curl_multi_remove_handle(multi, m->easy_handle);
            s->busy = false;
            ++done;
            end_ns = NowNs();
        }
    }
    const double seconds = static_cast<double>(end_ns - start_ns) / 1e9;
    const double cpu = CpuSeconds() - cpu0;
    std::printf(
        "{\"requests\":%lld,\"ok\":%lld,\"failed\":%lld,\"concurrency\":%d,\"method\":\"%s\",\"timedOut\":%s,"
        "\"seconds\":%.6f,\"requestsPerSecond\":%.1f,\"cpuSeconds\":%.4f,\"cpuSecondsPer1000\":%.5f}\n",
        static_cast<long long>(requests), static_cast<long long>(ok), static_cast<long long>(failed), concurrency,
        method.c_str(), timed_out ? "true" : "false", seconds, seconds > 0 ? static_cast<double>(ok) / seconds : 0.0,
        cpu, ok > 0 ? cpu * 1000.0 / static_cast<double>(ok) : 0.0);
    for (auto& s : slots) {
        if (s.busy) curl_multi_remove_handle(multi, s.easy);
        curl_slist_free_all(s.headers);
        curl_easy_cleanup(s.easy);
    }
    curl_multi_cleanup(multi);
    curl_global_cleanup();
    return (timed_out || failed > 0) ? 1 : 0;
}
