#include "config/units.hpp"

#include <sys/un.h>

#include <cstring>
#include <limits>

#include "base/ip.hpp"

namespace lithe::config {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// A non-empty run of decimal digits, nothing else; nullopt on overflow of max.
std::optional<uint64_t> parse_digits(std::string_view text, uint64_t max) {
  if (text.empty()) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    if (!is_digit(c)) return std::nullopt;
    auto digit = static_cast<uint64_t>(c - '0');
    if (value > (max - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

// Splits "123unit" into the digits and the unit.
std::pair<std::string_view, std::string_view> split_number(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && is_digit(text[i])) ++i;
  return {text.substr(0, i), text.substr(i)};
}

std::optional<uint16_t> parse_port(std::string_view text) {
  if (text.size() > 5) return std::nullopt;  // also refuses long runs of leading zeros
  auto port = parse_digits(text, 65535);
  if (!port) return std::nullopt;
  return static_cast<uint16_t>(*port);
}

bool is_ipv6_literal(std::string_view text) {
  return text.find(':') != std::string_view::npos && base::parse_ip(text).has_value();
}

bool is_ipv4_literal(std::string_view text) {
  return text.find(':') == std::string_view::npos && base::parse_ip(text).has_value();
}

// RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens.
bool is_host_name(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  std::size_t start = 0;
  while (start <= host.size()) {
    std::size_t end = host.find('.', start);
    if (end == std::string_view::npos) end = host.size();
    std::string_view label = host.substr(start, end - start);
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      bool ok = is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
      if (!ok) return false;
    }
    start = end + 1;
  }
  return true;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  auto [digits, unit] = split_number(text);
  int64_t factor = 0;
  if (unit == "ms") {
    factor = 1;
  } else if (unit == "s") {
    factor = 1000;
  } else if (unit == "m") {
    factor = 60 * 1000;
  } else if (unit == "h") {
    factor = 60 * 60 * 1000;
  } else {
    return std::nullopt;
  }
  using Rep = std::chrono::milliseconds::rep;
  constexpr auto max = static_cast<uint64_t>(std::numeric_limits<Rep>::max());
  auto count = parse_digits(digits, max / static_cast<uint64_t>(factor));
  if (!count) return std::nullopt;
  return std::chrono::milliseconds{static_cast<int64_t>(*count) * factor};
}

std::optional<std::size_t> parse_size(std::string_view text) {
  auto [digits, unit] = split_number(text);
  uint64_t factor = 0;
  if (unit.empty() || unit == "B") {
    factor = 1;
  } else if (unit == "KiB") {
    factor = uint64_t{1} << 10;
  } else if (unit == "MiB") {
    factor = uint64_t{1} << 20;
  } else if (unit == "GiB") {
    factor = uint64_t{1} << 30;
  } else if (unit == "TiB") {
    factor = uint64_t{1} << 40;
  } else {
    return std::nullopt;
  }
  constexpr auto max = static_cast<uint64_t>(std::numeric_limits<std::size_t>::max());
  auto count = parse_digits(digits, max / factor);
  if (!count) return std::nullopt;
  return static_cast<std::size_t>(*count * factor);
}

std::optional<ListenAddress> parse_listen_address(std::string_view text, std::string* error) {
  auto fail = [error](std::string message) -> std::optional<ListenAddress> {
    if (error) *error = std::move(message);
    return std::nullopt;
  };
  ListenAddress address;
  address.text = std::string(text);

  constexpr std::string_view unix_prefix = "unix:";
  if (text.substr(0, unix_prefix.size()) == unix_prefix) {
    std::string_view path = text.substr(unix_prefix.size());
    if (path.empty() || path.front() != '/') return fail("a unix socket path must be absolute");
    if (path.back() == '/') return fail("a unix socket path must name a file, not a directory");
    if (path.find('\0') != std::string_view::npos) return fail("NUL byte in unix socket path");
    // The path must fit sockaddr_un::sun_path with its terminating NUL.
    if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
      return fail("unix socket path longer than " +
                  std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes");
    }
    address.kind = ListenAddress::Kind::unix_socket;
    address.path = std::string(path);
    return address;
  }

  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos) return fail("missing ']' after IPv6 address");
    host = text.substr(1, close - 1);
    if (!is_ipv6_literal(host)) return fail("invalid IPv6 address");
    std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return fail("missing :PORT");
    port_text = rest.substr(1);
  } else {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail("missing :PORT");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return fail("an IPv6 address must be in brackets, as in [::1]:8080");
    }
    if (host.empty()) return fail("missing host (use *:PORT for all IPv4 addresses)");
    if (host == "*") {
      host = "0.0.0.0";
    } else if (host.find_first_not_of("0123456789.") == std::string_view::npos) {
      // All digits and dots: meant as an IPv4 literal, never as a host name.
      if (!is_ipv4_literal(host)) return fail("invalid IPv4 address");
    } else if (!is_host_name(host)) {
      return fail("invalid host name");
    }
  }
  if (port_text.empty()) return fail("missing port after ':'");
  auto port = parse_port(port_text);
  if (!port) return fail("invalid port (expected 0..65535)");
  address.kind = ListenAddress::Kind::tcp;
  address.host = std::string(host);
  address.port = *port;
  return address;
}

}  // namespace lithe::config
