// The epoll transport's receive, on Asio's public API: a read that knows when it emptied the
// socket, so that the next one waits for readiness instead of trying a `recv` that would find
// nothing, and that takes its buffer only once there is input to put in it.
//
// It reads with `recvmsg` and TCP_INQ (set on the listening sockets, inherited by accepted
// ones): the kernel reports how many bytes are still queued, and a pending FIN as one more, so
// "nothing left" is exact. After such a read the next receive waits first (async_wait, which
// re-arms the descriptor); otherwise it tries at once and waits only if that finds nothing.
// Asio's own async_receive would try first every time, and needs its buffer before it starts:
// a connection waiting between requests would hold one. nginx reaches the same result with
// EPOLLRDHUP and a buffer taken once the socket is readable.
//
// Target provides: socket() (non-blocking), op_slot() (where the wait's and the completion's
// handlers live), input_space() (the room for input, taking a buffer), input_space_unused() (an
// attempt found nothing), input_known_empty() and set_input_known_empty(bool) (whether the last
// read emptied the socket), and on_received(error_code, bytes), 0 bytes meaning end of file.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <span>

#include "net/op_slot.hpp"
#include "net/socket.hpp"

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
  do got = ::recvmsg(target->socket().native_handle(), &msg, 0);
  while (got < 0 && errno == EINTR);
  if (got < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      target->input_space_unused();
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
      int queued;
      std::memcpy(&queued, CMSG_DATA(c), sizeof(queued));
      drained = queued == 0;
    }
  }
  // Without TCP_INQ (a unix socket) the next receive tries first, as Asio's does.
  target->set_input_known_empty(drained);
  return true;
}

template <class Target>
auto slot_allocator(Target* target) {
  return SlotAllocator<void, std::remove_reference_t<decltype(target->op_slot())>::size>(
      &target->op_slot());
}

template <class Target>
void wait_then_read(Target* target) {
  target->socket().async_wait(
      Socket::wait_read, boost::asio::bind_allocator(slot_allocator(target),
                                                     [target](const boost::system::error_code& ec) {
                                                       if (ec) return target->on_received(ec, 0);
                                                       boost::system::error_code read_ec;
                                                       std::size_t n;
                                                       if (read_now(target, read_ec, n))
                                                         return target->on_received(read_ec, n);
                                                       wait_then_read(target);  // woken for nothing
                                                     }));
}

}  // namespace receive_detail

// Reads into target->input_space() when input is there and calls target->on_received once (from
// the loop, never from inside this call). Cancelling the socket's operations ends a wait with
// operation_aborted; a read that already happened is still delivered.
template <class Target>
void start_receive(Target* target) {
  if (!target->input_known_empty()) {
    boost::system::error_code ec;
    std::size_t n;
    if (receive_detail::read_now(target, ec, n)) {
      boost::asio::post(
          target->socket().get_executor(),
          boost::asio::bind_allocator(receive_detail::slot_allocator(target),
                                      [target, ec, n] { target->on_received(ec, n); }));
      return;
    }
  }
  receive_detail::wait_then_read(target);
}

}  // namespace lithe::net
