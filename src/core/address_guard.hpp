#pragma once
// The SSRF guard's rules: which IP addresses a delivery may connect to. Pure.
#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace hookd {

struct IpAddress {
    bool v6 = false;
    unsigned char bytes[16] = {};  //!< network order; the first 4 for IPv4
};

struct Cidr {
    IpAddress base;
    int prefix = 0;
    [[nodiscard]] bool Contains(const IpAddress& ip) const;
    static Result<Cidr> Parse(std::string_view text);  //!< "10.0.0.0/8", "::1/128", "127.0.0.1"
};

//! Parses a literal host the way resolvers do, so odd forms are caught:
//! "127.0.0.1", "127.1", "0x7f.1", "2130706433", "::1", "::ffff:127.0.0.1" (brackets allowed).
[[nodiscard]] std::optional<IpAddress> ParseLiteralHost(std::string_view host);
[[nodiscard]] std::optional<IpAddress> FromSockaddr(const sockaddr* sa);
[[nodiscard]] std::string ToString(const IpAddress& ip);

//! True for loopback, private (RFC 1918, fc00::/7), link-local (incl. cloud metadata),
//! CGNAT, multicast, unspecified, documentation and reserved ranges, including the
//! IPv4-mapped / NAT64 / compatible IPv6 forms of each.
[[nodiscard]] bool IsNonPublic(const IpAddress& ip);

//! The guard as configured: refuse non-public addresses unless allowed.
class AddressPolicy final {
public:
    AddressPolicy() = default;
    AddressPolicy(bool allow_private_network, std::vector<Cidr> allow_list)
        : allow_private_(allow_private_network), allow_(std::move(allow_list)) {}
    [[nodiscard]] bool Allows(const IpAddress& ip) const;
    [[nodiscard]] bool allow_private_network() const { return allow_private_; }
    //! The CIDRs allowed despite the guard (--allow-cidr / HOOKD_ALLOW_CIDRS).
    [[nodiscard]] const std::vector<Cidr>& allow_list() const { return allow_; }

private:
    bool allow_private_ = false;
    std::vector<Cidr> allow_;
};

}  // namespace hookd
