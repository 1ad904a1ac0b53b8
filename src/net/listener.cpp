#include "net/listener.hpp"

#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "net/ring.hpp"
#include "net/worker.hpp"

namespace lithe::net {

namespace asio = boost::asio;

namespace {
// Connections taken per wake-up before the loop's other work gets a go.
constexpr int accept_batch = 32;
}  // namespace

Listener::Listener(Worker& worker, std::string key, Acceptor acceptor)
    : worker_(worker),
      ring_(worker.ring()),
      key_(std::move(key)),
      acceptor_(std::move(acceptor)),
      family_(acceptor_.local_endpoint().protocol().family()),
      backoff_(worker.io()) {
  // accept4 below must not block; the accepted sockets get O_NONBLOCK from accept4 itself.
  boost::system::error_code ec;
  acceptor_.non_blocking(true, ec);
  fd_ = acceptor_.native_handle();
  if (ring_) {
    fd_ = acceptor_.release(ec);  // the ring's, out of Asio's reactor
    if (ec) {
      spdlog::error("listener {}: {}", key_, ec.message());
      open_ = false;
    }
  }
}

Listener::~Listener() {
  close();
  if (accepted_ >= 0) ::close(accepted_);
}

// A wait in flight completes with operation_aborted; the ring's accept entry, with ECANCELED.
void Listener::close() {
  backoff_.cancel();
  if (!open_) return;
  open_ = false;
  if (ring_) {
    if (armed_) ring_->cancel(this, RingOp::accept);
    for (int fd : held_) ::close(fd);  // accepted, never served
    held_.clear();
    if (fd_ >= 0) ::close(fd_);
    return;
  }
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

void Listener::pause() {
  paused_ = true;
  if (armed_) ring_->cancel(this, RingOp::accept);  // its last completions may still bring some
}

void Listener::resume() {
  paused_ = false;
  // Each leaves held_ before it is handed over: handing over may pause again, or come back here.
  while (!held_.empty() && !paused_ && open_) {
    const int fd = held_.front();
    held_.erase(held_.begin());
    hand_over(fd);
  }
  if (!paused_ && !accepting_ && open_) do_accept();
}

void Listener::do_accept() {
  if (paused_ || !open_) return;
  if (ring_) return arm();
  accepting_ = true;
  acceptor_.async_wait(Acceptor::wait_read,
                       [this](const boost::system::error_code& ec) { on_ready_wait(ec); });
}

void Listener::arm() {
  if (armed_) return;  // a cancel is on its way: its completion arms again
  ring_->accept_multishot(this, fd_);
  ring_->commit();
  armed_ = true;
  accepting_ = true;
}

void Listener::on_ring(int res, CompletionFlags flags) {
  if (!flags.more()) armed_ = accepting_ = false;  // the entry has ended
  if (res >= 0) {
    if (!open_)
      ::close(res);  // accepted as the listener closed: not served
    else if (paused_)
      held_.push_back(res);
    else
      hand_over(res);
  } else if (res == -EAGAIN && !armed_) {
    // The socket is non-blocking (another worker may share it, waiting in its reactor), and a
    // kernel that honours that in a multishot accept ends it instead of waiting: this listener
    // waits in the reactor and calls accept4 from now on.
    return leave_ring();
  } else if (res != -ECANCELED && !is_transient_accept_error(-res)) {
    if (!armed_ && open_) {
      accept_errno_ = -res;
      return back_off();
    }
    return;
  }
  // Ended by a cancel (pause, or close), a connection's own error, or the kernel: again, unless
  // paused or closed. A resume() that came before the cancel's completion lands here.
  if (!armed_) do_accept();
}

// Back into the acceptor it was released from, which waits in Asio's reactor.
void Listener::leave_ring() {
  ring_ = nullptr;
  boost::system::error_code ec;
  acceptor_.assign(
      boost::asio::generic::stream_protocol(family_, family_ == AF_UNIX ? 0 : IPPROTO_TCP), fd_,
      ec);
  if (ec) {
    spdlog::error("listener {}: {}", key_, ec.message());
    ::close(fd_);
    open_ = false;
    return;
  }
  do_accept();
}

// A network error that concerns only the connection being accepted, or a signal (accept(2)):
// the next one may be fine.
bool Listener::is_transient_accept_error(int err) {
  return err == EINTR || err == ECONNABORTED || err == EPROTO || err == EPERM || err == ENETDOWN ||
         err == ENOPROTOOPT || err == EHOSTDOWN || err == ENONET || err == EHOSTUNREACH ||
         err == EOPNOTSUPP || err == ENETUNREACH;
}

// accept4 rather than Asio's accept: the socket comes non-blocking, and it is not registered
// with Asio's reactor unless the connection needs it (not with io_uring: see net/ring_transport.hpp).
bool Listener::accept_one() {
  for (;;) {
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      accepted_ = fd;
      return true;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    if (is_transient_accept_error(errno)) continue;  // the peer gave up, or the like
    accept_errno_ = errno;
    return true;
  }
}

bool Listener::ready() {
  return accepted_ >= 0 || accept_errno_ != 0 || accept_one();
}

void Listener::on_ready_wait(const boost::system::error_code& ec) {
  accepting_ = false;
  if (ec == asio::error::operation_aborted || !open_) {
    if (accepted_ >= 0) ::close(accepted_);  // accepted as the listener closed: not served
    accepted_ = -1;
    return;
  }
  for (int n = 0; n < accept_batch; ++n) {
    if (!ready()) return do_accept();
    if (accept_errno_ != 0) return back_off();
    hand_over(std::exchange(accepted_, -1));
    if (paused_) return;  // max_connections reached: resume() starts waiting again
  }
  do_accept();  // more may be queued: the wait finds them at once
}

void Listener::hand_over(int fd) {
  worker_.on_accepted(fd, family_);
}

// EMFILE, ENFILE, ENOBUFS, ENOMEM (or anything else accept4 should not say): trying again at
// once would spin. Logged once per episode. Descriptors freed by a burst of closes are often
// taken again at once by the queued connections, so an episode ends only after a quiet minute.
void Listener::back_off() {
  const int err = std::exchange(accept_errno_, 0);
  const auto now = std::chrono::steady_clock::now();
  if (!last_exhaustion_ || now - *last_exhaustion_ >= std::chrono::minutes(1))
    spdlog::error("accept: {}; pausing accepts", std::strerror(err));
  last_exhaustion_ = now;
  backoff_.expires_after(std::chrono::milliseconds(100));
  accepting_ = true;  // the backoff stands for the wait
  backoff_.async_wait([this](const boost::system::error_code& e) {
    accepting_ = false;
    if (!e) do_accept();
  });
}

}  // namespace lithe::net
