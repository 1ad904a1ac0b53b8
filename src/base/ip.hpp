// IP addresses as every layer handles them: one 16-byte form (IPv4 mapped into IPv6), parsed from
// and formatted to text, and matched against the CIDRs of proxy.trusted.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "lithe/config.hpp"

namespace lithe::base {

// An IPv6 address, or an IPv4 one in its mapped form (::ffff:a.b.c.d), as Cidr::contains wants.
using IpAddress = std::array<uint8_t, 16>;

// Room for any address as text plus a NUL (INET6_ADDRSTRLEN).
inline constexpr std::size_t ip_text_size = 46;

// An IPv4 dotted quad or an IPv6 literal (no brackets, no zone, no port); IPv4 comes back mapped.
std::optional<IpAddress> parse_ip(std::string_view text) noexcept;

// The address as text in out: dotted quad for IPv4-mapped, compressed lowercase IPv6 otherwise
// (inet_ntop's form, no brackets). out is NUL-terminated as well.
std::string_view format_ip(const IpAddress& address, char (&out)[ip_text_size]) noexcept;

bool is_v4_mapped(const IpAddress& address) noexcept;

// "ADDR/PREFIX" or "ADDR" alone (full-length prefix). An IPv4 prefix is 0..32 and is stored
// +96; IPv6 0..128. Host bits set beyond the prefix ("10.1.2.3/8") are accepted and masked off,
// as the intent is unambiguous; text keeps what was written.
std::optional<Cidr> parse_cidr(std::string_view text);

}  // namespace lithe::base
