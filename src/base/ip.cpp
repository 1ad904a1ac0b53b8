#include "base/ip.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

namespace lithe::base {

static_assert(ip_text_size >= INET6_ADDRSTRLEN);

namespace {
// inet_pton wants a NUL-terminated string; anything longer than an address is not one.
template <int Family, std::size_t Size>
bool pton(std::string_view text, std::array<uint8_t, Size>& out) {
  char buf[INET6_ADDRSTRLEN];
  if (text.empty() || text.size() >= sizeof buf) return false;
  if (text.find('\0') != std::string_view::npos) return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  return inet_pton(Family, buf, out.data()) == 1;
}
}  // namespace

std::optional<IpAddress> parse_ip(std::string_view text) noexcept {
  IpAddress out{};
  if (text.find(':') != std::string_view::npos) {
    if (!pton<AF_INET6>(text, out)) return std::nullopt;
    return out;
  }
  std::array<uint8_t, 4> v4{};
  if (!pton<AF_INET>(text, v4)) return std::nullopt;
  out[10] = 0xff;
  out[11] = 0xff;
  std::memcpy(out.data() + 12, v4.data(), v4.size());
  return out;
}

bool is_v4_mapped(const IpAddress& address) noexcept {
  for (std::size_t i = 0; i < 10; ++i)
    if (address[i] != 0) return false;
  return address[10] == 0xff && address[11] == 0xff;
}

std::string_view format_ip(const IpAddress& address, char (&out)[ip_text_size]) noexcept {
  const char* text = is_v4_mapped(address)
                         ? inet_ntop(AF_INET, address.data() + 12, out, sizeof out)
                         : inet_ntop(AF_INET6, address.data(), out, sizeof out);
  if (text == nullptr) return {};  // cannot happen: out fits any address
  return {out, std::strlen(out)};
}

std::optional<Cidr> parse_cidr(std::string_view text) {
  std::size_t slash = text.find('/');
  std::string_view address_text = text.substr(0, slash);
  bool v4 = address_text.find(':') == std::string_view::npos;
  auto address = parse_ip(address_text);
  if (!address) return std::nullopt;

  unsigned max_prefix = v4 ? 32 : 128;
  unsigned prefix = max_prefix;
  if (slash != std::string_view::npos) {
    std::string_view prefix_text = text.substr(slash + 1);
    if (prefix_text.empty() || prefix_text.size() > 3) return std::nullopt;
    unsigned value = 0;
    for (char c : prefix_text) {
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > max_prefix) return std::nullopt;
    prefix = value;
  }
  if (v4) prefix += 96;

  Cidr cidr;
  cidr.prefix = static_cast<uint8_t>(prefix);
  cidr.text = std::string(text);
  // Host bits are masked off rather than rejected: "10.1.2.3/8" can only mean 10.0.0.0/8.
  for (unsigned i = 0; i < 16; ++i) {
    unsigned bits = prefix > i * 8 ? prefix - i * 8 : 0;
    auto mask = static_cast<uint8_t>(bits >= 8 ? 0xffu : 0xff00u >> bits);
    cidr.address[i] = static_cast<uint8_t>((*address)[i] & mask);
  }
  return cidr;
}

}  // namespace lithe::base

namespace lithe {

// A member of a public config type, here so that every layer matching addresses links it.
bool Cidr::contains(const std::array<uint8_t, 16>& v6_or_mapped) const {
  unsigned bits = prefix > 128 ? 128 : prefix;
  unsigned whole = bits / 8;
  if (std::memcmp(address.data(), v6_or_mapped.data(), whole) != 0) return false;
  unsigned rest = bits % 8;
  if (rest == 0) return true;
  auto mask = static_cast<uint8_t>(0xff00u >> rest);
  return ((address[whole] ^ v6_or_mapped[whole]) & mask) == 0;
}

}  // namespace lithe
