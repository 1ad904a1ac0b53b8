// The epoll transport: the socket is registered once, edge-triggered, in the worker's epoll set
// (net/epoll_set.hpp), input is read by net/receive.hpp's receive, and writes are plain
// `send`/`sendmsg`/`sendfile` calls that wait for writability only when the socket buffer is
// full. Waiting costs no system call: an event is delivered to whatever operation waits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "net/op_slot.hpp"
#include "net/socket.hpp"
#include "net/transport.hpp"

namespace lithe::net {

class EpollTransport final : public Transport {
 public:
  // The read side's completion when it is known at once (input was there, a cancel): posted to
  // the loop with this transport's handler (a pointer, an error code, a count) and the slot's
  // allocator.
  static constexpr std::size_t read_op_size = 96;

  EpollTransport(Worker& worker, Session& session);

  void receive() override;
  void wait_readable() override;
  void cancel_read() override;

  // From the epoll set: the socket's readiness changed (EPOLLIN, EPOLLOUT, EPOLLRDHUP, ...).
  void on_epoll(uint32_t events);

  // For net/receive.hpp: the socket, the loop, where a posted completion lives, the room for
  // input (taken from the session once input is there), an attempt that found none, whether
  // the last read emptied the socket, and the completion.
  int fd() const { return fd_; }
  Executor executor() const;
  OpSlot<read_op_size>& op_slot() { return read_slot_; }
  bool input_known_empty() const { return input_drained_; }
  void set_input_known_empty(bool empty) { input_drained_ = empty && !hung_up_; }
  std::span<char> input_space();
  void input_space_unused();
  void on_received(const boost::system::error_code& ec, std::size_t n) { received(ec, n); }

 private:
  bool attach(int family) override;
  ssize_t send_memory(int run, int flags) override;
  void wait_writable() override;
  void detach() override;

  void post_readable(const boost::system::error_code& ec);

  OpSlot<read_op_size> read_slot_;   // the read side's posted completion (see op_slot.hpp)
  bool read_armed_ : 1 = false;      // the read side's operation waits for an input event
  bool write_armed_ : 1 = false;     // a writability wait waits for an output event
  bool out_registered_ : 1 = false;  // EPOLLOUT is in the registration (after a first wait)
  // The peer reset or half-closed the connection: no event follows, and TCP_INQ does not count
  // a reset, so from here every read tries at once (and finds the end or the error).
  bool hung_up_ : 1 = false;
};

}  // namespace lithe::net
