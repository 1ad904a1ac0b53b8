#include "net/transport.hpp"

#include <netinet/in.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>
#include <cerrno>
#include <climits>
#include <cstring>

#include "http/output.hpp"
#include "net/session.hpp"
#include "net/worker.hpp"

namespace lithe::net {

using boost::system::error_code;

bool Transport::open(int fd, int family) {
  fd_ = fd;
  tcp_ = family != AF_UNIX;
  read_ = ReadOp::none;
  writing_ = input_drained_ = wrote_ = false;
  out_ = nullptr;
  if (!attach(family)) {  // epoll refused it (out of memory, or fs.epoll.max_user_watches)
    ::close(fd);
    fd_ = -1;
    return false;
  }
  open_ = true;
  return true;
}

void Transport::write(http::OutputBuffer& out) {
  out_ = &out;
  wrote_ = true;
  write_pending();
}

void Transport::write_pending() {
  std::size_t written = 0;
  for (;;) {
    if (written >= write_slice) {  // the loop's other handlers run first, then this goes on
      ++ops_;
      writing_ = true;
      boost::asio::post(worker_.io(), [this] { writable(error_code()); });
      return;
    }
    ssize_t n;
    if (const int run = out_->memory_run(); run > 0) {
      msghdr& msg = out_->message();
      msg = {};
      msg.msg_iov = out_->iov();
      msg.msg_iovlen = static_cast<std::size_t>(std::min(run, IOV_MAX));
      // A file body follows: hold the head back so that it leaves with the file's first bytes
      // (TCP_NODELAY would otherwise send it as a packet of its own).
      const bool file_next = run < out_->iov_count() && run <= IOV_MAX;
      n = send_memory(run, MSG_NOSIGNAL | (file_next ? MSG_MORE : 0));
      if (n == queued) return;
    } else {
      // A file body (or one kept in a sealed memfd): zero copy from the page cache.
      n = ::sendfile(fd_, out_->front_fd(), out_->front_offset(), out_->iov()->iov_len);
      if (n == 0) return session_.close();  // the file shrank: the length we promised is a lie
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return session_.close();
      session_.write_waits();  // restarted on every progress
      return wait_writable();
    }
    written += static_cast<std::size_t>(n);
    if (sent(static_cast<std::size_t>(n))) return;
  }
}

bool Transport::sent(std::size_t n) {
  worker_.count_bytes_out(n);
  if (!out_->advance(n)) return false;
  out_ = nullptr;
  session_.on_write_done();
  return true;
}

void Transport::close() {
  if (!open_) return;
  open_ = false;
  detach();
  fd_ = -1;
  if (ops_ == 0) session_.release();
}

bool Transport::finish_op() {
  --ops_;
  if (open_) return true;
  if (ops_ == 0) session_.release();
  return false;
}

void Transport::received(const error_code& ec, std::size_t n) {
  read_ = ReadOp::none;
  if (finish_op()) session_.on_received(ec, n);
}

void Transport::readable(const error_code& ec) {
  read_ = ReadOp::none;
  if (finish_op()) session_.on_readable(ec);
}

void Transport::writable(const error_code& ec) {
  writing_ = false;
  if (!finish_op()) return;
  if (ec) return session_.close();
  write_pending();
}

Transport::Peek Transport::peek() const {
  char byte;
  const ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return Peek::input;
  if (n == 0) return Peek::end;
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? Peek::empty : Peek::failed;
}

bool Transport::input_drained() const {
  if (input_drained_) return true;
  const Peek p = peek();
  return p == Peek::end || p == Peek::empty;
}

Transport::Drop Transport::drop_input(std::span<char> scratch, std::size_t limit) {
  Drop d{0, false};
  while (d.bytes <= limit) {
    const ssize_t n = ::recv(fd_, scratch.data(), scratch.size(), 0);
    if (n > 0) {
      d.bytes += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
    d.ended = true;  // FIN or error
    break;
  }
  return d;
}

bool Transport::shutdown_send() {
  return ::shutdown(fd_, SHUT_WR) == 0;
}

Transport::Peer Transport::peer() const {
  Peer p;
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return p;
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    p.address[10] = p.address[11] = 0xff;
    std::memcpy(&p.address[12], &in->sin_addr, 4);
  } else if (ss.ss_family == AF_INET6) {
    std::memcpy(p.address.data(), &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, 16);
  } else {
    p.unix_socket = true;
  }
  return p;
}

}  // namespace lithe::net
