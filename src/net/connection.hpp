// One client connection: read → parse → dispatch → write → keep-alive or close.
// At most one read-side and one write-side wait are in flight; the read buffer, exchange and
// output buffer come from the worker's pools and go back as soon as the connection is idle,
// so an idle keep-alive connection holds only this object and its socket.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <memory>

#include "http/exchange.hpp"
#include "http/output.hpp"
#include "http/response_writer.hpp"
#include "net/deadlines.hpp"

namespace lithe::net {

class Worker;
struct ReadBuffer;

class Connection {
 public:
  explicit Connection(Worker& worker);
  ~Connection();

  // Takes over an accepted socket and starts reading.
  void start(boost::asio::ip::tcp::socket socket);
  // Closes now (reset, timeout, stop); the worker reclaims the object once no operation is
  // in flight.
  void close();
  // A deadline of this connection expired.
  void on_timeout(Timeout kind);

  std::size_t active_index = 0;  // position in the worker's list of open connections

 private:
  void do_wait_read();
  void on_readable(const boost::system::error_code& ec);
  void do_read();
  void process_input();
  void on_expect_continue();
  void handle_request();
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

  Worker& worker_;
  boost::asio::ip::tcp::socket socket_;
  std::unique_ptr<ReadBuffer> rbuf_;          // null while idle
  std::unique_ptr<http::Exchange> exchange_;  // null while idle
  std::unique_ptr<http::OutputBuffer> out_;   // null while nothing is being written
  Deadline deadline_;         // the one timeout running for this connection
  Clock::time_point request_start_{};  // first byte of the current request (for metrics)
  std::size_t rbegin_ = 0;    // first byte of the request being parsed
  std::size_t rpos_ = 0;      // first byte not yet given to the parser
  std::size_t rend_ = 0;      // end of the bytes read
  std::size_t lingered_ = 0;  // bytes discarded while lingering
  std::size_t requests_ = 0;  // requests answered on this connection
  unsigned batch_ = 0;        // responses rendered since the last write
  unsigned ops_ = 0;          // socket waits in flight
  bool open_ = false;
  bool reading_ = false;            // a read wait is in flight
  bool close_after_write_ = false;  // the last rendered response ends the connection
  bool header_armed_ = false;       // the current request's header deadline is running
  bool lingering_ = false;          // response sent, send side shut: discarding input
};

}  // namespace lithe::net
