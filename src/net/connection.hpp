// One client connection: read → parse → dispatch → write → keep-alive or close.
// At most one read-side and one write-side wait are in flight; the read buffer, exchange and
// output buffer come from the worker's pools and go back as soon as the connection is idle,
// so an idle keep-alive connection holds only this object and its socket.
#pragma once

#include <boost/asio/generic/stream_protocol.hpp>
#include <cstddef>
#include <memory>

#include "http/client_address.hpp"
#include "http/exchange.hpp"
#include "http/output.hpp"
#include "http/response_writer.hpp"
#include "net/deadlines.hpp"
#include "net/listener.hpp"

namespace lithe::detail {
struct Pending;
}

namespace lithe::net {

class Worker;
struct ReadBuffer;

class Connection {
 public:
  explicit Connection(Worker& worker);
  ~Connection();

  // Takes over an accepted socket and starts reading.
  void start(Socket socket);
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

  std::size_t active_index = 0;  // position in the worker's list of open connections

 private:
  void do_wait_read();
  void on_readable(const boost::system::error_code& ec);
  void do_read();
  void do_receive();
  void on_received(const boost::system::error_code& ec, std::size_t n);
  void go_cold();
  void give_back_buffer();
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
  void start_linger();
  void linger_read();
  void release_idle_resources();
  void finish_op();
  http::RenderContext render_context(bool keep_alive, bool http10, bool head) const;
  bool read_proxy_header();
  void log_access(uint16_t status, std::size_t body_bytes);
  void resolve_peer();  // peer_ / unix_peer_ from the socket

  Worker& worker_;
  Socket socket_;
  std::unique_ptr<ReadBuffer> rbuf_;          // null while idle
  std::unique_ptr<http::Exchange> exchange_;  // null while idle
  std::unique_ptr<http::OutputBuffer> out_;   // null while nothing is being written
  detail::Pending* pending_ = nullptr;        // the response a Responder will send, if any
  http::IpAddress peer_{};                    // the peer (or the PROXY protocol's source)
  Deadline deadline_;                         // the one timeout running for this connection
  std::size_t rbegin_ = 0;                    // first byte of the request being parsed
  std::size_t rpos_ = 0;                      // first byte not yet given to the parser
  std::size_t rend_ = 0;                      // end of the bytes read
  uint32_t lingered_ = 0;  // bytes discarded while lingering (stops at linger_limit)
  uint32_t requests_ = 0;  // requests answered on this connection
  unsigned batch_ = 0;     // responses rendered since the last write
  unsigned ops_ = 0;       // socket waits in flight
  bool open_ = false;
  bool reading_ = false;            // a read wait or read is in flight
  bool receiving_ = false;          // ... and it is a read into rbuf_ (not a readiness wait)
  bool releasing_ = false;          // that read was cancelled to give the buffer back
  bool hot_ = false;                // rbuf_ counts against the worker's idle-buffer cap
  bool close_after_write_ = false;  // the last rendered response ends the connection
  bool header_armed_ = false;       // the current request's header deadline is running
  bool lingering_ = false;          // response sent, send side shut: discarding input
  bool dispatching_ = false;        // inside a handler: a send() now is a synchronous answer
  bool awaiting_ = false;           // a Responder holds the request; nothing else is parsed
  bool async_ready_ = false;        // sent while a batch was being written: render after it
  bool holds_retired_ = false;      // may reference a snapshot a reload retired
  bool expect_proxy_ = false;       // a PROXY protocol preamble must come first
  bool unix_peer_ = false;          // accepted on a unix socket: no peer address
  bool peer_known_ = false;         // peer_ / unix_peer_ were looked up (or came from PROXY)
};

}  // namespace lithe::net
