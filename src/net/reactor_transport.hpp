// The portable transport, on Asio's public API: the socket waits in the loop's reactor (epoll),
// input is read by net/receive.hpp's receive, and writes are plain `send`/`sendmsg`/`sendfile`
// calls that wait for writability only when the socket buffer is full.
#pragma once

#include <cstddef>
#include <span>

#include "net/op_slot.hpp"
#include "net/socket.hpp"
#include "net/transport.hpp"

namespace lithe::net {

class ReactorTransport final : public Transport {
 public:
  // The read side's one operation: Asio's readiness wait with this transport's handler (a
  // pointer plus the slot's allocator), or the completion of a receive (net/receive.hpp).
  static constexpr std::size_t read_op_size = 96;

  ReactorTransport(Worker& worker, Session& session);

  void receive() override;
  void wait_readable() override;
  void cancel_read() override;

  // For net/receive.hpp: the socket, where the operation lives, the room for input (taken from
  // the session once input is there), an attempt that found none, whether the last read
  // emptied the socket, and the completion.
  Socket& socket() { return socket_; }
  OpSlot<read_op_size>& op_slot() { return read_slot_; }
  bool input_known_empty() const { return input_drained_; }
  void set_input_known_empty(bool empty) { input_drained_ = empty; }
  std::span<char> input_space();
  void input_space_unused();
  void on_received(const boost::system::error_code& ec, std::size_t n) { received(ec, n); }

 private:
  bool attach(int family) override;
  ssize_t send_memory(int run, int flags) override;
  void wait_writable() override;
  void detach() override;

  Socket socket_;                   // in the reactor; owns fd_
  OpSlot<read_op_size> read_slot_;  // the read side's operation (see op_slot.hpp)
};

}  // namespace lithe::net
