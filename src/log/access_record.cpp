#include "log/access_record.hpp"

#include <cstring>
#include <ctime>
#include <iterator>

#include "log/client_address.hpp"

namespace lithe::log {

bool trusted_peer(const Peer& peer, const ProxyConfig& proxy) noexcept {
  return !proxy.trusted.empty() && (peer.unix_socket || is_trusted(proxy, peer.ip));
}

AccessRecord request_record(const Peer& peer, const ProxyConfig& proxy, const lithe::Request* req,
                            uint64_t streamed_in, char (&client_text)[base::ip_text_size]) {
  AccessRecord rec;
  rec.client = peer.unix_socket ? std::string_view("unix:") : base::format_ip(peer.ip, client_text);
  if (req && !req->method().empty()) {
    if (peer.unix_socket && trusted_peer(peer, proxy)) {
      // It stays "unix:" when its header names nobody.
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
  if (req) rec.request_id = req->request_id();
  rec.bytes_received = streamed_in + (req ? req->body().size() : 0);
  return rec;
}

void finish_record(AccessRecord& rec, uint16_t status, std::size_t body_bytes,
                   const std::chrono::steady_clock::time_point* start) {
  rec.time = std::time(nullptr);
  rec.status = status;
  rec.bytes_sent = body_bytes;
  if (start)
    rec.duration_us = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                std::chrono::steady_clock::now() - *start)
                                                .count());
}

namespace {

// What precedes the kept text: the length of each text field, in kept_fields' order, and
// the numbers.
struct KeptHead {
  uint32_t lengths[6];
  int32_t version_minor;
  uint64_t bytes_received;
};

std::string_view AccessRecord::*const kept_fields[] = {
    &AccessRecord::client,  &AccessRecord::method,     &AccessRecord::target,
    &AccessRecord::referer, &AccessRecord::user_agent, &AccessRecord::request_id};

}  // namespace

std::string keep_request_part(const AccessRecord& rec) {
  KeptHead head{};
  head.version_minor = rec.version_minor;
  head.bytes_received = rec.bytes_received;
  std::string kept(sizeof(head), '\0');
  for (std::size_t i = 0; i < std::size(kept_fields); ++i) {
    const std::string_view field = rec.*kept_fields[i];
    head.lengths[i] = static_cast<uint32_t>(field.size());  // header fields are far shorter
    kept.append(field);
  }
  std::memcpy(kept.data(), &head, sizeof(head));
  return kept;
}

AccessRecord kept_request_part(std::string_view kept) {
  AccessRecord rec;
  KeptHead head;
  std::memcpy(&head, kept.data(), sizeof(head));
  rec.version_minor = head.version_minor;
  rec.bytes_received = head.bytes_received;
  std::size_t at = sizeof(head);
  for (std::size_t i = 0; i < std::size(kept_fields); ++i) {
    rec.*kept_fields[i] = kept.substr(at, head.lengths[i]);
    at += head.lengths[i];
  }
  return rec;
}

}  // namespace lithe::log
