#include "core/address_guard.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace hookd {
namespace {

IpAddress V4(std::uint32_t host_order) {
    IpAddress ip;
    ip.bytes[0] = static_cast<unsigned char>(host_order >> 24);
    ip.bytes[1] = static_cast<unsigned char>(host_order >> 16);
    ip.bytes[2] = static_cast<unsigned char>(host_order >> 8);
    ip.bytes[3] = static_cast<unsigned char>(host_order);
    return ip;
}

std::uint32_t V4Value(const unsigned char* b) {
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
}

bool InV4(std::uint32_t ip, std::uint32_t net, int prefix) {
    const std::uint32_t mask = prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
    return (ip & mask) == (net & mask);
}

bool IsNonPublicV4(std::uint32_t ip) {
    struct Range {
        std::uint32_t net;
        int prefix;
    };
    static constexpr Range kRanges[] = {
        {0x00000000, 8},   // 0.0.0.0/8 "this network", unspecified
        {0x0A000000, 8},   // 10.0.0.0/8 private
        {0x64400000, 10},  // 100.64.0.0/10 CGNAT
        {0x7F000000, 8},   // 127.0.0.0/8 loopback
        {0xA9FE0000, 16},  // 169.254.0.0/16 link-local, cloud metadata
        {0xAC100000, 12},  // 172.16.0.0/12 private
        {0xC0000000, 24},  // 192.0.0.0/24 IETF protocol assignments
        {0xC0000200, 24},  // 192.0.2.0/24 TEST-NET-1
        {0xC0586300, 24},  // 192.88.99.0/24 6to4 relay
        {0xC0A80000, 16},  // 192.168.0.0/16 private
        {0xC6120000, 15},  // 198.18.0.0/15 benchmarking
        {0xC6336400, 24},  // 198.51.100.0/24 TEST-NET-2
        {0xCB007100, 24},  // 203.0.113.0/24 TEST-NET-3
        {0xE0000000, 4},   // 224.0.0.0/4 multicast
        {0xF0000000, 4},   // 240.0.0.0/4 reserved, broadcast
    };
    for (const auto& r : kRanges) {
        if (InV4(ip, r.net, r.prefix)) return true;
    }
    return false;
}

// One part of a classic inet_aton address: decimal, 0x hex or 0 octal.
std::optional<std::uint64_t> ParsePart(std::string_view s) {
    if (s.empty()) return std::nullopt;
    int base = 10;
    if (s.size() > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s.remove_prefix(2);
        if (s.empty()) return std::uint64_t{0};
    } else if (s.size() > 1 && s[0] == '0') {
        base = 8;
        s.remove_prefix(1);
    }
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
    if (ec != std::errc() || p != s.data() + s.size() || v > 0xFFFFFFFFull) return std::nullopt;
    return v;
}

// WHATWG / inet_aton forms: a, a.b, a.b.c, a.b.c.d with each part in any base.
std::optional<std::uint32_t> ParseLooseV4(std::string_view s) {
    if (!s.empty() && s.back() == '.') s.remove_suffix(1);
    std::vector<std::uint64_t> parts;
    std::size_t pos = 0;
    while (true) {
        const std::size_t dot = s.find('.', pos);
        auto part = ParsePart(s.substr(pos, dot == std::string_view::npos ? std::string_view::npos : dot - pos));
        if (!part) return std::nullopt;
        parts.push_back(*part);
        if (dot == std::string_view::npos) break;
        pos = dot + 1;
        if (parts.size() == 4) return std::nullopt;
    }
    std::uint64_t value = 0;
    const std::size_t n = parts.size();
    for (std::size_t i = 0; i + 1 < n; ++i) {
        if (parts[i] > 255) return std::nullopt;
        value |= parts[i] << (8 * (3 - i));
    }
    const int last_bits = static_cast<int>(8 * (5 - n));
    if (parts[n - 1] >= (std::uint64_t{1} << last_bits)) return std::nullopt;
    return static_cast<std::uint32_t>(value | parts[n - 1]);
}

}  // namespace

bool Cidr::Contains(const IpAddress& ip) const {
    if (ip.v6 != base.v6) return false;
    int bits = prefix;
    for (int i = 0; bits > 0; ++i, bits -= 8) {
        const unsigned char mask = bits >= 8 ? 0xFF : static_cast<unsigned char>(0xFF << (8 - bits));
        if ((ip.bytes[i] & mask) != (base.bytes[i] & mask)) return false;
    }
    return true;
}

Result<Cidr> Cidr::Parse(std::string_view text) {
    const auto slash = text.find('/');
    const std::string addr(text.substr(0, slash));
    Cidr c;
    if (inet_pton(AF_INET, addr.c_str(), c.base.bytes) == 1) {
        c.prefix = 32;
    } else if (inet_pton(AF_INET6, addr.c_str(), c.base.bytes) == 1) {
        c.base.v6 = true;
        c.prefix = 128;
    } else {
        return Fail(Error::Invalid("bad CIDR '" + std::string(text) + "'"));
    }
    if (slash != std::string_view::npos) {
        const auto p = text.substr(slash + 1);
        int n = -1;
        auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), n);
        if (ec != std::errc() || ptr != p.data() + p.size() || n < 0 || n > c.prefix) {
            return Fail(Error::Invalid("bad CIDR prefix in '" + std::string(text) + "'"));
        }
        c.prefix = n;
    }
    return c;
}

std::optional<IpAddress> ParseLiteralHost(std::string_view host) {
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host.empty() || host.size() > 255) return std::nullopt;
    const std::string h(host);
    IpAddress ip;
    if (h.find(':') != std::string::npos) {
        std::string addr = h.substr(0, h.find('%'));  // drop a zone id
        if (inet_pton(AF_INET6, addr.c_str(), ip.bytes) == 1) {
            ip.v6 = true;
            return ip;
        }
        return std::nullopt;
    }
    if (auto v4 = ParseLooseV4(host)) return V4(*v4);
    return std::nullopt;
}

std::optional<IpAddress> FromSockaddr(const sockaddr* sa) {
    IpAddress ip;
    if (sa->sa_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
        std::memcpy(ip.bytes, &in->sin_addr, 4);
        return ip;
    }
    if (sa->sa_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
        std::memcpy(ip.bytes, &in6->sin6_addr, 16);
        ip.v6 = true;
        return ip;
    }
    return std::nullopt;
}

std::string ToString(const IpAddress& ip) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(ip.v6 ? AF_INET6 : AF_INET, ip.bytes, buf, sizeof buf);
    return buf;
}

bool IsNonPublic(const IpAddress& ip) {
    if (!ip.v6) return IsNonPublicV4(V4Value(ip.bytes));
    const unsigned char* b = ip.bytes;
    static constexpr unsigned char kZero[16] = {};
    // ::/96 covers :: (unspecified), ::1 (loopback) and IPv4-compatible addresses.
    if (std::memcmp(b, kZero, 12) == 0) return true;
    // ::ffff:0:0/96 IPv4-mapped → judge the IPv4 address.
    static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(b, kMapped, 12) == 0) return IsNonPublicV4(V4Value(b + 12));
    // 64:ff9b::/96 NAT64 → judge the embedded IPv4 address.
    static constexpr unsigned char kNat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (std::memcmp(b, kNat64, 12) == 0) return IsNonPublicV4(V4Value(b + 12));
    if ((b[0] & 0xfe) == 0xfc) return true;                  // fc00::/7 unique local
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return true;  // fe80::/10 link-local
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return true;  // fec0::/10 site-local (deprecated)
    if (b[0] == 0xff) return true;                           // ff00::/8 multicast
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return true;  // 2001:db8::/32 docs
    if (b[0] == 0x01 && b[1] == 0x00 && std::memcmp(b + 2, kZero, 6) == 0) return true;  // 100::/64 discard
    if (b[0] == 0x20 && b[1] == 0x02) return true;  // 2002::/16 6to4 can tunnel to any IPv4
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0) return true;  // 2001::/32 Teredo
    return false;
}

bool AddressPolicy::Allows(const IpAddress& ip) const {
    if (allow_private_ || !IsNonPublic(ip)) return true;
    for (const auto& c : allow_) {
        if (c.Contains(ip)) return true;
    }
    return false;
}

}  // namespace hookd
