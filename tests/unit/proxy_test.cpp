#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "base/ip.hpp"
#include "http/proxy_protocol.hpp"
#include "log/client_address.hpp"

// Counts heap allocations while a test asks for it, to hold the per-request functions to
// "nothing on the success path".
namespace {
thread_local bool counting_allocations = false;
thread_local std::size_t allocation_count = 0;
}  // namespace

// Not inlined: GCC would otherwise pair a new-expression with free() and warn of a mismatch.
[[gnu::noinline]] void* operator new(std::size_t size) {
  if (counting_allocations) ++allocation_count;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace lithe::http {
namespace {

using namespace std::string_literals;
using base::format_ip;
using base::ip_text_size;
using base::IpAddress;
using base::parse_ip;
using log::client_address;
using log::forwarded_client;
using log::resolve_client_address;

// Counts allocations for as long as it lives.
class AllocationGuard {
 public:
  AllocationGuard() {
    allocation_count = 0;
    counting_allocations = true;
  }
  ~AllocationGuard() { counting_allocations = false; }
  std::size_t count() const { return allocation_count; }
};

IpAddress Ip(std::string_view text) {
  auto address = parse_ip(text);
  EXPECT_TRUE(address.has_value()) << text;
  return address.value_or(IpAddress{});
}

std::string Text(const IpAddress& address) {
  char buf[ip_text_size];
  return std::string(format_ip(address, buf));
}

struct Parsed {
  ProxyParse result = ProxyParse::invalid;
  ProxyHeader header;
  std::size_t consumed = 0;
};

Parsed Parse(std::string_view data) {
  Parsed p;
  p.consumed = 12345;  // must stay untouched unless done
  // An exact-size copy, so that a sanitizer build catches any read past the bytes given.
  std::unique_ptr<char[]> copy(new char[data.size()]);
  std::copy(data.begin(), data.end(), copy.get());
  p.result = parse_proxy_header(copy.get(), data.size(), p.header, &p.consumed);
  return p;
}

// Every proper prefix of a valid preamble asks for more, and the whole parses the same way
// whatever follows it.
void ExpectNeedMoreAtEverySplit(const std::string& preamble) {
  for (std::size_t i = 0; i < preamble.size(); ++i) {
    Parsed p = Parse(std::string_view(preamble).substr(0, i));
    EXPECT_EQ(p.result, ProxyParse::need_more) << "prefix of " << i << " bytes";
    EXPECT_EQ(p.consumed, 12345u);
  }
  Parsed whole = Parse(preamble);
  ASSERT_EQ(whole.result, ProxyParse::done);
  EXPECT_EQ(whole.consumed, preamble.size());
  Parsed followed = Parse(preamble + "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(followed.result, ProxyParse::done);
  EXPECT_EQ(followed.consumed, preamble.size());
}

// The first byte index at which data parses as invalid, or npos; prefixes before it must all
// be need_more.
std::size_t FirstInvalidPrefix(std::string_view data) {
  for (std::size_t i = 1; i <= data.size(); ++i) {
    ProxyParse result = Parse(data.substr(0, i)).result;
    if (result == ProxyParse::invalid) return i;
    EXPECT_EQ(result, ProxyParse::need_more) << "prefix of " << i << " bytes";
  }
  return std::string_view::npos;
}

// The no-allocation tests below mean something only if the counter sees allocations.
TEST(AllocationGuardTest, SeesAllocations) {
  std::size_t allocations = 0;
  {
    AllocationGuard guard;
    // A direct call, which unlike a new-expression the optimizer may not drop.
    void* p = ::operator new(100);
    allocations = guard.count();
    ::operator delete(p);
  }
  EXPECT_GE(allocations, 1u);
}

// ---- PROXY v1 ----

TEST(ProxyV1Test, Tcp4) {
  Parsed p = Parse("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /");
  ASSERT_EQ(p.result, ProxyParse::done);
  EXPECT_EQ(p.consumed, 45u);
  EXPECT_FALSE(p.header.local);
  EXPECT_TRUE(p.header.has_source);
  EXPECT_EQ(p.header.source, Ip("192.0.2.1"));
  EXPECT_EQ(p.header.source_port, 56324);
}

TEST(ProxyV1Test, Tcp6) {
  Parsed p = Parse("PROXY TCP6 2001:db8::1 2001:DB8::2 1 65535\r\n");
  ASSERT_EQ(p.result, ProxyParse::done);
  EXPECT_TRUE(p.header.has_source);
  EXPECT_EQ(p.header.source, Ip("2001:db8::1"));
  EXPECT_EQ(p.header.source_port, 1);
}

TEST(ProxyV1Test, Tcp6WithMappedAndEmbeddedIpv4Text) {
  Parsed p = Parse("PROXY TCP6 ::ffff:192.0.2.1 ::1 0 80\r\n");
  ASSERT_EQ(p.result, ProxyParse::done);
  EXPECT_EQ(Text(p.header.source), "192.0.2.1");
  EXPECT_EQ(p.header.source_port, 0);
}

TEST(ProxyV1Test, PortsMayHaveLeadingZeros) {
  Parsed p = Parse("PROXY TCP4 192.0.2.1 192.0.2.2 00080 0\r\n");
  ASSERT_EQ(p.result, ProxyParse::done);
  EXPECT_EQ(p.header.source_port, 80);
}

TEST(ProxyV1Test, UnknownKeepsThePeer) {
  for (const char* line : {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN 192.0.2.1 192.0.2.2 1 2\r\n",
                           "PROXY UNKNOWN whatever the proxy wants\r\n"}) {
    Parsed p = Parse(line);
    ASSERT_EQ(p.result, ProxyParse::done) << line;
    EXPECT_EQ(p.consumed, std::string_view(line).size());
    EXPECT_TRUE(p.header.local);
    EXPECT_FALSE(p.header.has_source);
  }
}

TEST(ProxyV1Test, LongestLinesAre107Bytes) {
  // The spec's own worst case.
  std::string unknown =
      "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
  ASSERT_EQ(unknown.size(), proxy_v1_max_size);
  EXPECT_EQ(Parse(unknown).result, ProxyParse::done);

  std::string tcp6 =
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
  Parsed p = Parse(tcp6);
  ASSERT_EQ(p.result, ProxyParse::done);
  EXPECT_EQ(Text(p.header.source), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");

  std::string longer = "PROXY UNKNOWN " + std::string(92, 'x') + "\r\n";
  ASSERT_EQ(longer.size(), proxy_v1_max_size + 1);
  EXPECT_EQ(FirstInvalidPrefix(longer), proxy_v1_max_size);
}

TEST(ProxyV1Test, MissingCrlfFailsAtTheLimitNotBefore) {
  std::string line = "PROXY UNKNOWN " + std::string(200, 'x');
  EXPECT_EQ(Parse(line.substr(0, proxy_v1_max_size - 1)).result, ProxyParse::need_more);
  EXPECT_EQ(Parse(line.substr(0, proxy_v1_max_size)).result, ProxyParse::invalid);
  EXPECT_EQ(Parse(line).result, ProxyParse::invalid);
}

TEST(ProxyV1Test, EverySplitPointNeedsMoreThenDone) {
  ExpectNeedMoreAtEverySplit("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n");
  ExpectNeedMoreAtEverySplit("PROXY TCP6 2001:db8::1 2001:db8::2 4711 80\r\n");
  ExpectNeedMoreAtEverySplit("PROXY UNKNOWN\r\n");
  ExpectNeedMoreAtEverySplit("PROXY UNKNOWN 1 2 3\r\n");
}

TEST(ProxyV1Test, InvalidLines) {
  const std::vector<std::string> lines = {
      "PROXY  TCP4 192.0.2.1 192.0.2.2 1 2\r\n",   // double space
      "PROXY TCP4  192.0.2.1 192.0.2.2 1 2\r\n",   // double space
      "PROXY TCP4 192.0.2.1 192.0.2.2 1  2\r\n",   // double space
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 2 \r\n",   // trailing space
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 2 3\r\n",  // extra field
      "PROXY TCP4 192.0.2.1 192.0.2.2 1\r\n",      // missing port
      "PROXY TCP4 192.0.2.1 192.0.2.2\r\n",
      "PROXY TCP4\r\n",
      "PROXY\r\n",
      "proxy TCP4 192.0.2.1 192.0.2.2 1 2\r\n",  // case matters
      "PROXY tcp4 192.0.2.1 192.0.2.2 1 2\r\n",
      "PROXY TCP5 192.0.2.1 192.0.2.2 1 2\r\n",
      "PROXY TCP 192.0.2.1 192.0.2.2 1 2\r\n",
      "PROXY\tTCP4 192.0.2.1 192.0.2.2 1 2\r\n",
      "PROXY TCP4 ::1 ::1 1 2\r\n",  // family mismatch
      "PROXY TCP6 192.0.2.1 192.0.2.2 1 2\r\n",
      "PROXY TCP6 ::1 192.0.2.2 1 2\r\n",
      "PROXY TCP4 256.0.2.1 192.0.2.2 1 2\r\n",   // bad addresses
      "PROXY TCP4 192.0.2.01 192.0.2.2 1 2\r\n",  // leading zero: octal confusion
      "PROXY TCP4 192.0.2 192.0.2.2 1 2\r\n",
      "PROXY TCP4 192.0.2.1. 192.0.2.2 1 2\r\n",
      "PROXY TCP4 192.0.2.1 192.0.2.2.3 1 2\r\n",
      "PROXY TCP6 2001:db8:::1 ::1 1 2\r\n",
      "PROXY TCP6 ::1%eth0 ::1 1 2\r\n",
      "PROXY TCP6 [::1] ::1 1 2\r\n",
      "PROXY TCP4 192.0.2.1 192.0.2.2 65536 2\r\n",  // bad ports
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 99999\r\n",
      "PROXY TCP4 192.0.2.1 192.0.2.2 +1 2\r\n",
      "PROXY TCP4 192.0.2.1 192.0.2.2 -1 2\r\n",
      "PROXY TCP4 192.0.2.1 192.0.2.2 000080 2\r\n",
      "PROXY TCP4 192.0.2.1 192.0.2.2 0x50 2\r\n",
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n",  // bad line ends
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\rX",
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\r\n",
      "PROXY UNKNOWN\n",
      "PROXY UNKNOWN\rX",
      "PROXY UNKNOWN x\ny\r\n",
      "PROXY UNKNOWNX\r\n",
      "PROXY UNKNOWN\t\r\n",
      "PROXY TCP4 192.0.2.1\0 192.0.2.2 1 2\r\n"s,
  };
  for (const std::string& line : lines) {
    EXPECT_NE(FirstInvalidPrefix(line), std::string_view::npos) << line;
    EXPECT_EQ(Parse(line).result, ProxyParse::invalid) << line;
  }
}

TEST(ProxyV1Test, InvalidAsSoonAsTheBadByteArrives) {
  EXPECT_EQ(FirstInvalidPrefix("GET / HTTP/1.1\r\n"), 1u);
  EXPECT_EQ(FirstInvalidPrefix("PRoXY "), 3u);
  EXPECT_EQ(FirstInvalidPrefix("PROXY X"), 7u);
  EXPECT_EQ(FirstInvalidPrefix("PROXY TCP4 1"), std::string_view::npos);
  EXPECT_EQ(FirstInvalidPrefix("PROXY TCP4 1.2.3.4:"), 19u);
  EXPECT_EQ(FirstInvalidPrefix("PROXY TCP4 1.2.3.4 5.6.7.8 80x"), 30u);
  EXPECT_EQ(FirstInvalidPrefix("PROXY TCP4 1.2.3.4 5.6.7.8 800000"), 33u);
  EXPECT_EQ(FirstInvalidPrefix("PROXY TCP6 ::1 ::g"), 18u);
}

TEST(ProxyV1Test, EmptyInputNeedsMore) {
  EXPECT_EQ(Parse("").result, ProxyParse::need_more);
}

// ---- PROXY v2 ----

const std::string v2_signature("\r\n\r\n\0\r\nQUIT\n", 12);

std::string Be16(std::size_t value) {
  return {static_cast<char>((value >> 8) & 0xff), static_cast<char>(value & 0xff)};
}

std::string V2(uint8_t version_command, uint8_t family, const std::string& payload) {
  return v2_signature + static_cast<char>(version_command) + static_cast<char>(family) +
         Be16(payload.size()) + payload;
}

std::string V2With(uint8_t version_command, uint8_t family, const std::string& payload,
                   std::size_t declared_length) {
  return v2_signature + static_cast<char>(version_command) + static_cast<char>(family) +
         Be16(declared_length) + payload;
}

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s += static_cast<char>(b);
  return s;
}

const std::string tcp4_addresses = Bytes({192, 0, 2, 1, 198, 51, 100, 2}) + Be16(56324) + Be16(443);
const std::string tcp6_addresses =
    Bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
           0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}) +
    Be16(4711) + Be16(80);

std::string Tlv(uint8_t type, const std::string& value) {
  return static_cast<char>(type) + Be16(value.size()) + value;
}

TEST(ProxyV2Test, Tcp4) {
  std::string preamble = V2(0x21, 0x11, tcp4_addresses);
  Parsed p = Parse(preamble + "GET / HTTP/1.1\r\n");
  ASSERT_EQ(p.result, ProxyParse::done);
  EXPECT_EQ(p.consumed, 28u);
  EXPECT_FALSE(p.header.local);
  EXPECT_TRUE(p.header.has_source);
  EXPECT_EQ(Text(p.header.source), "192.0.2.1");
  EXPECT_EQ(p.header.source_port, 56324);
}

TEST(ProxyV2Test, Tcp6) {
  Parsed p = Parse(V2(0x21, 0x21, tcp6_addresses));
  ASSERT_EQ(p.result, ProxyParse::done);
  EXPECT_EQ(p.consumed, 52u);
  EXPECT_TRUE(p.header.has_source);
  EXPECT_EQ(Text(p.header.source), "2001:db8::1");
  EXPECT_EQ(p.header.source_port, 4711);
}

TEST(ProxyV2Test, LocalKeepsThePeerWhateverTheFamily) {
  for (int family_byte : {0x00, 0x11, 0x21, 0xff}) {
    auto family = static_cast<uint8_t>(family_byte);
    std::string payload = family == 0x11 ? tcp4_addresses : family == 0x21 ? tcp6_addresses : "";
    Parsed p = Parse(V2(0x20, family, payload));
    ASSERT_EQ(p.result, ProxyParse::done) << int(family);
    EXPECT_EQ(p.consumed, 16 + payload.size());
    EXPECT_TRUE(p.header.local);
    EXPECT_FALSE(p.header.has_source);
  }
}

TEST(ProxyV2Test, UnspecAndUnixCarryNoAddress) {
  Parsed unspec = Parse(V2(0x21, 0x00, ""));
  ASSERT_EQ(unspec.result, ProxyParse::done);
  EXPECT_FALSE(unspec.header.local);
  EXPECT_FALSE(unspec.header.has_source);

  std::string paths(216, '\0');
  paths.replace(0, 9, "/run/a.sk");
  Parsed unix_stream = Parse(V2(0x21, 0x31, paths + Tlv(0x04, "")));
  ASSERT_EQ(unix_stream.result, ProxyParse::done);
  EXPECT_EQ(unix_stream.consumed, 16u + 216 + 3);
  EXPECT_FALSE(unix_stream.header.local);
  EXPECT_FALSE(unix_stream.header.has_source);
}

TEST(ProxyV2Test, TlvsAreSkipped) {
  std::string tlvs = Tlv(0x01, "h2") + Tlv(0x04, "") + Tlv(0xea, std::string(30, 'v')) +
                     Tlv(0x20, Bytes({0x07, 0, 0, 0, 0}) + Tlv(0x21, "TLSv1.3"));
  std::string preamble = V2(0x21, 0x11, tcp4_addresses + tlvs);
  Parsed p = Parse(preamble + "GET");
  ASSERT_EQ(p.result, ProxyParse::done);
  EXPECT_EQ(p.consumed, preamble.size());
  EXPECT_EQ(Text(p.header.source), "192.0.2.1");
}

TEST(ProxyV2Test, TornTlvsAreInvalid) {
  EXPECT_EQ(Parse(V2(0x21, 0x11, tcp4_addresses + std::string("\x01\x00", 2))).result,
            ProxyParse::invalid);
  EXPECT_EQ(Parse(V2(0x21, 0x11, tcp4_addresses + Tlv(0x01, "h2").substr(0, 4))).result,
            ProxyParse::invalid);
  std::string overlong = tcp4_addresses + "\x01" + Be16(10) + "abc";
  EXPECT_EQ(Parse(V2(0x21, 0x11, overlong)).result, ProxyParse::invalid);
}

TEST(ProxyV2Test, EverySplitPointNeedsMoreThenDone) {
  ExpectNeedMoreAtEverySplit(V2(0x21, 0x11, tcp4_addresses));
  ExpectNeedMoreAtEverySplit(V2(0x21, 0x21, tcp6_addresses + Tlv(0x01, "http/1.1")));
  ExpectNeedMoreAtEverySplit(V2(0x20, 0x00, ""));
}

TEST(ProxyV2Test, BadSignatureIsInvalidAtTheBadByte) {
  std::string preamble = V2(0x21, 0x11, tcp4_addresses);
  for (std::size_t i = 0; i < 12; ++i) {
    std::string bad = preamble;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    EXPECT_EQ(FirstInvalidPrefix(bad), i + 1) << "byte " << i;
  }
}

TEST(ProxyV2Test, BadVersionOrCommand) {
  for (int version_command : {0x11, 0x31, 0x01, 0xf1, 0x22, 0x2f}) {
    std::string preamble = V2(static_cast<uint8_t>(version_command), 0x11, tcp4_addresses);
    EXPECT_EQ(FirstInvalidPrefix(preamble), 13u) << version_command;
  }
}

TEST(ProxyV2Test, BadFamilyWithProxyCommand) {
  // Datagram transports, reserved families and transports.
  for (int family : {0x12, 0x22, 0x32, 0x01, 0x10, 0x13, 0x41, 0xff}) {
    std::string preamble =
        V2(0x21, static_cast<uint8_t>(family), tcp6_addresses + std::string(200, '\0'));
    EXPECT_EQ(FirstInvalidPrefix(preamble), 14u) << family;
  }
}

TEST(ProxyV2Test, LengthTooShortForTheFamily) {
  EXPECT_EQ(FirstInvalidPrefix(V2(0x21, 0x11, tcp4_addresses.substr(0, 11))), 16u);
  EXPECT_EQ(FirstInvalidPrefix(V2(0x21, 0x21, tcp4_addresses)), 16u);
  EXPECT_EQ(FirstInvalidPrefix(V2(0x21, 0x31, std::string(215, '\0'))), 16u);
}

TEST(ProxyV2Test, LengthCap) {
  std::string fill = tcp4_addresses + Tlv(0x04, std::string(proxy_v2_max_payload - 12 - 3, 'n'));
  ASSERT_EQ(fill.size(), proxy_v2_max_payload);
  Parsed p = Parse(V2(0x21, 0x11, fill));
  ASSERT_EQ(p.result, ProxyParse::done);
  EXPECT_EQ(p.consumed, proxy_max_size);

  // Refused as soon as the length is known, not after buffering it.
  std::string header = V2With(0x21, 0x11, "", proxy_v2_max_payload + 1);
  EXPECT_EQ(FirstInvalidPrefix(header), 16u);
  EXPECT_EQ(FirstInvalidPrefix(V2With(0x21, 0x11, "", 0xffff)), 16u);
}

TEST(ProxyV2Test, TruncatedNeedsMore) {
  std::string preamble = V2(0x21, 0x21, tcp6_addresses);
  EXPECT_EQ(Parse(preamble.substr(0, 51)).result, ProxyParse::need_more);
  EXPECT_EQ(Parse(V2With(0x21, 0x11, tcp4_addresses, 40)).result, ProxyParse::need_more);
}

TEST(ProxyTest, SuccessPathDoesNotAllocate) {
  std::string v1 = "PROXY TCP6 2001:db8::1 2001:db8::2 4711 80\r\n";
  std::string v2 = V2(0x21, 0x11, tcp4_addresses + Tlv(0x01, "h2"));
  ProxyHeader header;
  std::size_t consumed = 0;
  ProxyParse r1, r2;
  std::size_t allocations = 0;
  {
    AllocationGuard guard;
    r1 = parse_proxy_header(v1.data(), v1.size(), header, &consumed);
    r2 = parse_proxy_header(v2.data(), v2.size(), header, nullptr);
    allocations = guard.count();
  }
  EXPECT_EQ(r1, ProxyParse::done);
  EXPECT_EQ(r2, ProxyParse::done);
  EXPECT_EQ(allocations, 0u);
}

// ---- addresses ----

TEST(IpTest, ParseAndFormat) {
  IpAddress v4 = Ip("192.0.2.1");
  EXPECT_EQ(v4, (IpAddress{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1}));
  EXPECT_EQ(Text(v4), "192.0.2.1");
  EXPECT_EQ(Ip("::ffff:192.0.2.1"), v4);
  EXPECT_EQ(Text(Ip("2001:DB8:0:0:0:0:0:1")), "2001:db8::1");
  EXPECT_EQ(Text(Ip("::1")), "::1");
  EXPECT_EQ(Text(Ip("::")), "::");
  EXPECT_EQ(Text(Ip("0.0.0.0")), "0.0.0.0");
  EXPECT_EQ(Text(Ip("255.255.255.255")), "255.255.255.255");
  EXPECT_EQ(Text(Ip("1:2:3:4:5:6:7:8")), "1:2:3:4:5:6:7:8");
}

TEST(IpTest, RejectsWhatIsNotALiteral) {
  for (std::string_view text :
       {"", " 192.0.2.1", "192.0.2.1 ", "192.0.2", "192.0.2.256", "192.0.2.01", "192.0.2.1:80",
        "[::1]", "[::1]:80", "::1%eth0", "2001:db8:::1", "localhost", "unknown", "_hidden",
        "1.2.3.4.5", "0x7f.0.0.1", "::ffff:192.0.2.1:80"}) {
    EXPECT_FALSE(parse_ip(text).has_value()) << text;
  }
  EXPECT_FALSE(parse_ip(std::string(100, '1')).has_value());
  EXPECT_FALSE(parse_ip("192.0.2.1\0"s).has_value());
}

// ---- client address ----

ProxyConfig Proxy(std::initializer_list<const char*> trusted,
                  std::string client_header = "X-Forwarded-For") {
  ProxyConfig proxy;
  for (const char* text : trusted) {
    auto cidr = base::parse_cidr(text);
    EXPECT_TRUE(cidr.has_value()) << text;
    if (cidr) proxy.trusted.push_back(*cidr);
  }
  proxy.client_header = std::move(client_header);
  return proxy;
}

using Headers = std::vector<Header>;

std::string Client(std::string_view peer, const ProxyConfig& proxy, const Headers& headers) {
  char buf[ip_text_size];
  return std::string(client_address(Ip(peer), proxy, headers, buf));
}

// Built on first use, inside a test, so that their EXPECTs have one to report to.
const ProxyConfig& Lan() {
  static const ProxyConfig proxy = Proxy({"10.0.0.0/8", "::1/128"});
  return proxy;
}
const ProxyConfig& LanRealIp() {
  static const ProxyConfig proxy = Proxy({"10.0.0.0/8", "::1/128"}, "X-Real-IP");
  return proxy;
}
const ProxyConfig& LanForwarded() {
  static const ProxyConfig proxy = Proxy({"10.0.0.0/8", "::1/128"}, "Forwarded");
  return proxy;
}

TEST(ClientAddressTest, UntrustedPeerIgnoresHeaders) {
  Headers headers = {{"X-Forwarded-For", "203.0.113.7"},
                     {"X-Real-IP", "203.0.113.7"},
                     {"Forwarded", "for=203.0.113.7"}};
  EXPECT_EQ(Client("198.51.100.1", Lan(), headers), "198.51.100.1");
  EXPECT_EQ(Client("198.51.100.1", LanRealIp(), headers), "198.51.100.1");
  EXPECT_EQ(Client("198.51.100.1", LanForwarded(), headers), "198.51.100.1");
  EXPECT_EQ(Client("2001:db8::9", Lan(), headers), "2001:db8::9");
  EXPECT_EQ(Client("10.0.0.1", Proxy({}), headers), "10.0.0.1");
}

TEST(ClientAddressTest, NoHeaderGivesThePeer) {
  EXPECT_EQ(Client("10.0.0.1", Lan(), {}), "10.0.0.1");
  EXPECT_EQ(Client("::1", Lan(), {{"Host", "x"}}), "::1");
  // Only the configured header counts.
  Headers others = {{"X-Real-IP", "203.0.113.7"}, {"Forwarded", "for=203.0.113.8"}};
  EXPECT_EQ(Client("10.0.0.1", Lan(), others), "10.0.0.1");
  EXPECT_EQ(Client("10.0.0.1", Proxy({"10.0.0.0/8"}, "X-Client"),
                   {{"X-Client", "203.0.113.7"}, {"X-Forwarded-For", "203.0.113.7"}}),
            "10.0.0.1");
}

TEST(ClientAddressTest, XffSingleAndMultipleElements) {
  EXPECT_EQ(Client("10.0.0.1", Lan(), {{"X-Forwarded-For", "203.0.113.7"}}), "203.0.113.7");
  EXPECT_EQ(Client("10.0.0.1", Lan(), {{"X-Forwarded-For", "203.0.113.7, 10.0.0.2"}}),
            "203.0.113.7");
  EXPECT_EQ(Client("10.0.0.1", Lan(), {{"X-Forwarded-For", "203.0.113.7,10.0.0.2,\t10.0.0.3"}}),
            "203.0.113.7");
  EXPECT_EQ(Client("::1", Lan(), {{"X-Forwarded-For", "2001:db8::7"}}), "2001:db8::7");
  EXPECT_EQ(Client("::1", Lan(), {{"X-Forwarded-For", "2001:DB8::7, ::ffff:10.0.0.2"}}),
            "2001:db8::7");
}

TEST(ClientAddressTest, XffSpoofedLeftEntriesAreIgnored) {
  // The client sent "1.1.1.1, 8.8.8.8" itself; our proxy appended its real address.
  EXPECT_EQ(Client("10.0.0.1", Lan(), {{"X-Forwarded-For", "1.1.1.1, 8.8.8.8, 203.0.113.7"}}),
            "203.0.113.7");
  EXPECT_EQ(Client("10.0.0.1", Lan(), {{"X-Forwarded-For", "10.0.0.99, 203.0.113.7, 10.0.0.2"}}),
            "203.0.113.7");
  // Garbage on the left does not matter either.
  EXPECT_EQ(Client("10.0.0.1", Lan(), {{"X-Forwarded-For", "<script>, 203.0.113.7"}}),
            "203.0.113.7");
}

TEST(ClientAddressTest, XffAcrossSeveralFields) {
  EXPECT_EQ(Client("10.0.0.1", Lan(),
                   {{"X-Forwarded-For", "1.1.1.1, 203.0.113.7"},
                    {"Host", "example.com"},
                    {"x-forwarded-for", "10.0.0.2"}}),
            "203.0.113.7");
  EXPECT_EQ(Client("10.0.0.1", Lan(),
                   {{"X-Forwarded-For", "203.0.113.7"}, {"X-FORWARDED-FOR", "198.51.100.4"}}),
            "198.51.100.4");
  EXPECT_EQ(Client("10.0.0.1", Lan(),
                   {{"X-Forwarded-For", "203.0.113.7"}, {"X-Forwarded-For", "10.0.0.2, 10.0.0.3"}}),
            "203.0.113.7");
}

TEST(ClientAddressTest, XffAllTrustedGivesTheLeftmost) {
  EXPECT_EQ(Client("10.0.0.1", Lan(), {{"X-Forwarded-For", "10.0.0.5, 10.0.0.6"}}), "10.0.0.5");
  EXPECT_EQ(Client("10.0.0.1", Lan(),
                   {{"X-Forwarded-For", "10.0.0.5"}, {"X-Forwarded-For", "::1, 10.0.0.6"}}),
            "10.0.0.5");
}

TEST(ClientAddressTest, XffUnreadableElementStopsTheWalk) {
  EXPECT_EQ(Client("10.0.0.1", Lan(), {{"X-Forwarded-For", "203.0.113.7, garbage, 10.0.0.2"}}),
            "10.0.0.2");
  EXPECT_EQ(Client("10.0.0.1", Lan(), {{"X-Forwarded-For", "203.0.113.7, 10.0.0.2, unknown"}}),
            "10.0.0.1");
  EXPECT_EQ(Client("10.0.0.1", Lan(), {{"X-Forwarded-For", "203.0.113.7:4711"}}), "10.0.0.1");
  EXPECT_EQ(Client("10.0.0.1", Lan(), {{"X-Forwarded-For", "[2001:db8::7]"}}), "10.0.0.1");
  EXPECT_EQ(Client("10.0.0.1", Lan(), {{"X-Forwarded-For", "203.0.113.7 10.0.0.2"}}), "10.0.0.1");
  EXPECT_EQ(Client("10.0.0.1", Lan(),
                   {{"X-Forwarded-For", "203.0.113.7, 10.0.0.2"}, {"X-Forwarded-For", "nope"}}),
            "10.0.0.1");
}

TEST(ClientAddressTest, XffEmptyElementsAreSkipped) {
  EXPECT_EQ(Client("10.0.0.1", Lan(), {{"X-Forwarded-For", ", 203.0.113.7,, 10.0.0.2 ,"}}),
            "203.0.113.7");
  EXPECT_EQ(Client("10.0.0.1", Lan(), {{"X-Forwarded-For", ""}}), "10.0.0.1");
  EXPECT_EQ(Client("10.0.0.1", Lan(), {{"X-Forwarded-For", " , "}}), "10.0.0.1");
}

TEST(ClientAddressTest, XRealIp) {
  EXPECT_EQ(Client("10.0.0.1", LanRealIp(), {{"X-Real-IP", "203.0.113.7"}}), "203.0.113.7");
  EXPECT_EQ(Client("10.0.0.1", LanRealIp(), {{"x-real-ip", "2001:db8::7"}}), "2001:db8::7");
  // Trusted or not, the value is the answer: the proxy wrote it.
  EXPECT_EQ(Client("10.0.0.1", LanRealIp(), {{"X-Real-IP", "10.0.0.9"}}), "10.0.0.9");
  EXPECT_EQ(Client("10.0.0.1", LanRealIp(), {{"X-Real-IP", "203.0.113.7, 10.0.0.2"}}), "10.0.0.1");
  EXPECT_EQ(Client("10.0.0.1", LanRealIp(), {{"X-Real-IP", "garbage"}}), "10.0.0.1");
  EXPECT_EQ(Client("10.0.0.1", LanRealIp(), {{"X-Real-IP", "203.0.113.7:80"}}), "10.0.0.1");
  EXPECT_EQ(Client("10.0.0.1", LanRealIp(), {{"X-Real-IP", ""}}), "10.0.0.1");
  // Two fields: which one did the proxy write?
  EXPECT_EQ(
      Client("10.0.0.1", LanRealIp(), {{"X-Real-IP", "1.1.1.1"}, {"X-Real-IP", "203.0.113.7"}}),
      "10.0.0.1");
  // X-Forwarded-For does not count when X-Real-IP is configured.
  EXPECT_EQ(Client("10.0.0.1", LanRealIp(), {{"X-Forwarded-For", "203.0.113.7"}}), "10.0.0.1");
}

TEST(ClientAddressTest, ForwardedBasic) {
  EXPECT_EQ(Client("10.0.0.1", LanForwarded(), {{"Forwarded", "for=192.0.2.43"}}), "192.0.2.43");
  EXPECT_EQ(Client("10.0.0.1", LanForwarded(), {{"forwarded", "FOR=192.0.2.43"}}), "192.0.2.43");
  EXPECT_EQ(Client("10.0.0.1", LanForwarded(),
                   {{"Forwarded",
                     "for=192.0.2.43, for=198.51.100.17;by=203.0.113.60;"
                     "proto=http;host=example.com"}}),
            "198.51.100.17");
  EXPECT_EQ(Client("10.0.0.1", LanForwarded(),
                   {{"Forwarded", "proto=https;for=192.0.2.43;by=10.0.0.1, for=10.0.0.2"}}),
            "192.0.2.43");
  EXPECT_EQ(Client("10.0.0.1", LanForwarded(), {{"Forwarded", "for=192.0.2.43 ; proto=https"}}),
            "192.0.2.43");
}

TEST(ClientAddressTest, ForwardedQuotingIpv6AndPorts) {
  auto client = [](std::string_view value) {
    return Client("10.0.0.1", LanForwarded(), {{"Forwarded", value}});
  };
  EXPECT_EQ(client("for=\"192.0.2.43\""), "192.0.2.43");
  EXPECT_EQ(client("for=\"192.0.2.43:4711\""), "192.0.2.43");
  EXPECT_EQ(client("for=\"192.0.2.43:_port\""), "192.0.2.43");
  EXPECT_EQ(client("For=\"[2001:db8:cafe::17]:4711\""), "2001:db8:cafe::17");
  EXPECT_EQ(client("for=\"[2001:db8:cafe::17]\""), "2001:db8:cafe::17");
  EXPECT_EQ(client("for=\"[::ffff:192.0.2.43]\""), "192.0.2.43");
  // Commas inside quotes split nothing.
  EXPECT_EQ(client("for=192.0.2.43;by=\"x, for=1.1.1.1\""), "192.0.2.43");
  EXPECT_EQ(client("by=\"a,b\";for=\"192.0.2.43\", for=10.0.0.2"), "192.0.2.43");
  // Malformed nodes stop the walk.
  EXPECT_EQ(client("for=\"2001:db8::1\""), "10.0.0.1");  // IPv6 needs brackets
  EXPECT_EQ(client("for=\"[2001:db8::1\""), "10.0.0.1");
  EXPECT_EQ(client("for=\"[2001:db8::1]:\""), "10.0.0.1");
  EXPECT_EQ(client("for=\"[2001:db8::1]80\""), "10.0.0.1");
  EXPECT_EQ(client("for=\"[192.0.2.43]\""), "10.0.0.1");
  EXPECT_EQ(client("for=\"192.0.2.43:123456\""), "10.0.0.1");
  EXPECT_EQ(client("for=\"192.0.2.43:_\""), "10.0.0.1");
  EXPECT_EQ(client("for=\"192.0.2.43:x\""), "10.0.0.1");
  EXPECT_EQ(client("for=\"\""), "10.0.0.1");
  EXPECT_EQ(client("for=\"\\192.0.2.43\""), "10.0.0.1");
}

TEST(ClientAddressTest, ForwardedObfuscatedAndUnknownStopTheWalk) {
  auto client = [](std::string_view value) {
    return Client("10.0.0.1", LanForwarded(), {{"Forwarded", value}});
  };
  EXPECT_EQ(client("for=unknown"), "10.0.0.1");
  EXPECT_EQ(client("for=_hidden"), "10.0.0.1");
  EXPECT_EQ(client("for=\"_gazonk\""), "10.0.0.1");
  EXPECT_EQ(client("for=192.0.2.43, for=_hidden, for=10.0.0.2"), "10.0.0.2");
  EXPECT_EQ(client("for=192.0.2.43, for=10.0.0.2, for=unknown"), "10.0.0.1");
}

TEST(ClientAddressTest, ForwardedSpoofingAndAllTrusted) {
  auto client = [](std::string_view value) {
    return Client("10.0.0.1", LanForwarded(), {{"Forwarded", value}});
  };
  EXPECT_EQ(client("for=1.1.1.1, for=192.0.2.43, for=10.0.0.2"), "192.0.2.43");
  EXPECT_EQ(client("for=10.0.0.5, for=10.0.0.6"), "10.0.0.5");
  EXPECT_EQ(client("for=\"[::1]\", for=10.0.0.6"), "::1");
  EXPECT_EQ(Client("10.0.0.1", LanForwarded(),
                   {{"Forwarded", "for=1.1.1.1, for=192.0.2.43"}, {"Forwarded", "for=10.0.0.2"}}),
            "192.0.2.43");
}

TEST(ClientAddressTest, ForwardedMalformedElements) {
  auto client = [](std::string_view value) {
    return Client("10.0.0.1", LanForwarded(), {{"Forwarded", value}});
  };
  EXPECT_EQ(client("for=192.0.2.43, proto=https"), "10.0.0.1");      // a hop without for=
  EXPECT_EQ(client("for=192.0.2.43;for=198.51.100.1"), "10.0.0.1");  // duplicate for=
  EXPECT_EQ(client("for=[2001:db8::1]"), "10.0.0.1");                // brackets need quotes
  EXPECT_EQ(client("for=192.0.2.43:80"), "10.0.0.1");                // so do ports
  EXPECT_EQ(client("for=10.0.0.9, for=\"192.0.2.43"), "10.0.0.1");   // unterminated
  EXPECT_EQ(client("for = 192.0.2.43"), "10.0.0.1");
  EXPECT_EQ(client("for=192.0.2.43 by=10.0.0.2"), "10.0.0.1");
  EXPECT_EQ(client("=192.0.2.43"), "10.0.0.1");
  EXPECT_EQ(client("for="), "10.0.0.1");
  EXPECT_EQ(client("for=\"a\x01\""), "10.0.0.1");
  // Empty elements and empty pairs carry nothing and are skipped.
  EXPECT_EQ(client(", for=192.0.2.43,,;for=10.0.0.2;, "), "192.0.2.43");
  EXPECT_EQ(client(""), "10.0.0.1");
  // A broken field is one unreadable hop; a later field still counts.
  EXPECT_EQ(Client("10.0.0.1", LanForwarded(),
                   {{"Forwarded", "for=\"oops"}, {"Forwarded", "for=192.0.2.43"}}),
            "192.0.2.43");
  EXPECT_EQ(Client("10.0.0.1", LanForwarded(),
                   {{"Forwarded", "for=192.0.2.43"}, {"Forwarded", "for=\"oops"}}),
            "10.0.0.1");
}

TEST(ClientAddressTest, ResolveGivesTheBinaryAddress) {
  Headers headers = {{"X-Forwarded-For", "203.0.113.7"}};
  EXPECT_EQ(resolve_client_address(Ip("10.0.0.1"), Lan(), headers), Ip("203.0.113.7"));
  EXPECT_EQ(resolve_client_address(Ip("192.0.2.1"), Lan(), headers), Ip("192.0.2.1"));
}

TEST(ClientAddressTest, DoesNotAllocate) {
  Headers xff = {{"X-Forwarded-For", "1.1.1.1, 203.0.113.7, 10.0.0.2"}, {"Host", "x"}};
  Headers forwarded = {{"Forwarded", "for=\"[2001:db8::7]:4711\";proto=https, for=10.0.0.2"}};
  Headers real_ip = {{"X-Real-IP", "203.0.113.7"}};
  IpAddress peer = Ip("10.0.0.1");
  const ProxyConfig& lan = Lan();
  const ProxyConfig& lan_forwarded = LanForwarded();
  const ProxyConfig& lan_real_ip = LanRealIp();
  char buf1[ip_text_size], buf2[ip_text_size], buf3[ip_text_size];
  std::string_view a, b, c;
  bool parsed = false;
  std::size_t allocations = 0;
  {
    AllocationGuard guard;
    a = client_address(peer, lan, xff, buf1);
    b = client_address(peer, lan_forwarded, forwarded, buf2);
    c = client_address(peer, lan_real_ip, real_ip, buf3);
    parsed = parse_ip("2001:db8::1").has_value();
    allocations = guard.count();
  }
  EXPECT_EQ(a, "203.0.113.7");
  EXPECT_EQ(b, "2001:db8::7");
  EXPECT_EQ(c, "203.0.113.7");
  EXPECT_TRUE(parsed);
  EXPECT_EQ(allocations, 0u);
}

}  // namespace
}  // namespace lithe::http
