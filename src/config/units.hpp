// Parsers for the small value syntaxes of the config file (durations, sizes, listen addresses;
// IP addresses and CIDRs are base/ip.hpp's). Free of the TOML library so the command line can
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

}  // namespace lithe::config
