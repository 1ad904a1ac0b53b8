// Who the client is, as the access log shows it: the peer itself, or, when the peer is a trusted
// proxy, the address its forwarding header names (SPEC §3 [proxy], §6). Pure: no I/O, and no
// allocation, since it runs for every logged request.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "base/ip.hpp"
#include "lithe/config.hpp"
#include "lithe/request.hpp"

namespace lithe::log {

using base::ip_text_size;
using base::IpAddress;

// Whether a peer at this address is one of proxy.trusted.
bool is_trusted(const ProxyConfig& proxy, const IpAddress& address) noexcept;

// The client's address. An untrusted peer is the client whatever its headers say. A trusted
// peer's proxy.client_header (name matched case-insensitively; every field of it counts) is
// read as follows:
//  - X-Forwarded-For and Forwarded (its for= parameters): the list of hops is walked from the
//    right; the first hop not itself trusted is the client, and when all are, the leftmost.
//    A hop that cannot be read (garbage, "unknown", an obfuscated "_name", a Forwarded element
//    without for=) stops the walk: the hop to its right (or the peer) is the client, as nothing
//    left of it can be believed.
//  - X-Real-IP: its value when there is exactly one such field and it is an IP address.
// Anything else (no header, an unreadable one, an unknown client_header) gives the peer.
IpAddress resolve_client_address(const IpAddress& peer, const ProxyConfig& proxy,
                                 std::span<const Header> headers) noexcept;

// The address a trusted peer's forwarding header names, by the rules above; nullopt when it
// names none (the peer then stands). For peers trusted by other means (unix sockets).
std::optional<IpAddress> forwarded_client(const ProxyConfig& proxy,
                                          std::span<const Header> headers) noexcept;

// resolve_client_address, formatted into out.
std::string_view client_address(const IpAddress& peer, const ProxyConfig& proxy,
                                std::span<const Header> headers,
                                char (&out)[ip_text_size]) noexcept;

}  // namespace lithe::log
