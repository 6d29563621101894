// hookd-load: submits change events to hookd's API with libcurl multi.
//
// Closed loop (default): `--events N` events in batches of `--batch B`, with up to
// `--concurrency C` requests in flight, as fast as hookd accepts them.
// Open loop (`--rate R`): batch i is sent at start + i*B/R seconds (a fixed offered
// rate, whatever the answers), still with at most C in flight.
// Entity ids are consecutive integers from `--id-start`, one per event, so that the
// receiver can match each delivery to its submit time.
//
// Writes one line per request to `--out FILE` (optional):
//   firstEntityId batchSize sendNs ackNs httpStatus
// and prints a JSON summary on stdout. Requests answered 429/503 or failing at the
// transport level are retried (up to 5 times, 50 ms apart); a request that still fails,
// or any other status than 202, counts in "failed".
#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::int64_t NowNs() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::size_t Discard(char*, std::size_t size, std::size_t n, void*) { return size * n; }

struct Options {
    std::string url;
    std::string token;
    std::int64_t events = 1000;
    int batch = 1;
    int concurrency = 16;
    double rate = 0;  // events/s; 0 = closed loop
    std::int64_t id_start = 1;
    std::string event = "CREATE";
    std::string entity = "Agreement";
    std::string out;
    double max_seconds = 300;
};

struct Slot {
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    std::string body;
    std::int64_t first_id = 0;
    int count = 0;
    std::int64_t send_ns = 0;  // first send (retries keep it)
    int tries = 0;
    bool busy = false;
};

struct Pending {
    std::int64_t first_id;
    int count;
    std::int64_t send_ns;
    int tries;
};

std::string Body(const Options& o, std::int64_t first, int count) {
    std::string b;
    b.reserve(static_cast<std::size_t>(count) * 60 + 16);
    auto one = [&](std::int64_t id) {
        b += "{\"event\":\"";
        b += o.event;
        b += "\",\"entity\":\"";
        b += o.entity;
        b += "\",\"entityId\":";
        b += std::to_string(id);
        b += '}';
    };
    if (count == 1) {
        one(first);
        return b;
    }
    b = "{\"events\":[";
    for (int i = 0; i < count; ++i) {
        if (i) b += ',';
        one(first + i);
    }
    b += "]}";
    return b;
}

double Percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const auto idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(idx, v.size() - 1)];
}

int Usage() {
    std::fprintf(stderr,
                 "usage: hookd-load --url URL --token TOKEN [--events N] [--batch B] [--concurrency C]\n"
                 "                  [--rate EVENTS_PER_S] [--id-start K] [--event CREATE] [--entity Agreement]\n"
                 "                  [--out FILE] [--max-seconds S]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (i + 1 >= argc) return Usage();
        const char* v = argv[++i];
        if (a == "--url") o.url = v;
        else if (a == "--token") o.token = v;
        else if (a == "--events") o.events = std::atoll(v);
        else if (a == "--batch") o.batch = std::atoi(v);
        else if (a == "--concurrency") o.concurrency = std::atoi(v);
        else if (a == "--rate") o.rate = std::atof(v);
        else if (a == "--id-start") o.id_start = std::atoll(v);
        else if (a == "--event") o.event = v;
        else if (a == "--entity") o.entity = v;
        else if (a == "--out") o.out = v;
        else if (a == "--max-seconds") o.max_seconds = std::atof(v);
        else return Usage();
    }
    if (o.url.empty() || o.batch < 1 || o.batch > 1000 || o.concurrency < 1 || o.events < 1) return Usage();

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM* multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(o.concurrency + 4));
    std::vector<Slot> slots(static_cast<std::size_t>(o.concurrency));
    const std::string auth = "Authorization: Bearer " + o.token;
    for (auto& s : slots) {
        s.easy = curl_easy_init();
        s.headers = curl_slist_append(s.headers, auth.c_str());
        s.headers = curl_slist_append(s.headers, "Content-Type: application/json");
        s.headers = curl_slist_append(s.headers, "Expect:");
        curl_easy_setopt(s.easy, CURLOPT_URL, o.url.c_str());
        curl_easy_setopt(s.easy, CURLOPT_HTTPHEADER, s.headers);
        curl_easy_setopt(s.easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(s.easy, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(s.easy, CURLOPT_WRITEFUNCTION, Discard);
        curl_easy_setopt(s.easy, CURLOPT_TIMEOUT_MS, 60'000L);
        curl_easy_setopt(s.easy, CURLOPT_PRIVATE, &s);
        curl_easy_setopt(s.easy, CURLOPT_POST, 1L);
    }
    std::FILE* out = o.out.empty() ? nullptr : std::fopen(o.out.c_str(), "w");
    if (!o.out.empty() && !out) {
        std::fprintf(stderr, "hookd-load: cannot write %s\n", o.out.c_str());
        return 1;
    }

    const std::int64_t total_requests = (o.events + o.batch - 1) / o.batch;
    std::int64_t next_request = 0;  // index of the next new request
    std::deque<Pending> retry;      // requests to send again
    std::int64_t accepted = 0, failed_requests = 0, failed_events = 0, retries = 0, late = 0, done_requests = 0;
    std::vector<double> ack_ms;
    ack_ms.reserve(static_cast<std::size_t>(total_requests));
    const std::int64_t start_ns = NowNs();
    const std::int64_t deadline_ns = start_ns + static_cast<std::int64_t>(o.max_seconds * 1e9);
    const double interval_ns = o.rate > 0 ? 1e9 * o.batch / o.rate : 0;
    std::int64_t last_ack_ns = start_ns;
    std::int64_t retry_not_before = 0;
    int in_flight = 0;
    bool timed_out = false;

    auto start = [&](Slot& s, std::int64_t first, int count, std::int64_t send_ns, int tries) {
        s.first_id = first;
        s.count = count;
        s.send_ns = send_ns;
        s.tries = tries;
        s.busy = true;
        s.body = Body(o, first, count);
        curl_easy_setopt(s.easy, CURLOPT_POSTFIELDS, s.body.c_str());
        curl_easy_setopt(s.easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(s.body.size()));
        curl_multi_add_handle(multi, s.easy);
        ++in_flight;
    };

    while (done_requests < total_requests) {
        const std::int64_t now = NowNs();
        if (now > deadline_ns) {
            timed_out = true;
            break;
        }
        // Fill free slots: retries first (after a short pause), then new requests when due.
        int wait_ms = 50;
        for (auto& s : slots) {
            if (s.busy) continue;
            if (!retry.empty() && now >= retry_not_before) {
                Pending p = retry.front();
                retry.pop_front();
                start(s, p.first_id, p.count, p.send_ns, p.tries);
                continue;
            }
            if (next_request >= total_requests) break;
            std::int64_t due = start_ns;
            if (interval_ns > 0) due = start_ns + static_cast<std::int64_t>(interval_ns * static_cast<double>(next_request));
            if (due > now) {
                wait_ms = std::min<int>(wait_ms, static_cast<int>((due - now) / 1'000'000));
                break;
            }
            if (interval_ns > 0 && now - due > 5'000'000) ++late;  // sent > 5 ms after its slot
            const std::int64_t first = o.id_start + next_request * o.batch;
            const int count = static_cast<int>(std::min<std::int64_t>(o.batch, o.events - next_request * o.batch));
            ++next_request;
            // Open loop: the submit time is when the request was due (coordinated omission).
            start(s, first, count, interval_ns > 0 ? due : NowNs(), 0);
        }
        int running = 0;
        curl_multi_perform(multi, &running);
        int numfds = 0;
        const bool idle_slot = std::any_of(slots.begin(), slots.end(), [](const Slot& s) { return !s.busy; });
        const bool more = next_request < total_requests || !retry.empty();
        // Poll only when no transfer finished during perform (else its message would wait).
        if (running >= in_flight) {
            curl_multi_poll(multi, nullptr, 0, (idle_slot && more) ? std::max(0, wait_ms) : 50, &numfds);
        }
        curl_multi_perform(multi, &running);
        int left = 0;
        while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
            if (msg->msg != CURLMSG_DONE) continue;
            Slot* s = nullptr;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &s);
            long code = 0;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            const CURLcode rc = msg->data.result;
            curl_multi_remove_handle(multi, msg->easy_handle);
            --in_flight;
            s->busy = false;
            const std::int64_t ack = NowNs();
            const bool transient = rc != CURLE_OK || code == 429 || code == 503;
            if (transient && s->tries < 5) {
                ++retries;
                retry.push_back(Pending{s->first_id, s->count, s->send_ns, s->tries + 1});
                retry_not_before = ack + 50'000'000;
                continue;
            }
            ++done_requests;
            last_ack_ns = ack;
            if (rc == CURLE_OK && code == 202) {
                accepted += s->count;
                ack_ms.push_back(static_cast<double>(ack - s->send_ns) / 1e6);
            } else {
                ++failed_requests;
                failed_events += s->count;
                if (failed_requests <= 3) {
                    std::fprintf(stderr, "hookd-load: request failed: curl=%d (%s) http=%ld\n", static_cast<int>(rc),
                                 curl_easy_strerror(rc), code);
                }
            }
            if (out) {
                std::fprintf(out, "%lld %d %lld %lld %ld\n", static_cast<long long>(s->first_id), s->count,
                             static_cast<long long>(s->send_ns), static_cast<long long>(ack), code);
            }
        }
    }
    if (out) std::fclose(out);
    const double seconds = static_cast<double>(last_ack_ns - start_ns) / 1e9;
    std::printf(
        "{\"events\":%lld,\"accepted\":%lld,\"failedEvents\":%lld,\"failedRequests\":%lld,\"requests\":%lld,"
        "\"retries\":%lld,\"late\":%lld,\"timedOut\":%s,\"startNs\":%lld,\"endNs\":%lld,\"seconds\":%.6f,"
        "\"eventsPerSecond\":%.1f,\"ackP50Ms\":%.3f,\"ackP99Ms\":%.3f,\"ackMaxMs\":%.3f}\n",
        static_cast<long long>(o.events), static_cast<long long>(accepted), static_cast<long long>(failed_events),
        static_cast<long long>(failed_requests), static_cast<long long>(done_requests),
        static_cast<long long>(retries), static_cast<long long>(late), timed_out ? "true" : "false",
        static_cast<long long>(start_ns), static_cast<long long>(last_ack_ns), seconds,
        seconds > 0 ? static_cast<double>(accepted) / seconds : 0.0, Percentile(ack_ms, 0.5), Percentile(ack_ms, 0.99),
        Percentile(ack_ms, 1.0));
    for (auto& s : slots) {
        if (s.busy) curl_multi_remove_handle(multi, s.easy);
        curl_slist_free_all(s.headers);
        curl_easy_cleanup(s.easy);
    }
    curl_multi_cleanup(multi);
    curl_global_cleanup();
    return (timed_out || failed_requests > 0) ? 1 : 0;
}
