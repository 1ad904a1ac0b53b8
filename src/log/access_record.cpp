#include "log/access_record.hpp"

#include <ctime>

#include "log/client_address.hpp"

namespace lithe::log {

AccessRecord access_record(const Peer& peer, const ProxyConfig& proxy, const lithe::Request* req,
                           uint16_t status, std::size_t body_bytes, uint64_t streamed_in,
                           const std::chrono::steady_clock::time_point* start,
                           char (&client_text)[base::ip_text_size]) {
  AccessRecord rec;
  rec.client = peer.unix_socket ? std::string_view("unix:") : base::format_ip(peer.ip, client_text);
  if (req && !req->method().empty()) {
    if (peer.unix_socket && !proxy.trusted.empty()) {
      // A unix-socket peer is a local process the socket's mode allows: as trusted as the
      // proxies listed. It stays "unix:" when its header names nobody.
      if (auto found = forwarded_client(proxy, req->headers()))
        rec.client = base::format_ip(*found, client_text);
    } else if (!proxy.trusted.empty()) {
      rec.client = client_address(peer.ip, proxy, req->headers(), client_text);
    }
    rec.method = req->method();
    rec.target = req->target();
    rec.version_minor = static_cast<int>(req->version_minor());
    rec.referer = req->header("referer");
    rec.user_agent = req->header("user-agent");
  }
  rec.time = std::time(nullptr);
  rec.status = status;
  rec.bytes_sent = body_bytes;
  rec.bytes_received = streamed_in + (req ? req->body().size() : 0);
  if (start)
    rec.duration_us = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                std::chrono::steady_clock::now() - *start)
                                                .count());
  return rec;
}

}  // namespace lithe::log
