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
#include <sys/socket.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

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

// What the kernel says with a completion, beside its result.
struct CompletionFlags {
  unsigned bits;
  // A multishot entry goes on after this completion.
  bool more() const { return bits & IORING_CQE_F_MORE; }
  // The receive took a provided buffer (take_selected hands it over).
  bool picked_buffer() const { return bits & IORING_CQE_F_BUFFER; }
  // Input is still queued in the socket after this receive.
  bool input_left() const { return bits & IORING_CQE_F_SOCK_NONEMPTY; }
};

class Ring {
 public:
  // The ring, or null with the reason when this kernel (or a seccomp policy) refuses io_uring.
  static std::unique_ptr<Ring> open(Worker& worker, std::string* why);
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // Entries for owner (a Connection; a Listener for accept), queued until commit(). Each
  // completes once, with its owner's on_ring (a multishot accept: until !more()).

  // A receive into `into`.
  void receive(void* owner, int fd, std::span<char> into);
  // A receive into a buffer the kernel picks from the provided ring when input arrives (see
  // take_selected); wait_first: poll before trying, as input is not expected yet.
  void receive_provided(void* owner, int fd, bool wait_first);
  // A readiness wait (op: wait_read or wait_write).
  void wait(void* owner, RingOp op, int fd);
  // A send of msg (which must stay valid until it completes); one buffer goes as a plain send.
  // then_receive_provided: a receive_provided linked behind it, started once the send is
  // complete; both count as owner's entries.
  void send(void* owner, int fd, const msghdr& msg, int flags, bool then_receive_provided);
  // Every connection on a listening socket, until the entry ends (or is cancelled).
  void accept_multishot(void* owner, int fd);

  // Queued entries leave with the turn's submission. Outside a turn (a timer, a Responder's
  // answer, an accept loop) they leave in one submission right after the current handler.
  void commit();
  // Asks owner's `op` entry to finish early (it completes with -ECANCELED if it had not).
  void cancel(void* owner, RingOp op);
  // Closes fd with the turn's submission instead of a `close` call of its own. Entries still
  // on the socket hold it open until they complete; cancel them first.
  void close(int fd);
  // The buffer the kernel picked for a completed receive, now the caller's; the ring gets a
  // fresh one in its place.
  std::unique_ptr<ReadBuffer> take_selected(CompletionFlags flags);

  // Starts waiting for completions on the loop.
  void start();
  // Whether there is something to handle (asked before the loop waits).
  bool ready() const;
  // Teardown: submits what is queued and handles completions until no entry is in flight.
  void drain();

 private:
  explicit Ring(Worker& worker);
  bool setup(std::string* why);
  void wait();
  bool held_back() const;  // completions the kernel keeps back until asked
  void on_ready();
  void reap(unsigned limit);  // handles up to limit completions
  void flush();               // the submit commit() posted
  void lend(uint16_t bid, std::unique_ptr<ReadBuffer> b);
  io_uring_sqe* prepare(void* owner, RingOp op);  // an entry, counted in flight unless none
  void reserve(unsigned n);                       // room for n entries in one submission

  Worker& worker_;
  io_uring ring_{};
  bool ring_open_ = false;
  // The ring's descriptor in the loop's reactor, for the wait between turns; never closes it.
  boost::asio::posix::stream_descriptor wait_;
  io_uring_buf_ring* buffers_ = nullptr;           // provided buffers (see take_selected)
  std::vector<std::unique_ptr<ReadBuffer>> lent_;  // lent_[bid]: the buffer behind entry bid
  std::size_t in_flight_ = 0;  // connection entries submitted or queued, not yet completed
  bool in_turn_ = false;       // a turn is running: commit() leaves the submit to it
  bool flush_posted_ = false;  // outside a turn: a submit is posted to run after this handler
  bool closed_ = false;        // drained: no more turns
};

}  // namespace lithe::net
