// One client connection: read → parse → dispatch → write → keep-alive or close.
// At most one read-side and one write-side wait are in flight; the read buffer, exchange and
// output buffer come from the worker's pools and go back as soon as the connection is idle,
// so an idle keep-alive connection holds only this object and its socket.
#pragma once

#include <boost/asio/generic/stream_protocol.hpp>
#include <cstddef>
#include <memory>
#include <span>

#include "base/ip.hpp"
#include "http/exchange.hpp"
#include "http/output.hpp"
#include "http/response_writer.hpp"
#include "net/deadlines.hpp"
#include "net/op_slot.hpp"
#include "net/socket.hpp"

namespace lithe::detail {
struct Pending;
}

namespace lithe::net {

class Worker;
class Ring;
struct ReadBuffer;
enum class RingOp : uint8_t;
struct CompletionFlags;

class Connection : private Deadline {  // its one timeout running
 public:
  // The read side's one operation: Asio's readiness wait with this connection's handler (a
  // pointer plus the slot's allocator), or the completion of a receive (net/receive.hpp).
  static constexpr std::size_t read_op_size = 96;

  explicit Connection(Worker& worker);
  ~Connection();

  // Takes over an accepted socket (non-blocking; family AF_INET, AF_INET6 or AF_UNIX) and starts
  // reading.
  void start(int fd, int family);
  // Graceful stop: closes the connection when it sits idle between requests with nothing
  // waiting to be read. Returns whether it did.
  bool close_if_idle();
  // A reload swapped the snapshot: a connection with a response in flight may reference the
  // old one, and keeps it alive (returns true) until that response is written.
  bool pin_retired();
  // Closes now (reset, timeout, stop); the worker reclaims the object once no operation is
  // in flight.
  void close();
  // A deadline of this connection expired.
  void on_timeout(Timeout kind);

  // Asynchronous answers (lithe::Responder): send() and the last copy dropped unsent.
  void complete_async();
  void complete_async_dropped();

  // The connection whose deadline expired.
  static Connection& of(Deadline& d) { return static_cast<Connection&>(d); }

  // For the epoll transport's receive (receive.hpp): the socket, where the operation lives, the
  // room for input once input is there (taking a buffer), an attempt that found none, whether
  // the last read emptied the socket, and the completion.
  Socket& socket() { return socket_; }
  OpSlot<read_op_size>& op_slot() { return read_slot_; }
  bool input_known_empty() const { return input_drained_; }
  void set_input_known_empty(bool empty) { input_drained_ = empty; }
  std::span<char> input_space();
  void input_space_unused();
  void on_received(const boost::system::error_code& ec, std::size_t n);
  // Completion of one of this connection's io_uring entries (net/ring.hpp).
  void on_ring(RingOp op, int res, CompletionFlags flags);

 private:
  void ring_receive(Ring& ring);
  void ring_send(Ring& ring, int run, int flags);
  void on_sent(int res);
  void cancel_read();
  void wait_writable();
  void yield_write();
  void do_wait_read();
  void on_readable(const boost::system::error_code& ec);
  void do_receive();
  void give_back_buffer();
  void discard_input(std::size_t n);
  void release();
  void process_input();
  void on_expect_continue();
  void handle_request();
  void finish_response(std::size_t slot);
  static lithe::Responder make_responder(void* self);
  void resume_after_async();
  void cancel_pending();
  void unpin_retired();
  void fail_request(uint16_t status);
  bool make_room();
  void wait_for_input();
  void do_write();
  void write_pending();
  void on_writable(const boost::system::error_code& ec);
  void on_write_done();
  void end_after_write();
  bool input_drained() const;
  void start_linger();
  void linger_read();
  void release_idle_resources();
  void finish_op();
  http::RenderContext render_context(bool keep_alive, bool http10, bool head) const;
  bool read_proxy_header();
  void log_access(uint16_t status, std::size_t body_bytes);
  void resolve_peer();  // peer_ / unix_peer_ from the socket

  Deadline& deadline() { return *this; }
  // Nothing read waits to be parsed, and no request is half-read.
  bool between_requests() const {
    return rpos_ == rend_ && !(exchange_ && exchange_->parser.in_request());
  }

  // Laid out to stay small (README, "Idle connection size"): an idle connection is this
  // object, Asio's descriptor state and nothing else.
  Worker& worker_;
  Socket socket_;
  std::unique_ptr<ReadBuffer> rbuf_;          // null while idle
  std::unique_ptr<http::Exchange> exchange_;  // null while idle
  std::unique_ptr<http::OutputBuffer> out_;   // null while nothing is being written
  detail::Pending* pending_ = nullptr;        // the response a Responder will send, if any
  base::IpAddress peer_{};                    // the peer (or the PROXY protocol's source)
  OpSlot<read_op_size> read_slot_;            // the read side's operation (see op_slot.hpp)
  uint32_t rbegin_ = 0;                       // first byte of the request being parsed
  uint32_t rpos_ = 0;                         // first byte not yet given to the parser
  uint32_t rend_ = 0;                         // end of the bytes read
  uint32_t lingered_ = 0;                     // bytes discarded while lingering (to linger_limit)
  uint32_t requests_ = 0;                     // requests answered on this connection
  uint32_t batch_ = 0;                        // responses rendered since the last write
  int fd_ = -1;      // the socket (Asio's socket_ is released with io_uring)
  uint8_t ops_ = 0;  // socket waits in flight (at most two)
  bool open_ : 1 = false;
  bool reading_ : 1 = false;            // a read wait or read is in flight
  bool receiving_ : 1 = false;          // ... and it is a read into rbuf_ (not a readiness wait)
  bool releasing_ : 1 = false;          // that read was cancelled for a graceful stop
  bool writing_ : 1 = false;            // a send or a writability wait is in flight
  bool close_after_write_ : 1 = false;  // the last rendered response ends the connection
  bool header_armed_ : 1 = false;       // the current request's header deadline is running
  bool lingering_ : 1 = false;          // response sent, send side shut: discarding input
  bool dispatching_ : 1 = false;        // inside a handler: a send() now is a synchronous answer
  bool awaiting_ : 1 = false;           // a Responder holds the request; nothing else is parsed
  bool async_ready_ : 1 = false;        // sent while a batch was being written: render after it
  bool holds_retired_ : 1 = false;      // may reference a snapshot a reload retired
  bool expect_proxy_ : 1 = false;       // a PROXY protocol preamble must come first
  bool unix_peer_ : 1 = false;          // accepted on a unix socket: no peer address
  bool peer_known_ : 1 = false;         // peer_ / unix_peer_ were looked up (or came from PROXY)
  bool tcp_ : 1 = false;                // TCP (not a unix socket)
  bool rejected_ : 1 = false;           // closing after a rejection: the client may still send
  bool input_drained_ : 1 = false;      // the last receive left nothing in the socket

 public:
  uint32_t active_index = 0;  // position in the worker's list of open connections (packs here)
};

}  // namespace lithe::net
