// Parsers for the small value syntaxes of the config file (durations, sizes, listen addresses,
// IP addresses, CIDRs). Free of the TOML library so the command line and the proxy code can
// reuse them. All are strict: no surrounding spaces, no signs, no overflow.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "lithe/config.hpp"

namespace lithe::config {

// "250ms", "10s", "2m", "1h": a decimal count directly followed by a unit. "0s" is accepted
// (callers that need > 0 check it). Empty, negative, unknown unit or overflow → nullopt.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// "512B", "16KiB", "1MiB", "1GiB", "1TiB" (binary units only, case-sensitive) or a plain digit
// string (bytes). "0" is accepted. Anything else or overflow → nullopt.
std::optional<std::size_t> parse_size(std::string_view text);

// "HOST:PORT" (IPv4 literal or host name), "[V6]:PORT", "*:PORT" (all IPv4: host "0.0.0.0"),
// or "unix:/abs/path". Port 0..65535, 0 = ephemeral. On failure, *error (if given) says why.
std::optional<ListenAddress> parse_listen_address(std::string_view text,
                                                  std::string* error = nullptr);

// An IPv4 (dotted quad) or IPv6 literal; IPv4 comes back IPv4-mapped (::ffff:a.b.c.d).
std::optional<std::array<uint8_t, 16>> parse_ip(std::string_view text);

// "ADDR/PREFIX" or "ADDR" alone (full-length prefix). An IPv4 prefix is 0..32 and is stored
// +96; IPv6 0..128. Host bits set beyond the prefix ("10.1.2.3/8") are accepted and masked off,
// as the intent is unambiguous; text keeps what was written.
std::optional<Cidr> parse_cidr(std::string_view text);

}  // namespace lithe::config
