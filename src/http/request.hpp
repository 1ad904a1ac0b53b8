// The pooled request: lithe::Request plus the storage its views may need. Views point into the
// connection's read buffer while a field arrives whole; a field split across reads is joined
// in the arena. The object is reset and reused, never freed per request.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "base/method.hpp"
#include "http/arena.hpp"
#include "http/path_param.hpp"
#include "lithe/request.hpp"

namespace lithe::http {

// simdjson reads up to this many bytes past a document's end (SIMDJSON_PADDING).
inline constexpr std::size_t json_padding = 64;

class RequestImpl : public lithe::Request {
 public:
  explicit RequestImpl(std::size_t max_headers);

  // Forget the previous request; keeps every buffer's capacity.
  void reset();

  // Moves every view that points into [lo, hi) by delta bytes (the read buffer was compacted).
  void rebase(const char* lo, const char* hi, std::ptrdiff_t delta);
  // Copies every view that points outside the arena/body store into them, so the read buffer
  // bytes behind this request can be dropped (a long body is streaming in).
  void pin();

  base::Method method_id() const { return method_id_; }
  bool keep_alive() const { return keep_alive_; }
  bool is_head() const { return method_id_ == base::Method::HEAD; }
  // Expect: 100-continue on an HTTP/1.1 request with a body still to come.
  bool expects_continue() const { return expects_continue_; }
  uint64_t declared_length() const { return declared_length_; }
  bool chunked() const { return chunked_; }

  // Writes matched path params, percent-decoding in the arena only values that need it.
  void set_params(const RawParam* params, std::size_t count);
  // The connection a handler's questions go to (client_address).
  void set_port(SessionPort* port) { port_ = port; }
  // Its ID (server.request_id_header), in storage that lives as long as the request.
  void set_request_id(std::string_view id) { request_id_ = id; }

  Arena& arena() { return arena_; }
  std::size_t max_headers() const { return header_store_.size(); }

 private:
  friend class RequestParser;

  // Appends a piece of a field that arrived split across reads.
  void extend(std::string_view& field, const char* at, std::size_t len);
  void split_target();
  void append_body(const char* at, std::size_t len);

  Arena arena_;
  std::vector<Header> header_store_;  // capacity fixed at limits.headers
  PathParam param_store_[max_params];
  std::string body_store_;        // a body that arrived in pieces (+ json_padding spare bytes)
  uint64_t declared_length_ = 0;  // Content-Length, 0 when absent
  base::Method method_id_ = base::Method::GET;
  bool keep_alive_ = true;
  bool expects_continue_ = false;
  bool chunked_ = false;
  bool body_in_store_ = false;
};

}  // namespace lithe::http
