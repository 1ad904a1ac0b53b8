// The access log's record of one response, built from what the connection knows: its peer,
// the request (when its line was read), the status and the body bytes sent and received.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "base/ip.hpp"
#include "lithe/config.hpp"
#include "lithe/request.hpp"
#include "log/access_log.hpp"

namespace lithe::log {

// The other end of a connection: an address (the socket's peer, or the source a PROXY
// protocol header gave), or a process on a unix socket.
struct Peer {
  const base::IpAddress& ip;
  bool unix_socket;
};

// The client is the peer, or the address a trusted proxy forwarded (client_address.hpp); its
// text is written into client_text, which the record points into. req: null, or with an empty
// method, when the request was rejected before its line was read. streamed_in: body bytes a
// handler pulled (body = "stream"); a buffered body counts as req's body. start: when the
// request began (null: no duration).
AccessRecord access_record(const Peer& peer, const ProxyConfig& proxy, const lithe::Request* req,
                           uint16_t status, std::size_t body_bytes, uint64_t streamed_in,
                           const std::chrono::steady_clock::time_point* start,
                           char (&client_text)[base::ip_text_size]);

}  // namespace lithe::log
