#include "net/reactor_transport.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/bind_allocator.hpp>

#include "http/output.hpp"
#include "net/receive.hpp"
#include "net/session.hpp"
#include "net/worker.hpp"

namespace lithe::net {

namespace asio = boost::asio;
using boost::system::error_code;

ReactorTransport::ReactorTransport(Worker& worker, Session& session)
    : Transport(worker, session), socket_(worker.io()) {}

// Non-blocking since accept4; Asio only waits on it, so it need not know (an ioctl).
bool ReactorTransport::attach(int family) {
  error_code ec;
  socket_.assign(asio::generic::stream_protocol(family, tcp_ ? IPPROTO_TCP : 0), fd_, ec);
  return !ec;
}

// Unlike a readiness wait, a read operation lets the reactor skip re-arming the descriptor (an
// epoll_ctl per request), and this one also skips the `recv` that would find nothing when the
// last read emptied the socket.
void ReactorTransport::receive() {
  ++ops_;
  read_ = ReadOp::receive;
  start_receive(this);
}

std::span<char> ReactorTransport::input_space() {
  return session_.input_space();
}

void ReactorTransport::input_space_unused() {
  session_.input_space_unused();
}

void ReactorTransport::wait_readable() {
  ++ops_;
  read_ = ReadOp::wait;
  socket_.async_wait(Socket::wait_read,
                     asio::bind_allocator(SlotAllocator<void, read_op_size>(&read_slot_),
                                          [this](const error_code& ec) { readable(ec); }));
}

// Cancels the socket's operations: only the read side's is ever in flight when this is asked.
void ReactorTransport::cancel_read() {
  error_code ignored;
  socket_.cancel(ignored);
}

// At once. One buffer (the usual small response, or a whole pipelined batch) goes as send(),
// which spares the kernel copying in a msghdr and an iovec array.
ssize_t ReactorTransport::send_memory(int run, int flags) {
  const msghdr& msg = out_->message();
  return run == 1 ? ::send(fd_, msg.msg_iov->iov_base, msg.msg_iov->iov_len, flags)
                  : ::sendmsg(fd_, &msg, flags);
}

void ReactorTransport::wait_writable() {
  ++ops_;
  writing_ = true;
  socket_.async_wait(Socket::wait_write, [this](const error_code& ec) { writable(ec); });
}

// Aborts the waits in flight; their handlers complete the operations.
void ReactorTransport::detach() {
  error_code ignored;
  socket_.close(ignored);
}

}  // namespace lithe::net
