// The HAProxy PROXY protocol preamble (v1 text, v2 binary) that a load balancer sends before the
// first HTTP byte to tell who its client was. Pure parsing: no I/O, no allocation.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace lithe::http {

// The longest v1 line, CRLF included (the protocol's own limit).
inline constexpr std::size_t proxy_v1_max_size = 107;
// v2: the fixed part, and the most address + TLV bytes accepted after it. Real senders add a few
// dozen TLV bytes (AWS, GCP, Azure link ids); the cap bounds what a connection must buffer.
inline constexpr std::size_t proxy_v2_header_size = 16;
inline constexpr std::size_t proxy_v2_max_payload = 4096;
// A buffer this large always holds a complete preamble of either version.
inline constexpr std::size_t proxy_max_size = proxy_v2_header_size + proxy_v2_max_payload;

struct ProxyHeader {
  // LOCAL (v2) or UNKNOWN (v1): the proxy speaks for itself (health checks); keep the real peer.
  bool local = false;
  // Whether source holds the client's address. False for LOCAL/UNKNOWN and for v2 AF_UNSPEC or
  // AF_UNIX, where the real peer stands.
  bool has_source = false;
  std::array<uint8_t, 16> source{};  // IPv6, or IPv4-mapped (::ffff:a.b.c.d)
  uint16_t source_port = 0;
};

enum class ProxyParse : uint8_t {
  need_more,  // a valid preamble so far; read more bytes and call again with all of them
  done,       // out is filled and *consumed is the preamble's length
  invalid,    // not a PROXY preamble, or a malformed one: close the connection
};

// Parses the preamble at the start of data[0, size). Any byte that cannot start or continue a
// valid preamble gives invalid at once, without waiting for the rest. Bytes after the preamble
// (the first request) are not looked at. out and *consumed are written only on done.
ProxyParse parse_proxy_header(const char* data, std::size_t size, ProxyHeader& out,
                              std::size_t* consumed) noexcept;

}  // namespace lithe::http
