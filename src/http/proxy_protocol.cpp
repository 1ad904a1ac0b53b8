#include "http/proxy_protocol.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "base/ip.hpp"

namespace lithe::http {

namespace {

constexpr std::string_view v1_prefix = "PROXY ";
constexpr char v2_signature[] = "\r\n\r\n\0\r\nQUIT\n";
constexpr std::size_t v2_signature_size = sizeof v2_signature - 1;

// The v2 family/transport bytes lithe accepts with the PROXY command: a stream connection cannot
// have come from a datagram client, and other values are reserved (the spec says reject them).
constexpr uint8_t v2_unspec = 0x00;
constexpr uint8_t v2_tcp4 = 0x11;
constexpr uint8_t v2_tcp6 = 0x21;
constexpr uint8_t v2_unix_stream = 0x31;
constexpr std::size_t v2_tcp4_size = 12;       // two IPv4 addresses, two ports
constexpr std::size_t v2_tcp6_size = 36;       // two IPv6 addresses, two ports
constexpr std::size_t v2_unix_size = 216;      // two 108-byte socket paths
constexpr std::size_t v2_tlv_header_size = 3;  // type, 16-bit length

enum class Prefix : uint8_t { partial, full, mismatch };

// Compares the bytes that have arrived with the start of expected.
Prefix match_prefix(const char* data, std::size_t size, std::string_view expected) {
  std::size_t n = std::min(size, expected.size());
  if (std::memcmp(data, expected.data(), n) != 0) return Prefix::mismatch;
  return n == expected.size() ? Prefix::full : Prefix::partial;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_v4_char(char c) {
  return is_digit(c) || c == '.';
}
bool is_v6_char(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}

enum class Step : uint8_t { ok, need_more, invalid };

ProxyParse to_parse(Step step) {
  return step == Step::need_more ? ProxyParse::need_more : ProxyParse::invalid;
}

// Walks a v1 line field by field. The line is cut at the protocol's maximum, so running out of
// bytes means "wait for more" until the maximum has arrived, and "too long" after that.
struct LineReader {
  std::string_view line;
  bool at_max = false;
  std::size_t pos = 0;

  Step out_of_bytes() const { return at_max ? Step::invalid : Step::need_more; }

  // A non-empty run of at most max_size allowed bytes, then end (skipped). A wrong byte fails
  // as soon as it arrives, not when the line is complete.
  Step field(bool (*allowed)(char), std::size_t max_size, char end, std::string_view& out) {
    std::size_t start = pos;
    for (; pos < line.size(); ++pos) {
      char c = line[pos];
      if (c == end) {
        if (pos == start) return Step::invalid;
        out = line.substr(start, pos - start);
        ++pos;
        return Step::ok;
      }
      if (!allowed(c) || pos - start == max_size) return Step::invalid;
    }
    return out_of_bytes();
  }

  Step expect(char c) {
    if (pos == line.size()) return out_of_bytes();
    return line[pos++] == c ? Step::ok : Step::invalid;
  }
};

// Leading zeros are allowed: the spec restricts them only in IPv4 octets.
bool parse_port(std::string_view digits, uint16_t& port) {
  unsigned value = 0;
  for (char c : digits) value = value * 10 + static_cast<unsigned>(c - '0');
  if (value > 65535) return false;
  port = static_cast<uint16_t>(value);
  return true;
}

// "PROXY UNKNOWN" is followed by anything (or nothing) up to CRLF, to be ignored.
ProxyParse finish_unknown(LineReader& reader, ProxyHeader& out, std::size_t* consumed) {
  if (reader.pos == reader.line.size()) return to_parse(reader.out_of_bytes());
  char after = reader.line[reader.pos];
  if (after != ' ' && after != '\r') return ProxyParse::invalid;
  for (; reader.pos < reader.line.size(); ++reader.pos) {
    char c = reader.line[reader.pos];
    if (c == '\n') return ProxyParse::invalid;  // a bare LF
    if (c == '\r') break;
  }
  if (reader.pos == reader.line.size()) return to_parse(reader.out_of_bytes());
  ++reader.pos;
  if (Step step = reader.expect('\n'); step != Step::ok) return to_parse(step);
  out = ProxyHeader{};
  out.local = true;
  if (consumed) *consumed = reader.pos;
  return ProxyParse::done;
}

ProxyParse parse_v1(const char* data, std::size_t size, ProxyHeader& out, std::size_t* consumed) {
  LineReader reader{std::string_view(data, std::min(size, proxy_v1_max_size)),
                    size >= proxy_v1_max_size};
  switch (match_prefix(data, reader.line.size(), v1_prefix)) {
    case Prefix::mismatch:
      return ProxyParse::invalid;
    case Prefix::partial:
      return to_parse(reader.out_of_bytes());
    case Prefix::full:
      break;
  }
  reader.pos = v1_prefix.size();

  // The protocol word, checked byte by byte against the three that exist.
  const char* rest = data + reader.pos;
  std::size_t rest_size = reader.line.size() - reader.pos;
  Prefix tcp4 = match_prefix(rest, rest_size, "TCP4 ");
  Prefix tcp6 = match_prefix(rest, rest_size, "TCP6 ");
  Prefix unknown = match_prefix(rest, rest_size, "UNKNOWN");
  if (unknown == Prefix::full) {
    reader.pos += 7;
    return finish_unknown(reader, out, consumed);
  }
  bool v6 = tcp6 == Prefix::full;
  if (tcp4 != Prefix::full && !v6) {
    bool partial = tcp4 == Prefix::partial || tcp6 == Prefix::partial || unknown == Prefix::partial;
    return partial ? to_parse(reader.out_of_bytes()) : ProxyParse::invalid;
  }
  reader.pos += 5;

  // The character sets keep each family's text apart: a TCP4 address has no ':' (so it cannot
  // parse as IPv6) and a TCP6 address must have one.
  auto allowed = v6 ? is_v6_char : is_v4_char;
  std::size_t max_address = v6 ? 45 : 15;  // INET6_ADDRSTRLEN - 1, INET_ADDRSTRLEN - 1
  std::string_view source, destination, source_port, destination_port;
  Step step = reader.field(allowed, max_address, ' ', source);
  if (step == Step::ok) step = reader.field(allowed, max_address, ' ', destination);
  if (step == Step::ok) step = reader.field(is_digit, 5, ' ', source_port);
  if (step == Step::ok) step = reader.field(is_digit, 5, '\r', destination_port);
  if (step == Step::ok) step = reader.expect('\n');
  if (step != Step::ok) return to_parse(step);

  if (v6 && (source.find(':') == std::string_view::npos ||
             destination.find(':') == std::string_view::npos))
    return ProxyParse::invalid;
  auto source_address = base::parse_ip(source);
  if (!source_address || !base::parse_ip(destination)) return ProxyParse::invalid;
  uint16_t sport = 0, dport = 0;
  if (!parse_port(source_port, sport) || !parse_port(destination_port, dport))
    return ProxyParse::invalid;

  out = ProxyHeader{};
  out.has_source = true;
  out.source = *source_address;
  out.source_port = sport;
  if (consumed) *consumed = reader.pos;
  return ProxyParse::done;
}

uint16_t read_u16(const unsigned char* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

// TLVs are skipped, but they must tile the rest of the block exactly: a torn one means the
// sender and lithe disagree about where the request starts.
bool tlvs_well_formed(const unsigned char* p, std::size_t size) {
  std::size_t pos = 0;
  while (pos < size) {
    if (size - pos < v2_tlv_header_size) return false;
    std::size_t value_size = read_u16(p + pos + 1);
    pos += v2_tlv_header_size;
    if (size - pos < value_size) return false;
    pos += value_size;
  }
  return true;
}

ProxyParse parse_v2(const char* data, std::size_t size, ProxyHeader& out, std::size_t* consumed) {
  switch (match_prefix(data, size, std::string_view(v2_signature, v2_signature_size))) {
    case Prefix::mismatch:
      return ProxyParse::invalid;
    case Prefix::partial:
      return ProxyParse::need_more;
    case Prefix::full:
      break;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(data);

  if (size < 13) return ProxyParse::need_more;
  if (p[12] >> 4 != 2) return ProxyParse::invalid;  // version
  unsigned command = p[12] & 0x0fu;
  if (command > 1) return ProxyParse::invalid;
  bool local = command == 0;

  if (size < 14) return ProxyParse::need_more;
  // LOCAL ignores the family byte altogether (the spec: "the family is ignored").
  uint8_t family = p[13];
  std::size_t address_size = 0;
  if (!local) {
    switch (family) {
      case v2_unspec:
        break;
      case v2_tcp4:
        address_size = v2_tcp4_size;
        break;
      case v2_tcp6:
        address_size = v2_tcp6_size;
        break;
      case v2_unix_stream:
        address_size = v2_unix_size;
        break;
      default:
        return ProxyParse::invalid;
    }
  }

  if (size < proxy_v2_header_size) return ProxyParse::need_more;
  std::size_t length = read_u16(p + 14);
  if (length > proxy_v2_max_payload || length < address_size) return ProxyParse::invalid;
  if (size < proxy_v2_header_size + length) return ProxyParse::need_more;

  // With LOCAL or UNSPEC the block's layout is unknown, so it is skipped unread.
  const unsigned char* block = p + proxy_v2_header_size;
  bool layout_known = !local && family != v2_unspec;
  if (layout_known && !tlvs_well_formed(block + address_size, length - address_size))
    return ProxyParse::invalid;

  out = ProxyHeader{};
  out.local = local;
  if (!local && (family == v2_tcp4 || family == v2_tcp6)) {
    out.has_source = true;
    if (family == v2_tcp4) {
      out.source[10] = 0xff;
      out.source[11] = 0xff;
      std::memcpy(out.source.data() + 12, block, 4);
      out.source_port = read_u16(block + 8);
    } else {
      std::memcpy(out.source.data(), block, 16);
      out.source_port = read_u16(block + 32);
    }
  }
  if (consumed) *consumed = proxy_v2_header_size + length;
  return ProxyParse::done;
}

}  // namespace

ProxyParse parse_proxy_header(const char* data, std::size_t size, ProxyHeader& out,
                              std::size_t* consumed) noexcept {
  if (size == 0) return ProxyParse::need_more;
  // The two signatures differ in their first byte, so one byte picks the version.
  if (data[0] == v1_prefix[0]) return parse_v1(data, size, out, consumed);
  if (data[0] == v2_signature[0]) return parse_v2(data, size, out, consumed);
  return ProxyParse::invalid;
}

}  // namespace lithe::http
