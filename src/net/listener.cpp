#include "net/listener.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

#include "net/worker.hpp"

namespace lithe::net {

namespace asio = boost::asio;

Listener::Listener(Worker& worker, std::string key, Acceptor acceptor)
    : worker_(worker),
      key_(std::move(key)),
      acceptor_(std::move(acceptor)),
      backoff_(worker.io()) {}

void Listener::close() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  backoff_.cancel();
}

void Listener::resume() {
  paused_ = false;
  if (!accepting_ && acceptor_.is_open()) do_accept();
}

void Listener::do_accept() {
  if (paused_) return;
  accepting_ = true;
  acceptor_.async_accept(
      [this](const boost::system::error_code& ec, Socket s) { on_accept(ec, std::move(s)); });
}

void Listener::on_accept(const boost::system::error_code& ec, Socket socket) {
  accepting_ = false;
  if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
  if (ec) {
    const bool exhausted = ec == asio::error::no_descriptors || ec.value() == ENFILE ||
                           ec == asio::error::no_buffer_space || ec == asio::error::no_memory;
    if (exhausted) {
      // Logged once per episode. Descriptors freed by a burst of closes are often taken again
      // at once by the queued connections, so an episode ends only after a quiet minute.
      const auto now = std::chrono::steady_clock::now();
      if (!last_exhaustion_ || now - *last_exhaustion_ >= std::chrono::minutes(1))
        spdlog::error("accept: {}; pausing accepts", ec.message());
      last_exhaustion_ = now;
      backoff_.expires_after(std::chrono::milliseconds(100));
      accepting_ = true;  // the backoff stands for the accept in flight
      backoff_.async_wait([this](const boost::system::error_code& e) {
        accepting_ = false;
        if (!e) do_accept();
      });
      return;
    }
    // ECONNABORTED and friends: the peer gave up before we got to it.
    do_accept();
    return;
  }
  worker_.on_accepted(std::move(socket));
  do_accept();
}

}  // namespace lithe::net
