// The parser adapter: feeds bytes to llhttp (strict mode) and fills a RequestImpl. The only
// place llhttp is included; nothing here knows about sockets, so it is unit-tested and fuzzed
// on plain byte strings.
//
// llhttp 8.1 lets some things through that SPEC §4 rejects; this layer adds them:
// a scan of the head before llhttp sees it (bare CR/LF, request-line shape and length, header
// section length), and checks when the head is complete (Host, versions, Transfer-Encoding,
// CONNECT, Expect, body size). Whatever it rejects, no later byte is parsed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/request.hpp"

namespace lithe::http {

struct ParserLimits {
  std::size_t request_line = 8 * 1024;     // → 414
  std::size_t header_section = 16 * 1024;  // → 431
  std::size_t body = 1024 * 1024;          // → 413 (a request's own limit may replace it)
  // Stop at the end of every head that a body follows (Status::head), so the caller can pick
  // the request's body limit and whether its body streams before a body byte is parsed.
  bool pause_before_body = false;
};

class RequestParser {
 public:
  enum class Status : uint8_t {
    need_more,        // every byte consumed, the request is not complete yet
    expect_continue,  // head complete with Expect: 100-continue: decide, then feed the body
    head,             // (pause_before_body) head complete, a body follows: decide, then feed
    complete,         // one whole request parsed; `consumed` ends right after it
    error,            // the stream is unusable: answer error_status and close
  };
  struct Result {
    Status status;
    std::size_t consumed;
    uint16_t error_status = 0;      // 400, 413, 414, 431, 501, 505 ... when status == error
    std::string_view error_reason;  // for logs and metrics
  };

  RequestParser();
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Starts a new connection stream whose requests go into req.
  void start(RequestImpl& req, const ParserLimits& limits = {});
  // Parses up to len bytes; stops after each complete request so the caller can answer it.
  // Call again with the remaining bytes (after req.reset()) for pipelined requests.
  Result feed(const char* data, std::size_t len);
  // Has the current request received any byte yet?
  bool in_request() const { return in_request_ || scan_.started; }
  // Has the current request's header section been fully parsed?
  bool headers_done() const { return headers_done_; }

  // At Status::head: this request's body limit (→ 413 at the byte that crosses it).
  void set_body_limit(uint64_t limit) { body_limit_ = limit; }
  // At Status::head: the body is handed out piece by piece instead of kept in the request.
  // Each feed() then yields at most one piece (body_piece()), de-chunked in place inside the
  // bytes it was given, and valid until those bytes change.
  void stream_body() { streaming_ = true; }
  bool streams_body() const { return streaming_; }
  std::string_view body_piece() const { return {piece_begin_, piece_size_}; }
  // Body bytes of the current request parsed so far.
  uint64_t body_received() const { return body_received_; }

 private:
  static int on_message_begin(void* p);
  static int on_url(void* p, const char* at, std::size_t len);
  static int on_url_complete(void* p);
  static int on_header_field(void* p, const char* at, std::size_t len);
  static int on_header_field_complete(void* p);
  static int on_header_value(void* p, const char* at, std::size_t len);
  static int on_header_value_complete(void* p);
  static int on_headers_complete(void* p);
  static int on_chunk_header(void* p);
  static int on_chunk_extension(void* p, const char* at, std::size_t len);
  void count_trailer(std::size_t len, bool name);
  int check_trailer_size();  // 431 once the trailers exceed header_section
  static int on_body(void* p, const char* at, std::size_t len);
  static int on_message_complete(void* p);
  static RequestParser& self(void* p);
  static const void* settings();  // the shared llhttp_settings_t
  int fail(uint16_t status, const char* reason);
  int check_head();
  // Scans head bytes before llhttp parses them; returns how many bytes may be parsed (all of
  // them, or up to the first offending byte, with scan_error_ set).
  std::size_t scan_head(const char* data, std::size_t len);

  // The head scanner's state, carried across reads.
  struct HeadScan {
    bool started = false;  // a byte of the request line was seen (leading CRLFs skipped)
    bool done = false;     // the blank line ending the head was seen
    bool in_request_line = true;
    bool after_cr = false;          // the previous byte was CR
    bool line_empty = true;         // nothing but CR seen on the current line
    bool prev_space = false;        // the previous request-line byte was a space
    uint8_t spaces = 0;             // spaces in the request line
    std::size_t line_bytes = 0;     // request-line length so far
    std::size_t section_bytes = 0;  // header-section length so far
  };

  alignas(8) unsigned char llhttp_[96];  // llhttp_t, opaque here (size checked in parser.cpp)
  RequestImpl* req_ = nullptr;
  ParserLimits limits_;
  HeadScan scan_;
  uint64_t body_bytes_ = 0;      // chunked bodies: declared so far (+ extension bytes)
  uint64_t body_limit_ = 0;      // this request's body limit (limits_.body by default)
  uint64_t body_received_ = 0;   // body bytes parsed so far
  char* piece_begin_ = nullptr;  // streaming: the piece of the current feed()
  std::size_t piece_size_ = 0;
  std::size_t trailer_bytes_ = 0;            // trailer section so far
  std::size_t trailer_name_bytes_ = 0;       // the current trailer's name so far
  const char* feed_data_ = nullptr;          // start of the bytes of the current feed()
  const char* feed_end_ = nullptr;           // their end
  const char* prev_feed_end_ = nullptr;      // the end of the previous feed()'s bytes
  const char* trailer_value_end_ = nullptr;  // end of the current trailer value's last piece
  uint16_t error_status_ = 0;
  const char* error_reason_ = nullptr;
  uint16_t scan_error_ = 0;  // set by scan_head
  const char* scan_reason_ = nullptr;
  uint8_t host_count_ = 0;
  bool in_request_ = false;
  bool headers_done_ = false;
  bool paused_at_head_ = false;  // on_headers_complete paused before a body
  bool streaming_ = false;       // stream_body() for the current request
  bool in_field_ = false;        // the current url/name/value already has a first piece
  bool have_name_ = false;       // a header name was completed and awaits its value
  bool too_many_ = false;        // a name began past limits.headers: 431 once llhttp accepts it
  bool in_trailers_ = false;     // header callbacks now carry trailer fields: ignored
  bool te_seen_ = false;
  bool te_chunked_last_ = false;
  bool te_bad_ = false;      // a coding after chunked, chunked twice, or not a token
  bool te_unknown_ = false;  // a coding other than chunked (gzip, ...): 501
};

// "8.1.0": the llhttp this binary was built with.
const char* llhttp_version();

}  // namespace lithe::http
