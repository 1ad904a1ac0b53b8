// A receive that knows when it emptied the socket, so the next one waits for the reactor instead
// of trying `recv` first, and that takes its buffer only once there is input to put in it.
//
// Asio 1.81's `async_receive` tries `recv` before it waits, and marks a socket "exhausted" only
// on end of file. A keep-alive connection reads its next request after writing a response, when
// that request has not been sent yet: the attempt fails with EAGAIN, one wasted system call per
// request. `async_wait` avoids it but re-arms the descriptor (`epoll_ctl`) instead.
//
// This operation reads with `recvmsg` and TCP_INQ (set on the listening sockets, inherited by
// accepted ones). The kernel reports how many bytes are still queued, and a pending FIN as one
// more, so "nothing left" is exact: it reports `done_and_exhausted`, and the reactor skips the
// next attempt until epoll signals new input. nginx reaches the same result with EPOLLRDHUP.
//
// The buffer is asked for when the read happens: a connection waiting between requests holds
// none, yet its next request costs no re-arm (`epoll_ctl`) either. nginx's keep-alive handler
// also allocates its buffer only once the socket is readable.
//
// ReadyOp, the worker's wait on its io_uring (net/ring.hpp) and a listener's wait for connections
// (net/listener.cpp), is built the same way: it asks its target (the ring; accept4) before it
// waits, so queueing it again costs no `epoll_ctl` either.
//
// Both use Asio's reactor-operation interface, which is detail API: only for the version and
// reactor it was written against (Asio 1.26, Boost 1.81, epoll). Elsewhere `start_receive` is plain
// `async_receive`, and the io_uring is not used.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/version.hpp>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <new>
#include <span>
#include <type_traits>

#include "net/op_slot.hpp"
#include "net/socket.hpp"

#if BOOST_ASIO_VERSION == 102600 && defined(__linux__) && \
    !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT) && !defined(LITHE_ASIO_PUBLIC_ONLY)
#include <boost/asio/detail/epoll_reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#if defined(BOOST_ASIO_HAS_EPOLL)
#define LITHE_INQ_RECEIVE 1
#endif
#endif

namespace lithe::net {

// Plain Asio: a socket this file's operation cannot serve, or another Asio or reactor.
template <class Target>
void asio_receive(Socket& socket, Target* target) {
  const std::span<char> space = target->input_space();
  socket.async_receive(
      boost::asio::buffer(space.data(), space.size()),
      [target](const boost::system::error_code& ec, std::size_t n) { target->on_received(ec, n); });
}

#if defined(LITHE_INQ_RECEIVE)

namespace inq_detail {
namespace ad = boost::asio::detail;

// The socket's reactor registration; `impl_` is protected in basic_socket, and a member pointer
// named through a derived class is the lawful way in.
struct SocketAccess : Socket {
  static auto& impl(Socket& s) { return (s.*(&SocketAccess::impl_)).get_implementation(); }
};

// A pointer to its Target (see start_receive) is all the operation keeps, which fits it in the
// connection's 96-byte slot.
template <class Target>
class ReceiveOp : public ad::reactor_op {
 public:
  ReceiveOp(int fd, Target* target)
      : ad::reactor_op(boost::system::error_code(), &ReceiveOp::do_perform,
                       &ReceiveOp::do_complete),
        fd_(fd),
        target_(target) {}

 private:
  static status do_perform(ad::reactor_op* base) {
    auto* o = static_cast<ReceiveOp*>(base);
    const std::span<char> space = o->target_->input_space();
    iovec iov{space.data(), space.size()};
    alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(int))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n;
    do n = ::recvmsg(o->fd_, &msg, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        o->target_->input_space_unused();
        return not_done;
      }
      o->ec_.assign(errno, boost::system::system_category());
      return done;
    }
    o->bytes_transferred_ = static_cast<std::size_t>(n);
    // End of file is 0 bytes and no error, as recv reports it. (Building asio::error::eof here
    // costs a sanitizer's type check a pipe, which fails while descriptors are exhausted.)
    if (n == 0) return done_and_exhausted;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_TCP && c->cmsg_type == TCP_CM_INQ) {
        int queued;
        std::memcpy(&queued, CMSG_DATA(c), sizeof(queued));
        return queued == 0 ? done_and_exhausted : done;
      }
    }
    return done;  // no TCP_INQ (a unix socket): the next receive tries first, as Asio's does
  }

  // owner is null when the io_context is destroyed with the operation queued: free, no call.
  static void do_complete(void* owner, ad::scheduler_operation* base,
                          const boost::system::error_code&, std::size_t) {
    auto* o = static_cast<ReceiveOp*>(base);
    Target* target = o->target_;
    const boost::system::error_code ec = o->ec_;
    const std::size_t n = o->bytes_transferred_;
    o->~ReceiveOp();
    target->op_slot().deallocate(o);
    if (owner) target->on_received(ec, n);
  }

  int fd_;
  Target* target_;
};

// A readiness wait that asks its Target whether it is ready before it waits, and again on each
// readiness event, so that a wait queued again costs no `epoll_ctl` (Asio's own async_wait
// re-arms the descriptor every time).
template <class Target>
class ReadyOp : public ad::reactor_op {
 public:
  explicit ReadyOp(Target* target)
      : ad::reactor_op(boost::system::error_code(), &ReadyOp::do_perform, &ReadyOp::do_complete),
        target_(target) {}

 private:
  static status do_perform(ad::reactor_op* base) {
    return static_cast<ReadyOp*>(base)->target_->ready() ? done : not_done;
  }
  // owner is null when the io_context is destroyed with the operation queued: free, no call.
  static void do_complete(void* owner, ad::scheduler_operation* base,
                          const boost::system::error_code&, std::size_t) {
    auto* o = static_cast<ReadyOp*>(base);
    Target* target = o->target_;
    const boost::system::error_code ec = o->ec_;
    o->~ReadyOp();
    if (owner) target->on_ready_wait(ec);
  }

  Target* target_;
};
}  // namespace inq_detail

// Whether start_receive below is this file's operation (false: plain async_receive).
inline constexpr bool receive_skips_empty_reads = true;

// The reactor of the io_context a worker runs; found once, since use_service takes a lock.
using Reactor = boost::asio::detail::epoll_reactor;
inline Reactor* reactor_of(boost::asio::io_context& io) {
  return &boost::asio::use_service<Reactor>(io);
}

// Reads into target->input_space(), asked for when input is there, and calls
// target->on_received(error_code, bytes), 0 bytes meaning end of file; target->input_space_unused()
// hears of an attempt that found nothing. The operation lives in target->op_slot(). Needs a socket
// in non-blocking mode; otherwise it falls back to async_receive.
template <class Target>
void start_receive(Reactor* reactor, Socket& socket, Target* target) {
  auto& impl = inq_detail::SocketAccess::impl(socket);
  if (!(impl.state_ & boost::asio::detail::socket_ops::non_blocking))
    return asio_receive(socket, target);
  using Op = inq_detail::ReceiveOp<Target>;
  static_assert(sizeof(Op) <= std::remove_reference_t<decltype(target->op_slot())>::size,
                "the receive shares the connection's operation slot");
  void* mem = target->op_slot().allocate(sizeof(Op));
  Op* op = new (mem) Op(impl.socket_, target);
  reactor->start_op(Reactor::read_op, impl.socket_, impl.reactor_data_, op, false, true);
}

// A descriptor of lithe's own (the ring's, a listening socket) in Asio's reactor, and the one
// wait on it: until target->ready() (asked when the wait starts, then on each readiness event),
// then target->on_ready_wait(error_code). The wait's operation lives here, not on the heap.
class ReadyWait {
 public:
  ReadyWait() = default;
  ReadyWait(const ReadyWait&) = delete;
  ReadyWait& operator=(const ReadyWait&) = delete;
  ~ReadyWait() { unwatch(); }

  // Registers fd; false (errno-style code in *err) when epoll refuses it.
  bool watch(Reactor* reactor, int fd, int* err) {
    *err = reactor->register_descriptor(fd, data_);
    if (*err != 0) {
      data_ = nullptr;
      return false;
    }
    reactor_ = reactor;
    fd_ = fd;
    return true;
  }
  bool watched() const { return data_ != nullptr; }
  // At most one wait at a time, on a watched descriptor.
  template <class Target>
  void start(Target* target) {
    using Op = inq_detail::ReadyOp<Target>;
    static_assert(sizeof(Op) <= sizeof(slot_), "the wait fits its slot");
    reactor_->start_op(Reactor::read_op, fd_, data_, new (slot_) Op(target), false, true);
  }
  // Leaves the reactor (before fd is closed); a wait in flight completes with
  // operation_aborted.
  void unwatch() {
    if (!data_) return;
    reactor_->deregister_descriptor(fd_, data_, false);
    reactor_->cleanup_descriptor_data(data_);
    data_ = nullptr;
  }

 private:
  Reactor* reactor_ = nullptr;
  int fd_ = -1;
  Reactor::per_descriptor_data data_ = nullptr;
  alignas(std::max_align_t) unsigned char slot_[96];  // the wait's operation (80 B)
};

// A socket just assigned from accept4(SOCK_NONBLOCK): Asio learns that it is non-blocking
// already (non_blocking(true) would make an ioctl) and no duplicate (assign assumes it may be
// one, and would then pay an epoll_ctl DEL on close).
inline void adopt_accepted(Socket& socket) {
  namespace ops = boost::asio::detail::socket_ops;
  auto& state = inq_detail::SocketAccess::impl(socket).state_;
  state = static_cast<ops::state_type>((state & ~ops::possible_dup) | ops::non_blocking);
}

// TCP_INQ on a listening socket, inherited by the sockets it accepts. Harmless if refused.
inline void enable_receive_queue_hint(int listen_fd) {
  int one = 1;
  ::setsockopt(listen_fd, SOL_TCP, TCP_INQ, &one, sizeof(one));
}

#else

inline constexpr bool receive_skips_empty_reads = false;

struct Reactor {};
inline Reactor* reactor_of(boost::asio::io_context&) {
  return nullptr;
}

template <class Target>
void start_receive(Reactor*, Socket& socket, Target* target) {
  asio_receive(socket, target);
}

inline void adopt_accepted(Socket& socket) {
  boost::system::error_code ignored;
  socket.non_blocking(true, ignored);
}

inline void enable_receive_queue_hint(int) {}

#endif

}  // namespace lithe::net
