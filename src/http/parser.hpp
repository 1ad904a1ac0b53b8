// The parser adapter: feeds bytes to llhttp (strict mode) and fills a RequestImpl. The only
// place llhttp is included; nothing here knows about sockets, so it is unit-tested and fuzzed
// on plain byte strings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/request.hpp"

namespace lithe::http {

class RequestParser {
 public:
  enum class Status : uint8_t {
    need_more,  // every byte consumed, the request is not complete yet
    complete,   // one whole request parsed; `consumed` ends right after it
    error,      // the stream is unusable: answer error_status and close
  };
  struct Result {
    Status status;
    std::size_t consumed;
    uint16_t error_status = 0;       // 400, 505, ... when status == error
    std::string_view error_reason;   // for logs
  };

  RequestParser();
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Starts a new connection stream whose requests go into req.
  void start(RequestImpl& req);
  // Parses up to len bytes; stops after each complete request so the caller can answer it.
  // Call again with the remaining bytes (after req.reset()) for pipelined requests.
  Result feed(const char* data, std::size_t len);
  // Has the current request received any byte yet?
  bool in_request() const { return in_request_; }
  // Has the current request's header section been fully parsed?
  bool headers_done() const { return headers_done_; }

 private:
  static int on_message_begin(void* p);
  static int on_url(void* p, const char* at, std::size_t len);
  static int on_url_complete(void* p);
  static int on_header_field(void* p, const char* at, std::size_t len);
  static int on_header_field_complete(void* p);
  static int on_header_value(void* p, const char* at, std::size_t len);
  static int on_header_value_complete(void* p);
  static int on_headers_complete(void* p);
  static int on_body(void* p, const char* at, std::size_t len);
  static int on_message_complete(void* p);
  static RequestParser& self(void* p);
  static const void* settings();  // the shared llhttp_settings_t
  int fail(uint16_t status, const char* reason);

  alignas(8) unsigned char llhttp_[96];  // llhttp_t, opaque here (size checked in parser.cpp)
  RequestImpl* req_ = nullptr;
  uint16_t error_status_ = 0;
  bool in_request_ = false;
  bool headers_done_ = false;
  bool in_field_ = false;  // the current url/header name/value already has a first piece
};

}  // namespace lithe::http

namespace lithe::http {
// "8.1.0": the llhttp this binary was built with.
const char* llhttp_version();
}  // namespace lithe::http
