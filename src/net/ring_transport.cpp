#include "net/ring_transport.hpp"

#include <cerrno>
#include <climits>
#include <memory>

#include "http/output.hpp"
#include "net/ring.hpp"
#include "net/session.hpp"
#include "net/worker.hpp"

namespace lithe::net {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {
// The largest batch whose send carries the next receive linked behind it: the send must then
// complete whole, and a stall shows only at the write timeout, so big ones go alone.
constexpr std::size_t linked_send_limit = 64 * 1024;
}  // namespace

void RingTransport::receive() {
  ++ops_;
  read_ = ReadOp::receive;
  submit_receive();
}

// Into the buffer of a request under way; between requests, into one the kernel picks when
// input arrives, after waiting for it once a response went out (the next request is not there
// yet; a new connection's first one usually is).
void RingTransport::submit_receive() {
  Ring& ring = *worker_.ring();
  if (session_.holds_input())
    ring.receive(this, fd_, session_.input_space());
  else
    ring.receive_provided(this, fd_, wrote_);
  ring.commit();
}

void RingTransport::wait_readable() {
  ++ops_;
  read_ = ReadOp::wait;
  Ring& ring = *worker_.ring();
  ring.wait(this, RingOp::wait_read, fd_);
  ring.commit();
}

void RingTransport::cancel_read() {
  if (reading()) worker_.ring()->cancel(this, receiving() ? RingOp::receive : RingOp::wait_read);
}

void RingTransport::on_ring(RingOp op, int res, CompletionFlags flags) {
  const error_code ec = res == -ECANCELED ? error_code(asio::error::operation_aborted)
                        : res < 0         ? error_code(-res, boost::system::system_category())
                                          : error_code();
  switch (op) {
    case RingOp::receive:
      if (flags.picked_buffer()) {
        std::unique_ptr<ReadBuffer> b = worker_.ring()->take_selected(flags);
        if (!open_ || !session_.adopt_input(b)) {
          worker_.give_buffer(std::move(b));
          // Not expected: a receive picks a buffer only for a session that holds none by the
          // time it completes. Input is never dropped silently: the connection ends.
          if (open_ && res > 0) return received(asio::error::fault, 0);
        }
      }
      // The kernel tells whether input is left in the socket (TCP only; see input_drained).
      input_drained_ = tcp_ && res > 0 && !flags.input_left();
      if (res == -ENOBUFS && open_) {
        // Every provided buffer is in use: this receive brings its own (still one operation).
        session_.input_space();
        return submit_receive();
      }
      return received(ec, res > 0 ? static_cast<std::size_t>(res) : 0);
    case RingOp::wait_read:
      return readable(ec);
    case RingOp::send:
      return on_sent(res);
    case RingOp::wait_write:
      return writable(ec);
    case RingOp::none:
    case RingOp::accept:  // a Listener's (Ring::reap)
      return;
  }
}

// Queued: the turn sends it with every other response rendered meanwhile (a file's pieces go
// with sendfile at once, as with the reactor). When the batch ends here and the session will wait
// for its next request, that receive is queued too, linked to start once the send is complete: a
// keep-alive exchange costs the ring one submission.
ssize_t RingTransport::send_memory(int run, int flags) {
  Ring& ring = *worker_.ring();
  const bool then_receive = !reading() && run == out_->iov_count() && run <= IOV_MAX &&
                            out_->pending_bytes() <= linked_send_limit &&
                            session_.receives_after_write();
  if (then_receive) {
    // MSG_WAITALL: the kernel completes the whole send before the receive starts. A short
    // send would complete the link as well, and the receive could then pick a buffer while the
    // rest of this batch still holds the old one. A kernel that fails a short send instead
    // cancels the receive: the session then does nothing with it, and receives after the write.
    flags |= MSG_WAITALL;
  }
  ring.send(this, fd_, out_->message(), flags, then_receive);
  ++ops_;
  writing_ = true;
  session_.write_waits();  // restarted on every progress
  if (then_receive) {
    ++ops_;
    read_ = ReadOp::receive;
  }
  ring.commit();
  return queued;
}

void RingTransport::on_sent(int res) {
  writing_ = false;
  if (!finish_op()) return;
  if (res < 0) return session_.close();
  if (sent(static_cast<std::size_t>(res))) return;
  write_pending();
}

void RingTransport::wait_writable() {
  ++ops_;
  writing_ = true;
  Ring& ring = *worker_.ring();
  ring.wait(this, RingOp::wait_write, fd_);
  ring.commit();
}

// Closing the descriptor does not end the ring's entries (they hold the socket): they are
// cancelled, and their completions finish the operations.
void RingTransport::detach() {
  Ring& ring = *worker_.ring();
  cancel_read();
  if (writing_) {
    ring.cancel(this, RingOp::send);        // one of the two is in flight; the other cancel
    ring.cancel(this, RingOp::wait_write);  // finds nothing
  }
  ring.close(fd_);
}

}  // namespace lithe::net
