// One client connection: read → parse → dispatch → write → keep-alive or close.
// At most one socket operation is in flight; the read buffer, exchange and output buffer come
// from the worker's pools and go back as soon as the connection is idle.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <memory>

#include "http/exchange.hpp"
#include "http/output.hpp"

namespace lithe::net {

class Worker;
struct ReadBuffer;

class Connection {
 public:
  explicit Connection(Worker& worker);
  ~Connection();

  // Takes over an accepted socket and starts reading.
  void start(boost::asio::ip::tcp::socket socket);
  // Closes now; the worker reclaims the object once no operation is in flight.
  void close();

  std::size_t active_index = 0;  // position in the worker's list of open connections

 private:
  void do_wait_read();
  void on_readable(const boost::system::error_code& ec);
  void do_read();
  void process_input();
  void handle_request();
  void fail_request(uint16_t status);
  bool make_room();
  void do_write();
  void write_pending();
  void on_writable(const boost::system::error_code& ec);
  void on_write_done();
  void release_idle_resources();
  void finish_op();

  Worker& worker_;
  boost::asio::ip::tcp::socket socket_;
  std::unique_ptr<ReadBuffer> rbuf_;             // null while idle
  std::unique_ptr<http::Exchange> exchange_;     // null while idle
  std::unique_ptr<http::OutputBuffer> out_;      // null while nothing is being written
  std::size_t rbegin_ = 0;    // first byte of the request being parsed
  std::size_t rpos_ = 0;      // first byte not yet given to the parser
  std::size_t rend_ = 0;      // end of the bytes read
  unsigned batch_ = 0;        // responses rendered since the last write
  unsigned ops_ = 0;          // socket operations in flight (0 or 1)
  bool open_ = false;
  bool close_after_write_ = false;  // the last rendered response ends the connection
  bool peer_eof_ = false;           // the client half-closed: answer what we have, then close
};

}  // namespace lithe::net
