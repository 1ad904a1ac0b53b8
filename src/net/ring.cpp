#include "net/ring.hpp"

#include <poll.h>
#include <sys/mman.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>

#include "net/listener.hpp"
#include "net/ring_transport.hpp"
#include "net/worker.hpp"

namespace lithe::net {

namespace {
constexpr unsigned submission_entries = 1024;
constexpr unsigned completion_entries = 8192;
// Provided buffers: enough for the receives of one busy turn; a receive that finds none left
// (-ENOBUFS) is retried with a buffer of its own. Pages only count once written.
constexpr unsigned buffer_entries = 64;
constexpr uint16_t buffer_group = 0;
// Rounds of "handle completions, submit" in one turn before the loop's other work gets a go.
constexpr int max_rounds = 8;
constexpr uint64_t op_bits = 7;  // an owner is 8-aligned: its address leaves these free
static_assert(alignof(RingTransport) > op_bits && alignof(Listener) > op_bits);

uint64_t tag(void* owner, RingOp op) {
  return reinterpret_cast<uintptr_t>(owner) | static_cast<uint64_t>(op);
}
}  // namespace

Ring::Ring(Worker& worker) : worker_(worker), wait_(worker.io()) {}

std::unique_ptr<Ring> Ring::open(Worker& worker, std::string* why) {
  std::unique_ptr<Ring> ring(new Ring(worker));
  if (!ring->setup(why)) return nullptr;
  return ring;
}

bool Ring::setup(std::string* why) {
  io_uring_params params{};
  // Completions are posted when the loop next enters the kernel (it does, once per turn),
  // instead of interrupting it with an inter-processor interrupt each time.
  params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
                 IORING_SETUP_TASKRUN_FLAG;
  params.cq_entries = completion_entries;
  // A kernel that refuses these flags (older than 5.19) has no provided-buffer rings either.
  int rc = io_uring_queue_init_params(submission_entries, &ring_, &params);
  if (rc < 0) {
    *why = std::string("io_uring_setup: ") + std::strerror(-rc);
    if (rc == -EINVAL) *why += " (needs Linux 5.19)";
    return false;
  }
  ring_open_ = true;

  const std::size_t bytes = buffer_entries * sizeof(io_uring_buf);
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    *why = std::string("mmap: ") + std::strerror(errno);
    return false;
  }
  buffers_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uintptr_t>(mem);
  reg.ring_entries = buffer_entries;
  reg.bgid = buffer_group;
  rc = io_uring_register_buf_ring(&ring_, &reg, 0);
  if (rc < 0) {  // a kernel older than 5.19
    *why = std::string("io_uring provided buffer ring: ") + std::strerror(-rc);
    return false;
  }
  io_uring_buf_ring_init(buffers_);
  lent_.resize(buffer_entries);
  for (uint16_t bid = 0; bid < buffer_entries; ++bid) lend(bid, worker_.take_buffer());

  boost::system::error_code ec;
  wait_.assign(ring_.ring_fd, ec);
  if (ec) {
    *why = "epoll_ctl on the ring: " + ec.message();
    return false;
  }
  return true;
}

Ring::~Ring() {
  if (wait_.is_open()) wait_.release();  // out of the reactor before the descriptor closes
  if (ring_open_) io_uring_queue_exit(&ring_);
  if (buffers_) ::munmap(buffers_, buffer_entries * sizeof(io_uring_buf));
}

void Ring::lend(uint16_t bid, std::unique_ptr<ReadBuffer> b) {
  io_uring_buf_ring_add(buffers_, b->data.get(), static_cast<unsigned>(b->capacity), bid,
                        io_uring_buf_ring_mask(buffer_entries), 0);
  io_uring_buf_ring_advance(buffers_, 1);
  lent_[bid] = std::move(b);
}

io_uring_sqe* Ring::prepare(void* owner, RingOp op) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (!sqe) {  // the queue is full: hand what is there to the kernel first
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  if (op != RingOp::none) ++in_flight_;
  io_uring_sqe_set_data64(sqe, tag(owner, op));
  return sqe;
}

void Ring::reserve(unsigned n) {
  if (io_uring_sq_space_left(&ring_) < n) io_uring_submit(&ring_);
}

void Ring::receive(void* owner, int fd, std::span<char> into) {
  io_uring_prep_recv(prepare(owner, RingOp::receive), fd, into.data(), into.size(), 0);
}

void Ring::receive_provided(void* owner, int fd, bool wait_first) {
  io_uring_sqe* sqe = prepare(owner, RingOp::receive);
  io_uring_prep_recv(sqe, fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = buffer_group;
  if (wait_first) sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
}

void Ring::wait(void* owner, RingOp op, int fd) {
  io_uring_prep_poll_add(prepare(owner, op), fd, op == RingOp::wait_write ? POLLOUT : POLLIN);
}

void Ring::send(void* owner, int fd, const msghdr& msg, int flags, bool then_receive_provided) {
  if (then_receive_provided) reserve(2);  // a link must not straddle two submissions
  io_uring_sqe* sqe = prepare(owner, RingOp::send);
  if (msg.msg_iovlen == 1)
    io_uring_prep_send(sqe, fd, msg.msg_iov->iov_base, msg.msg_iov->iov_len, flags);
  else
    io_uring_prep_sendmsg(sqe, fd, &msg, static_cast<unsigned>(flags));
  if (then_receive_provided) {
    sqe->flags |= IOSQE_IO_LINK;
    receive_provided(owner, fd, true);
  }
}

void Ring::accept_multishot(void* owner, int fd) {
  io_uring_prep_multishot_accept(prepare(owner, RingOp::accept), fd, nullptr, nullptr,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC);
}

// A timer that expires a thousand deadlines then makes one system call, not two per connection,
// and a completion cannot be posted between one connection's cancel and its next entry.
void Ring::commit() {
  if (in_turn_ || flush_posted_) return;
  flush_posted_ = true;
  boost::asio::post(worker_.io(), [this] { flush(); });
}

void Ring::flush() {
  flush_posted_ = false;
  if (!closed_ && io_uring_sq_ready(&ring_) > 0) io_uring_submit(&ring_);
}

void Ring::cancel(void* owner, RingOp op) {
  io_uring_sqe* sqe = prepare(nullptr, RingOp::none);
  io_uring_prep_cancel64(sqe, tag(owner, op), 0);
  io_uring_sqe_set_data64(sqe, 0);  // its own completion is ignored
  commit();
}

void Ring::close(int fd) {
  io_uring_sqe* sqe = prepare(nullptr, RingOp::none);
  io_uring_prep_close(sqe, fd);
  io_uring_sqe_set_data64(sqe, 0);  // its completion is ignored, as a cancel's
  commit();
}

std::unique_ptr<ReadBuffer> Ring::take_selected(CompletionFlags flags) {
  const auto bid = static_cast<uint16_t>(flags.bits >> IORING_CQE_BUFFER_SHIFT);
  std::unique_ptr<ReadBuffer> b = std::move(lent_[bid]);
  lend(bid, worker_.take_buffer());
  return b;
}

void Ring::start() {
  wait();
}

// Completions are ready, or the kernel holds some back: work it has to run in this task, or
// completions that did not fit in the queue (its overflow list, emptied only by a call that
// asks for events; a wait on the ring's descriptor does not see them).
bool Ring::held_back() const {
  return IO_URING_READ_ONCE(*ring_.sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW);
}

bool Ring::ready() const {
  return io_uring_cq_ready(&ring_) > 0 || held_back();
}

void Ring::wait() {
  // Asked first: a wait queued while completions are there would cost the reactor a wake-up.
  if (ready()) return boost::asio::post(worker_.io(), [this] { on_ready(); });
  wait_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                   [this](const boost::system::error_code& ec) {
                     if (!ec) on_ready();
                   });
}

// One turn: handle the completions there are, submit what they queued (the sends of every
// response rendered, the next receives) in one call, and repeat while that call brought more.
void Ring::on_ready() {
  if (closed_) return;
  in_turn_ = true;
  bool more = false;
  for (int round = 0;; ++round) {
    // The completions there are now, and only those. The count is read before the check of
    // work from other threads: input seen here arrived after any hand-off the check misses.
    const unsigned ready = io_uring_cq_ready(&ring_);
    if (ready > 0 && worker_.posted_from_outside()) {
      more = true;  // that work runs first (see Worker::posted_from_outside)
      break;
    }
    reap(ready);
    if (io_uring_sq_ready(&ring_) > 0)
      io_uring_submit_and_get_events(&ring_);
    else if (held_back())
      io_uring_get_events(&ring_);
    if (io_uring_cq_ready(&ring_) == 0) break;
    if (round + 1 == max_rounds) {
      more = true;  // still busy: timers and accepts get their turn first
      break;
    }
  }
  in_turn_ = false;
  if (more)
    boost::asio::post(worker_.io(), [this] { on_ready(); });
  else
    wait();
}

void Ring::reap(unsigned limit) {
  unsigned n = 0;
  while (n < limit) {
    // The first completion, without a system call (io_uring_peek_cqe may make one).
    unsigned head;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(&ring_, head, cqe) break;
    if (!cqe) break;
    const uint64_t data = cqe->user_data;
    const int res = cqe->res;
    const unsigned flags = cqe->flags;
    io_uring_cqe_seen(&ring_, cqe);
    ++n;
    const auto op = static_cast<RingOp>(data & op_bits);
    if (op == RingOp::none) continue;                // a cancel's or a close's own completion
    if (!(flags & IORING_CQE_F_MORE)) --in_flight_;  // a multishot entry's last completion
    if (op == RingOp::accept)
      reinterpret_cast<Listener*>(data & ~op_bits)->on_ring(res, CompletionFlags{flags});
    else
      reinterpret_cast<RingTransport*>(data & ~op_bits)->on_ring(op, res, CompletionFlags{flags});
  }
}

void Ring::drain() {
  closed_ = true;
  boost::system::error_code ignored;
  wait_.cancel(ignored);  // a wait in flight completes with operation_aborted
  in_turn_ = true;
  while (in_flight_ > 0) {
    io_uring_submit_and_wait(&ring_, 1);
    reap(io_uring_cq_ready(&ring_));
  }
  in_turn_ = false;
  // Closes and cancels have no count in in_flight_: what the loop above did not submit goes now
  // (a socket's close runs as it is submitted).
  if (io_uring_sq_ready(&ring_) > 0) io_uring_submit(&ring_);
}

}  // namespace lithe::net
