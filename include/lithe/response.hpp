// What a handler fills in. text()/json()/header() copy their arguments; body_view() does not,
// so its bytes must outlive the write (static data, a handler's own buffers). Built-in and
// registered handlers answer through this same interface, with the same powers.
#pragma once

#include <cstdint>
#include <string_view>

namespace lithe {

class BodyReader;
class PreparedResponse;
class Responder;
class Stream;

class Response {
 public:
  Response& status(int code);
  int status() const { return status_; }

  // Adds a header (copied). Server, Date, Content-Length and Connection are the server's own.
  Response& header(std::string_view name, std::string_view value);

  // Sets the body (copied) and its Content-Type.
  void text(std::string_view body, std::string_view content_type = "text/plain; charset=utf-8");
  void json(std::string_view serialized_json) { text(serialized_json, "application/json"); }
  // Sets the body without copying it: the bytes must stay valid until the response is sent.
  void body_view(std::string_view body, std::string_view content_type);
  // Sends length bytes of an open file from offset, zero copy (sendfile). The response owns fd
  // from now on and closes it once sent (or dropped).
  void file(int fd, uint64_t offset, uint64_t length, std::string_view content_type);
  // Answers with a response rendered ahead (lithe/prepared.hpp), which must outlive the write
  // (a handler keeps its own). It replaces the status, body and Content-Type set here; headers
  // added with header() (by middleware, say) follow its own.
  void prepared(const PreparedResponse& response);
  // The connection closes after this response (it says Connection: close).
  void close_connection();
  // Answers later: the handler returns, and the Responder (lithe/responder.hpp) sends this
  // response once filled, from the same loop. Without a connection (a unit test calling a
  // handler directly) it returns an inactive Responder.
  Responder defer();
  // Starts a streamed body (lithe/stream.hpp): the status and headers set so far go out now,
  // and the body follows through the returned Stream; any body set here is ignored. Works in a
  // handler and on a Responder's response (the Responder is then done). Inactive without a
  // connection, and for a second call.
  Stream stream();
  // As stream(), with the body compressed as it is written (README, "Compression"): in the
  // coding the request's Accept-Encoding prefers among [compression] encodings, when the
  // Content-Type set so far is in compression.types and the route does not say
  // compress = false; otherwise a plain stream. Each write is flushed, so the client can decode
  // it on arrival, and is copied (write_view too).
  Stream compressed_stream();
  // The request body, pulled piece by piece, on a route with `body = "stream"`
  // (lithe/body_reader.hpp); inactive elsewhere. Keep it with the Responder or Stream that
  // answers, since the handler returns before the body has arrived.
  BodyReader body_reader();

 protected:
  Response() = default;
  ~Response() = default;
  Response(const Response&) = delete;
  Response& operator=(const Response&) = delete;

  uint16_t status_ = 200;
  std::string_view content_type_;
  std::string_view body_;
};

}  // namespace lithe
