// libFuzzer target: payload URL checks and joining (core/wire.hpp) and the SSRF
// guard's address rules (core/address_guard.hpp).
//
// Input: "<url>\n<entity>\n<entity id>". The URL line is also tried as a literal
// host and as a CIDR; the whole input is tried as a host too.
//
// Properties checked, beyond "no crash, leak or undefined behaviour":
//  - a URL that CheckPayloadUrl accepts has a host, and JoinGetUrl succeeds on it
//    without changing its scheme or host, and drops the fragment;
//  - PathSuffix emits only "/" and percent-encoded or unreserved characters;
//  - a literal host that parses round-trips through ToString;
//  - IPv4-mapped and NAT64 forms of an IPv4 address are judged like the address;
//  - a parsed CIDR contains its own base address, and an allow-list of it allows it.
#include <boost/url.hpp>

#include <cstring>

#include "core/address_guard.hpp"
#include "core/wire.hpp"
#include "fuzz_common.hpp"

namespace {

using namespace hookd;
using fuzz::Check;

std::string SchemeAndHost(std::string_view url) {
    auto u = boost::urls::parse_uri(url);
    if (!u) return "<unparsed>";
    return std::string(u->scheme()) + "://" + std::string(u->encoded_host_and_port());
}

void CheckHost(std::string_view host) {
    auto ip = ParseLiteralHost(host);
    if (!ip) return;
    const bool non_public = IsNonPublic(*ip);
    const std::string text = ToString(*ip);
    auto again = ParseLiteralHost(text);
    Check(again && again->v6 == ip->v6 && std::memcmp(again->bytes, ip->bytes, 16) == 0,
          "ParseLiteralHost(ToString(ip)) round trip", std::string(host) + " -> " + text);
    Check(IsNonPublic(*again) == non_public, "IsNonPublic is stable", text);
    // Default policy refuses exactly the non-public addresses; --allow-private-network allows all.
    Check(AddressPolicy().Allows(*ip) == !non_public, "default policy == !IsNonPublic", text);
    Check(AddressPolicy(true, {}).Allows(*ip), "allow-private-network allows everything", text);
    if (!ip->v6) {
        IpAddress mapped;
        mapped.v6 = true;
        mapped.bytes[10] = mapped.bytes[11] = 0xff;
        std::memcpy(mapped.bytes + 12, ip->bytes, 4);
        Check(IsNonPublic(mapped) == non_public, "::ffff:a.b.c.d judged like a.b.c.d", text);
        IpAddress nat64;
        nat64.v6 = true;
        nat64.bytes[1] = 0x64;  // 64:ff9b::/96
        nat64.bytes[2] = 0xff;
        nat64.bytes[3] = 0x9b;
        std::memcpy(nat64.bytes + 12, ip->bytes, 4);
        Check(IsNonPublic(nat64) == non_public, "64:ff9b::a.b.c.d judged like a.b.c.d", text);
    }
}

void CheckCidr(std::string_view text) {
    auto c = Cidr::Parse(text);
    if (!c) return;
    Check(c->prefix >= 0 && c->prefix <= (c->base.v6 ? 128 : 32), "CIDR prefix in range", text);
    Check(c->Contains(c->base), "a CIDR contains its base address", text);
    Check(AddressPolicy(false, {*c}).Allows(c->base), "an allow-listed CIDR allows its base", text);
    IpAddress other = c->base;
    other.v6 = !other.v6;
    Check(!c->Contains(other), "a CIDR never matches the other family", text);
}

void CheckSuffix(const std::string& suffix, std::string_view what) {
    int slashes = 0;
    for (std::size_t i = 0; i < suffix.size(); ++i) {
        const char c = suffix[i];
        const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                                c == '-' || c == '.' || c == '_' || c == '~';
        if (c == '/') {
            ++slashes;
        } else if (c == '%') {
            Check(i + 2 < suffix.size() && std::isxdigit(static_cast<unsigned char>(suffix[i + 1])) &&
                      std::isxdigit(static_cast<unsigned char>(suffix[i + 2])),
                  "PathSuffix percent escapes are complete", suffix);
        } else {
            Check(unreserved, "PathSuffix emits only unreserved characters", suffix);
        }
    }
    Check(slashes == 3, "PathSuffix has exactly three segments", std::string(what) + " -> " + suffix);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 8192) return -1;
    const auto f = fuzz::Fields(data, size, 3);
    const std::string& url = f[0];

    const auto problem = wire::CheckPayloadUrl(url);
    const std::string host = wire::HostOf(url);
    EntityId id{f[2], !f[2].empty() && f[2].find_first_not_of("0123456789") == std::string::npos};
    for (EventType t : kAllEventTypes) {
        const std::string suffix = wire::PathSuffix(t, f[1], id);
        CheckSuffix(suffix, f[1] + "/" + f[2]);
        auto joined = wire::JoinGetUrl(url, suffix);
        if (!problem) {
            Check(static_cast<bool>(joined), "JoinGetUrl works on an accepted payload URL", url);
            Check(SchemeAndHost(*joined) == SchemeAndHost(url), "JoinGetUrl keeps scheme, host and port",
                  url + " -> " + *joined);
            Check(joined->find('#') == std::string::npos, "JoinGetUrl drops the fragment", *joined);
            Check(wire::HostOf(*joined) == host, "HostOf(joined) == HostOf(url)", url + " -> " + *joined);
        }
    }
    if (!problem) Check(!host.empty(), "an accepted payload URL has a host", url);

    CheckHost(host);
    CheckHost(url);
    CheckHost(std::string_view(reinterpret_cast<const char*>(data), size));
    CheckCidr(url);
    CheckCidr(std::string_view(reinterpret_cast<const char*>(data), size));
    return 0;
}
