// `hookd check-receiver`: the receiver checks of delivery/receiver_check, from the command line.
#include <boost/json.hpp>

#include <cstdio>
#include <ctime>

#include "api/json_io.hpp"
#include "cli/commands.hpp"
#include "core/domain.hpp"
#include "core/time.hpp"
#include "delivery/receiver_check.hpp"

namespace hookd::cli {
namespace {

int Usage(const std::string& message) {
    std::fprintf(stderr, "hookd check-receiver: %s\n", message.c_str());
    return 2;
}

}  // namespace

int CheckReceiver(const CheckReceiverOptions& o) {
    delivery::ReceiverCheckOptions c;
    c.url = o.url;
    c.secrets = {o.secret};
    auto method = ParseMethod(o.method);
    if (!method) return Usage("--method must be POST or GET");
    c.method = *method;
    auto event = ParseEventType(o.event);
    if (!event) return Usage("--event must be CREATE, UPDATE, DELETE or ARCHIVE");
    c.event = *event;
    c.entity = o.entity;
    if (o.entity.empty()) return Usage("--entity must not be empty");
    const bool numeric = !o.entity_id.empty() && o.entity_id.find_first_not_of("0123456789") == std::string::npos;
    if (!numeric && !IsValidEntityIdString(o.entity_id)) {
        return Usage("--entity-id must be a number or [A-Za-z0-9._~-]{1,128}");
    }
    c.entity_id = EntityId{o.entity_id, numeric};
    auto timeout = ParseDuration(o.timeout);
    if (!timeout || *timeout < 1000 || *timeout > 60'000) return Usage("--timeout must be from 1s to 60s");
    c.timeout_ms = static_cast<std::int32_t>(*timeout);
    std::vector<Cidr> cidrs;
    for (const auto& text : o.allow_cidrs) {
        auto cidr = Cidr::Parse(text);
        if (!cidr) return Usage("--allow-cidr " + text + ": " + cidr.error().message);
        cidrs.push_back(*cidr);
    }
    c.policy = AddressPolicy(o.allow_private_network, std::move(cidrs));
    c.ca_file = o.ca_file;

    auto results = delivery::RunReceiverCheck(c, static_cast<std::int64_t>(std::time(nullptr)));
    if (!results) return Usage(results.error().message);
    if (o.json) {
        std::printf("%s\n", boost::json::serialize(api::CheckReportJson(c.url, c.method, *results)).c_str());
    } else {
        int warnings = 0, failures = 0;
        for (const auto& r : *results) {
            std::printf("%.*s %s: %s\n", static_cast<int>(delivery::ToString(r.verdict).size()),
                        delivery::ToString(r.verdict).data(), r.name.c_str(), r.detail.c_str());
            warnings += r.verdict == delivery::Verdict::kWarn;
            failures += r.verdict == delivery::Verdict::kFail;
        }
        std::fflush(stdout);
        std::fprintf(stderr, "%s %s: %d failed, %d warnings (what each check means: docs/receivers.md)\n",
                     std::string(ToString(c.method)).c_str(), c.url.c_str(), failures, warnings);
    }
    return delivery::NoFailures(*results) ? 0 : 1;
}

}  // namespace hookd::cli
