// The access log's record of one response, built from what the connection knows: its peer,
// the request (when its line was read), the status and the body bytes sent and received.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

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

// Whether the peer's forwarding headers (and request IDs) may be believed: a TCP peer listed in
// proxy.trusted, or a unix-socket peer, a local process the socket's mode allows, once any
// proxy is trusted.
bool trusted_peer(const Peer& peer, const ProxyConfig& proxy) noexcept;

// The request's part of a record. The client is the peer, or the address a trusted proxy
// forwarded (client_address.hpp); its text is written into client_text, which the record
// points into. req: null, or with an empty method, when the request was rejected before its
// line was read. streamed_in: body bytes a handler pulled (body = "stream"); a buffered body
// counts as req's body.
AccessRecord request_record(const Peer& peer, const ProxyConfig& proxy, const lithe::Request* req,
                            uint64_t streamed_in, char (&client_text)[base::ip_text_size]);
// The response's part: its status and body bytes sent, the time now, and the duration since
// start (null: none).
void finish_record(AccessRecord& record, uint16_t status, std::size_t body_bytes,
                   const std::chrono::steady_clock::time_point* start);

// The request's part copied into one string, for a response that outlives its request (an
// open stream gives the request back to its pool), and a record made from it again, whose views
// point into kept.
std::string keep_request_part(const AccessRecord& record);
AccessRecord kept_request_part(std::string_view kept);

}  // namespace lithe::log
