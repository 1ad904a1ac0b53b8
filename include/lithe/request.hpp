// The request a handler sees. Every string_view points into connection memory (the read buffer
// or a per-request arena) and is valid only while the handler runs: copy what you keep.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <span>
#include <string_view>

namespace lithe {

namespace http {
class Arena;
class SessionPort;
}  // namespace http

struct Header {
  std::string_view name;   // as sent (case preserved)
  std::string_view value;  // without surrounding whitespace
};

struct PathParam {
  std::string_view name;
  std::string_view value;  // percent-decoded
};

class Request {
 public:
  std::string_view method() const { return method_; }
  std::string_view target() const { return target_; }  // as on the request line
  std::string_view path() const { return path_; }      // target without query (raw, not decoded)
  std::string_view query() const { return query_; }    // after '?', without it; "" if none
  unsigned version_major() const { return version_major_; }
  unsigned version_minor() const { return version_minor_; }

  std::span<const Header> headers() const { return {headers_, header_count_}; }
  // The first header with this name (ASCII case-insensitive), or "" when absent.
  std::string_view header(std::string_view name) const;
  bool has_header(std::string_view name) const;

  std::span<const PathParam> params() const { return {params_, param_count_}; }
  // The route's {name} or *name parameter, percent-decoded; "" when absent.
  std::string_view param(std::string_view name) const;

  // The first query parameter with this name (`?a=1&b=x+y`: "1", "x y"), names and values
  // decoded as a form encodes them (%XX, '+' for a space); "" when absent or without a value.
  std::string_view query_param(std::string_view name) const;
  // The value of the cookie with this name in the Cookie header(s), without the double quotes
  // that may surround it (not otherwise decoded); "" when absent.
  std::string_view cookie(std::string_view name) const;
  // The client's address as the access log writes it: the address a trusted proxy forwarded
  // ([proxy] trusted, client_header), else the peer's (or the PROXY protocol's source);
  // "unix:" for a peer on a unix socket, "" without a connection.
  std::string_view client_address() const;
  // The request's ID (server.request_id_header): the one a trusted proxy sent, or one lithe
  // made; the response carries it and the access log writes it. "" when the key is unset.
  std::string_view request_id() const { return request_id_; }

  std::string_view body() const { return body_; }

  // The body parsed as JSON with simdjson, in place (the body buffer keeps simdjson's padding).
  // Throws simdjson::simdjson_error when it is not valid JSON. The element is valid until the
  // next json() call on the same worker: copy what an async handler keeps.
  simdjson::dom::element json() const;

 protected:
  Request() = default;
  ~Request() = default;
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  std::string_view method_;
  std::string_view target_;
  std::string_view path_;
  std::string_view query_;
  uint8_t version_major_ = 1;
  uint8_t version_minor_ = 1;
  uint16_t header_count_ = 0;
  uint8_t param_count_ = 0;
  Header* headers_ = nullptr;  // storage owned by the pooled implementation
  PathParam* params_ = nullptr;
  std::string_view body_;
  std::string_view request_id_;
  http::Arena* scratch_ = nullptr;     // where decoded values are written (the request's arena)
  http::SessionPort* port_ = nullptr;  // the connection serving it, while a handler may ask
};

}  // namespace lithe
