// Accepts connections on one listening socket (TCP or unix) and hands them to its worker.
#pragma once

#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <optional>
#include <string>

namespace lithe::net {

class Worker;

// Bound to io_context's own executor rather than any_io_executor: a socket then carries an
// 8-byte executor instead of a type-erased one, which matters per idle connection.
using Executor = boost::asio::io_context::executor_type;
using Acceptor =
    boost::asio::basic_socket_acceptor<boost::asio::generic::stream_protocol, Executor>;
using Socket = boost::asio::basic_stream_socket<boost::asio::generic::stream_protocol, Executor>;

class Listener {
 public:
  // key names the configured address (its text), so a reload can tell kept from removed.
  Listener(Worker& worker, std::string key, Acceptor acceptor);
  void start() { do_accept(); }
  void close();
  const std::string& key() const { return key_; }
  // Stops taking connections (max_connections reached) until resume(); the kernel's backlog
  // holds new ones meanwhile, so nothing is dropped.
  void pause() { paused_ = true; }
  void resume();

 private:
  void do_accept();
  void on_accept(const boost::system::error_code& ec, Socket socket);

  Worker& worker_;
  std::string key_;
  Acceptor acceptor_;
  boost::asio::steady_timer backoff_;  // after EMFILE/ENFILE: wait instead of spinning
  // The last EMFILE/ENFILE: logged once per episode, not per attempt.
  std::optional<std::chrono::steady_clock::time_point> last_exhaustion_;
  bool paused_ = false;     // no accept is in flight while paused
  bool accepting_ = false;  // an async_accept is in flight
};

}  // namespace lithe::net
