// The epoll transport's receive: a read that knows when it emptied the socket, so that the next
// one waits for an input event from the epoll set instead of trying a `recv` that would find
// nothing, and that takes its buffer only once there is input to put in it.
//
// It reads with `recvmsg` and TCP_INQ (set on the listening sockets, inherited by accepted
// ones): the kernel reports how many bytes are still queued, and a pending FIN as one more, so
// "nothing left" is exact. After such a read the next receive waits for the socket's next
// event; otherwise it tries at once and waits only if that finds nothing. The socket is
// registered edge-triggered, so an event is the news that input arrived since it was last
// reported, and the transport remembers one that came while nothing waited (it clears
// input_known_empty). nginx reaches the same result with EPOLLRDHUP and a buffer taken once
// the socket is readable.
//
// Target provides: fd() (non-blocking), executor(), op_slot() (where a posted completion
// lives), input_space() (the room for input, taking a buffer), input_space_unused() (an attempt
// found nothing), input_known_empty() and set_input_known_empty(bool) (whether the last read
// emptied the socket), and on_received(error_code, bytes), 0 bytes meaning end of file.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/error.hpp>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <span>

#include "net/op_slot.hpp"

namespace lithe::net {

// TCP_INQ on a listening socket, inherited by the sockets it accepts. Harmless if refused.
inline void enable_receive_queue_hint(int listen_fd) {
  int one = 1;
  ::setsockopt(listen_fd, SOL_TCP, TCP_INQ, &one, sizeof(one));
}

namespace receive_detail {

// One non-blocking read into target->input_space(). false: nothing was there (the space is
// handed back). true: ec and n are the outcome, and target knows whether the socket is empty.
template <class Target>
bool read_now(Target* target, boost::system::error_code& ec, std::size_t& n) {
  const std::span<char> space = target->input_space();
  iovec iov{space.data(), space.size()};
  alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t got;
  do got = ::recvmsg(target->fd(), &msg, 0);
  while (got < 0 && errno == EINTR);
  if (got < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      target->input_space_unused();
      target->set_input_known_empty(true);
      return false;
    }
    ec.assign(errno, boost::system::system_category());
    n = 0;
    return true;
  }
  ec = {};
  n = static_cast<std::size_t>(got);
  bool drained = got == 0;  // end of file: nothing more will come
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_TCP && c->cmsg_type == TCP_CM_INQ) {
      int left;
      std::memcpy(&left, CMSG_DATA(c), sizeof(left));
      drained = left == 0;
    }
  }
  // Without TCP_INQ (a unix socket) the next receive tries first.
  target->set_input_known_empty(drained);
  return true;
}

template <class Target>
void post_received(Target* target, const boost::system::error_code& ec, std::size_t n) {
  post_in(target->op_slot(), target->executor(), [target, ec, n] { target->on_received(ec, n); });
}

}  // namespace receive_detail

// Reads into target->input_space() if input may be there; when it was, target->on_received
// follows from the loop (never from inside this call) and this returns true. false: the
// receive waits for the socket's next input event (receive_ready).
template <class Target>
bool start_receive(Target* target) {
  if (target->input_known_empty()) return false;
  boost::system::error_code ec;
  std::size_t n;
  if (!receive_detail::read_now(target, ec, n)) return false;
  receive_detail::post_received(target, ec, n);
  return true;
}

// An input event came for a waiting receive: reads, and calls target->on_received at once when
// there was input (true). false: woken for nothing; it goes on waiting.
template <class Target>
bool receive_ready(Target* target) {
  boost::system::error_code ec;
  std::size_t n;
  if (!receive_detail::read_now(target, ec, n)) return false;
  target->on_received(ec, n);
  return true;
}

// Ends a waiting receive: target->on_received(operation_aborted, 0) follows from the loop.
template <class Target>
void abort_receive(Target* target) {
  receive_detail::post_received(target, boost::asio::error::operation_aborted, 0);
}

}  // namespace lithe::net
