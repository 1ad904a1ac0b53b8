#include "net/epoll_transport.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

#include "http/output.hpp"
#include "net/epoll_set.hpp"
#include "net/receive.hpp"
#include "net/session.hpp"
#include "net/worker.hpp"

namespace lithe::net {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {
// The client's FIN wakes a socket as input does; EPOLLRDHUP says so in the event.
constexpr uint32_t input_events = EPOLLIN | EPOLLRDHUP;
}  // namespace

EpollTransport::EpollTransport(Worker& worker, Session& session) : Transport(worker, session) {}

Executor EpollTransport::executor() const {
  return worker_.io().get_executor();
}

std::span<char> EpollTransport::input_space() {
  return session_.input_space();
}

void EpollTransport::input_space_unused() {
  session_.input_space_unused();
}

bool EpollTransport::attach(int) {
  read_armed_ = write_armed_ = out_registered_ = hung_up_ = false;
  EpollSet* set = worker_.epoll();
  return set && set->add(fd_, input_events, this);
}

void EpollTransport::receive() {
  ++ops_;
  read_ = ReadOp::receive;
  if (!start_receive(this)) read_armed_ = true;
}

// Input that may be there is looked at (a peek) rather than assumed: the session waits so as
// to learn that the client left or sent more, and a wrong guess would wake it for nothing.
void EpollTransport::wait_readable() {
  ++ops_;
  read_ = ReadOp::wait;
  if (!input_drained_ && peek() != Peek::empty) return post_readable(error_code());
  read_armed_ = true;
}

// Only a waiting operation can be ended: a completion already posted has done its read.
void EpollTransport::cancel_read() {
  if (!read_armed_) return;
  read_armed_ = false;
  if (read_ == ReadOp::receive)
    abort_receive(this);
  else
    post_readable(asio::error::operation_aborted);
}

// The socket's events come in one call. An operation is held across both completions, so the
// first cannot release the session under the second.
void EpollTransport::on_epoll(uint32_t events) {
  if (!open_) return;
  ++ops_;
  if (events & (input_events | EPOLLHUP | EPOLLERR)) {
    input_drained_ = false;  // something came: the next receive tries at once
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) hung_up_ = true;
    if (read_armed_) {
      if (read_ == ReadOp::wait) {
        read_armed_ = false;
        readable(error_code());
      } else {
        read_armed_ = false;  // before the completion, which may start the next receive
        if (!receive_ready(this)) read_armed_ = true;  // woken for nothing: it goes on waiting
      }
    }
  }
  if (write_armed_ && (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
    write_armed_ = false;
    writable(error_code());
  }
  finish_op();
}

void EpollTransport::post_readable(const error_code& ec) {
  post_in(read_slot_, worker_.io().get_executor(), [this, ec] { readable(ec); });
}

// At once. One buffer (the usual small response, or a whole pipelined batch) goes as send(),
// which spares the kernel copying in a msghdr and an iovec array.
ssize_t EpollTransport::send_memory(int run, int flags) {
  const msghdr& msg = out_->message();
  return run == 1 ? ::send(fd_, msg.msg_iov->iov_base, msg.msg_iov->iov_len, flags)
                  : ::sendmsg(fd_, &msg, flags);
}

// The first wait adds EPOLLOUT to the registration, where it stays: most connections never
// fill their socket buffer, and those that do once will again.
void EpollTransport::wait_writable() {
  ++ops_;
  writing_ = true;
  write_armed_ = true;
  if (out_registered_) return;
  out_registered_ = true;
  if (!worker_.epoll()->modify(fd_, input_events | EPOLLOUT, this)) {
    write_armed_ = false;
    asio::post(worker_.io(), [this] { writable(asio::error::no_memory); });
  }
}

// Closing the descriptor takes it out of the epoll set; what waited for an event completes
// aborted.
void EpollTransport::detach() {
  ::close(fd_);
  cancel_read();
  if (write_armed_) {
    write_armed_ = false;
    asio::post(worker_.io(), [this] { writable(asio::error::operation_aborted); });
  }
}

}  // namespace lithe::net
