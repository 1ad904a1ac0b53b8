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

 private:
  void do_accept();
  void on_accept(const boost::system::error_code& ec, boost::asio::ip::tcp::socket socket);

  Worker& worker_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer backoff_;  // after EMFILE/ENFILE: wait instead of spinning
  bool logged_exhaustion_ = false;     // EMFILE/ENFILE is logged once, not per attempt
};

}  // namespace lithe::net
