// The shared state behind lithe::Stream: the session writing it, the handler's callbacks and
// the pieces queued while an earlier write is in flight. The session clears `conn` when the
// stream stops (ended and written, cancelled); the handles then go inert.
//
// A stream can stay open for hours, so it carries what its end needs (status, start, route
// slot, the access log's request fields): the session gives the request itself back to its pool
// once the handler is done with it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "http/output.hpp"
#include "http/session_port.hpp"

namespace boost::asio {
class io_context;
}

namespace lithe::detail {

struct StreamState : std::enable_shared_from_this<StreamState> {
  StreamState(http::SessionPort* c, boost::asio::io_context* loop) : conn(c), io(loop) {}
  StreamState(const StreamState&) = delete;
  StreamState& operator=(const StreamState&) = delete;

  // Whether the handler may still write: neither ended nor aborted, and the session is there.
  bool open() const { return conn && !ended && !aborted; }

  http::SessionPort* conn;                     // null once the stream is over
  std::shared_ptr<StreamState> held;           // the session's reference, while conn is set
  boost::asio::io_context* io;                 // the connection's loop
  std::unique_ptr<http::OutputBuffer> staged;  // pieces queued behind the write in flight
  std::function<void()> on_writable;
  std::function<void()> on_cancel;
  std::function<void()> on_drain;
  std::chrono::steady_clock::time_point start{};  // the request's first byte (metrics, log)
  std::chrono::milliseconds heartbeat{0};         // the route's `heartbeat` (event streams)
  std::size_t body_bytes = 0;                     // payload queued (log, metrics)
  std::string kept_log;  // the access log's request fields once the request is given back
  uint32_t metrics_slot = 0;
  uint32_t handles = 0;      // lithe::Stream copies alive
  uint32_t retry_ms = 1000;  // an event stream's `retry:` when the server ends it
  uint16_t status = 200;
  uint8_t coding = 0;          // compressed_stream(): the body's coding (encoding::Coding)
  bool chunked = false;        // HTTP/1.1: chunked framing; else close-delimited or HEAD
  bool discard = false;        // HEAD or a status without a body: writes go nowhere
  bool keep_alive = false;     // the connection may serve another request after it
  bool event_stream = false;   // text/event-stream: heartbeats, `retry:` on stop
  bool ended = false;          // end() (or the server's end on stop): the last piece is queued
  bool aborted = false;        // abort(): the connection closes without the last piece
  bool want_writable = false;  // a write returned false: on_writable is owed
  bool flush_posted = false;   // a flush is queued on the loop
};

}  // namespace lithe::detail
