// The worker's io_uring, for its connections' receives, sends, readiness waits and closes.
//
// With epoll every request costs its own `recv` and `send` system calls, and each of them pays
// the kernel entry and exit (on this project's VMs, the hypervisor's share of that is the
// largest single cost per request). Here a connection only queues entries; the loop submits a
// whole turn's sends and receives, and collects their completions, in one `io_uring_enter`.
//
// The loop stays Asio's io_context (SPEC §1; timers, accepts and a Responder's own work run on
// it): the ring's descriptor is one more thing its reactor waits on, and a turn runs as an Asio
// handler. Receives between requests let the kernel pick a buffer from a small provided-buffer
// ring when input arrives, so an idle connection still holds no read buffer.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "net/receive_op.hpp"

namespace lithe::net {

class Worker;
struct ReadBuffer;

// What an entry is for: kept in the low bits of its user_data, next to its owner's address (a
// Connection's; a Listener's for accept).
enum class RingOp : uint8_t {
  none = 0,
  receive = 1,
  wait_read = 2,
  send = 3,
  wait_write = 4,
  accept = 5
};

class Ring {
 public:
  // The ring, or null with the reason when this kernel (or a seccomp policy) refuses io_uring.
  static std::unique_ptr<Ring> open(Worker& worker, std::string* why);
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // Makes room for n entries in the same submission (entries linked together must be).
  void reserve(unsigned n) {
    if (io_uring_sq_space_left(&ring_) < n) io_uring_submit(&ring_);
  }
  // An entry for owner (a Connection, or a Listener for accept); commit() once it is filled in.
  io_uring_sqe* prepare(void* owner, RingOp op);
  // Queued entries leave with the turn's submission. Outside a turn (a timer, a Responder's
  // answer, an accept loop) they leave in one submission right after the current handler.
  void commit();
  // Asks owner's `op` entry to finish early (it completes with -ECANCELED if it had not).
  void cancel(void* owner, RingOp op);
  // Closes fd with the turn's submission instead of a `close` call of its own. Entries still
  // on the socket hold it open until they complete; cancel them first.
  void close(int fd);
  // Readies a receive to let the kernel pick its buffer (IOSQE_BUFFER_SELECT).
  void select_buffer(io_uring_sqe* sqe) const;
  // The buffer the kernel picked for a completed receive, now the caller's; the ring gets a
  // fresh one in its place.
  std::unique_ptr<ReadBuffer> take_selected(unsigned cqe_flags);

  // Starts waiting for completions on the loop.
  void start();
  // For the loop's wait (receive_op.hpp): whether there is something to handle, and the end of
  // the wait.
  bool ready() const;
  void on_ready_wait(const boost::system::error_code& ec);
  // Teardown: submits what is queued and handles completions until no entry is in flight.
  void drain();

 private:
  explicit Ring(Worker& worker);
  bool setup(std::string* why);
  void wait();
  void on_ready();
  void reap(unsigned limit);  // handles up to limit completions
  void flush();               // the submit commit() posted
  void lend(uint16_t bid, std::unique_ptr<ReadBuffer> b);

  Worker& worker_;
  io_uring ring_{};
  bool ring_open_ = false;
#if defined(LITHE_INQ_RECEIVE)
  ReadyWait wait_;  // the ring's descriptor in Asio's epoll, and the loop's wait on it
#endif
  io_uring_buf_ring* buffers_ = nullptr;           // provided buffers (see take_selected)
  std::vector<std::unique_ptr<ReadBuffer>> lent_;  // lent_[bid]: the buffer behind entry bid
  std::size_t in_flight_ = 0;  // connection entries submitted or queued, not yet completed
  bool in_turn_ = false;       // a turn is running: commit() leaves the submit to it
  bool flush_posted_ = false;  // outside a turn: a submit is posted to run after this handler
  bool closed_ = false;        // drained: no more turns
};

}  // namespace lithe::net
