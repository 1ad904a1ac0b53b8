// Accepts connections on one listening socket and hands them to its worker.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

namespace lithe::net {

class Worker;

class Listener {
 public:
  Listener(Worker& worker, boost::asio::ip::tcp::acceptor acceptor);
  void start() { do_accept(); }
  void close();
  // Stops taking connections (max_connections reached) until resume(); the kernel's backlog
  // holds new ones meanwhile, so nothing is dropped.
  void pause() { paused_ = true; }
  void resume();

 private:
  void do_accept();
  void on_accept(const boost::system::error_code& ec, boost::asio::ip::tcp::socket socket);

  Worker& worker_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer backoff_;  // after EMFILE/ENFILE: wait instead of spinning
  bool logged_exhaustion_ = false;     // EMFILE/ENFILE is logged once, not per attempt
  bool paused_ = false;                // no accept is in flight while paused
  bool accepting_ = false;             // an async_accept is in flight
};

}  // namespace lithe::net
