// A response body written piece by piece (SPEC §9): the handler starts it with
// Response::stream(), which sends the status and headers set so far, then writes pieces as it
// has them, from the connection's loop. The body goes out chunked on HTTP/1.1 and
// close-delimited on HTTP/1.0; a HEAD request gets the headers only (writes are dropped).
// Requests pipelined behind a stream are answered after it ends, in order.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>

namespace boost::asio {
class io_context;
}

namespace lithe {

class Response;

namespace detail {
struct StreamState;
}

class Stream {
 public:
  // An inactive stream: every call is a no-op.
  Stream() = default;
  explicit Stream(std::shared_ptr<detail::StreamState> state);
  Stream(const Stream& other);
  Stream(Stream&& other) noexcept;
  Stream& operator=(Stream other) noexcept;
  // When the last copy goes while the stream is active, it is aborted (and the error logged).
  ~Stream();

  // True until end() or abort(), the client going away, a write timeout, or the server
  // ending the stream at the end of a graceful stop.
  bool active() const;

  // Queues bytes (copied) as the next piece. Returns false when more than
  // limits.stream_buffer now waits unsent: stop writing until on_writable. Empty pieces are
  // ignored.
  bool write(std::string_view bytes);
  // The same without copying. The connection may still be sending them after the stream
  // stops, so they must outlive it: static data, or memory the handler keeps for as long as
  // the server runs.
  bool write_view(std::string_view bytes);
  // Bytes queued and not yet taken by the socket.
  std::size_t buffered() const;

  // Ends the body (the terminating chunk); the connection then serves the next request.
  void end();
  // Ends the response without its end, and closes the connection: the client sees it failed.
  void abort();

  // Called on the loop after a write() returned false, once what waits unsent has fallen to
  // limits.stream_buffer or below (again after each later write that returns false).
  void on_writable(std::function<void()> fn);
  // Called at most once if the stream stops without end() or abort() from the handler: the
  // client went away, a write stalled past timeouts.write, or the server ended it on stop.
  void on_cancel(std::function<void()> fn);
  // Called once when a graceful stop begins: end the stream soon. At timeouts.shutdown the
  // server ends it itself.
  void on_drain(std::function<void()> fn);

  // The worker loop that serves this connection: do the producer's async work here.
  boost::asio::io_context& io() const;

 private:
  friend class EventStream;
  std::shared_ptr<detail::StreamState> state_;
};

// Server-sent events (text/event-stream) over a Stream: framing, the headers a proxy needs to
// pass events on at once, and the route's `heartbeat` comment while no event is sent.
class EventStream {
 public:
  EventStream() = default;
  // Starts an event stream as the answer to res (status 200 unless set otherwise).
  static EventStream start(Response& res);

  // One event: `event:` and `id:` lines when given (they must not hold CR, LF or NUL:
  // std::invalid_argument), then one `data:` line per line of data (split at CRLF, LF or CR).
  // Returns what Stream::write returns.
  bool send(std::string_view data, std::string_view event = {}, std::string_view id = {});
  // A comment line (": text"), which clients ignore.
  bool comment(std::string_view text);
  // The reconnection delay sent in the `retry:` field when the server ends the stream on stop
  // (default 1000 ms).
  void retry_on_stop(unsigned milliseconds);

  Stream& stream() { return stream_; }
  bool active() const { return stream_.active(); }
  void end() { stream_.end(); }

 private:
  explicit EventStream(Stream s) : stream_(std::move(s)) {}
  Stream stream_;
};

}  // namespace lithe
