// The io_uring transport: the socket stays out of Asio's reactor (its input would otherwise wake
// the loop's epoll_wait too, for nothing); receives, sends and readiness waits are ring entries
// (net/ring.hpp) that leave with the loop's next submission, and complete through on_ring().
#pragma once

#include <cstdint>

#include "net/transport.hpp"

namespace lithe::net {

enum class RingOp : uint8_t;
struct CompletionFlags;

class RingTransport final : public Transport {
 public:
  RingTransport(Worker& worker, Session& session) : Transport(worker, session) {}

  void receive() override;
  void wait_readable() override;
  void cancel_read() override;

  // Completion of one of this transport's entries (Ring::reap).
  void on_ring(RingOp op, int res, CompletionFlags flags);

 private:
  bool attach(int) override { return true; }
  ssize_t send_memory(int run, int flags) override;
  void wait_writable() override;
  void detach() override;
  void submit_receive();
  void on_sent(int res);
};

}  // namespace lithe::net
