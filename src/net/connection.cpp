#include "net/connection.hpp"

#include <spdlog/spdlog.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>

#include "app/dispatch.hpp"
#include "http/proxy_protocol.hpp"
#include "http/response_writer.hpp"
#include "log/access_log.hpp"
#include "log/access_record.hpp"
#include "net/pending.hpp"
#include "net/receive.hpp"
#include "net/ring.hpp"
#include "net/worker.hpp"

namespace lithe::net {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {
// Bytes a lingering close reads and drops before giving up on the client's FIN.
constexpr std::size_t linger_limit = 1024 * 1024;
// The largest batch whose send (io_uring) carries the next receive linked behind it: the send
// must then complete whole, and a stall shows only at the write timeout, so big ones go alone.
constexpr std::size_t linked_send_limit = 64 * 1024;
// Bytes one connection writes in one go before the loop's other work gets a turn: a fast reader
// of a large file would otherwise hold the loop for the whole file.
constexpr std::size_t write_slice = 512 * 1024;
}  // namespace

Connection::Connection(Worker& worker) : worker_(worker), socket_(worker.io()) {}

Connection::~Connection() {
  if (pending_) pending_->conn = nullptr;  // destroyed with its loop: the responder goes inert
}

// TCP_NODELAY is set on the listening socket: Linux copies it to the sockets accepted there.
void Connection::start(int fd, int family) {
  fd_ = fd;
  tcp_ = family != AF_UNIX;
  // With io_uring the socket stays out of Asio's reactor: its input would otherwise wake the
  // loop's epoll_wait too, for nothing.
  if (!worker_.ring()) {
    error_code ec;
    socket_.assign(asio::generic::stream_protocol(family, tcp_ ? IPPROTO_TCP : 0), fd, ec);
    if (ec) {  // epoll refused it (out of memory, or fs.epoll.max_user_watches reached)
      ::close(fd);
      fd_ = -1;
      return worker_.on_closed(this);
    }
    // Non-blocking since accept4; Asio only waits on it, so it need not know (an ioctl).
  }
  open_ = true;
  writing_ = false;
  reading_ = close_after_write_ = header_armed_ = lingering_ = false;
  dispatching_ = awaiting_ = async_ready_ = holds_retired_ = false;
  receiving_ = releasing_ = rejected_ = input_drained_ = false;
  const Config& cfg = worker_.snapshot().config;
  expect_proxy_ = cfg.proxy.proxy_protocol;
  unix_peer_ = peer_known_ = false;
  peer_ = {};
  if (expect_proxy_ || worker_.snapshot().access_log) resolve_peer();
  rbegin_ = rpos_ = rend_ = 0;
  lingered_ = requests_ = 0;
  batch_ = 0;
  worker_.deadlines().arm(deadline(), Timeout::keepalive);
  do_receive();  // the buffer is taken when the request is there
}

void Connection::give_back_buffer() {
  worker_.give_buffer(std::move(rbuf_));
}

// Reads into the read buffer, taken only when input is there (net/receive.hpp). Unlike a
// readiness wait, a read operation lets the reactor skip re-arming the descriptor (an
// epoll_ctl per request), and this one also skips the `recv` that would find nothing when the
// last read emptied the socket.
void Connection::do_receive() {
  ++ops_;
  reading_ = receiving_ = true;
  if (Ring* ring = worker_.ring()) return ring_receive(*ring);
  start_receive(this);
}

// Into the buffer of a request under way; between requests, into one the kernel picks when
// input arrives, after waiting for it (there is none yet: the last response just went out).
void Connection::ring_receive(Ring& ring) {
  if (rbuf_)
    ring.receive(this, fd_, input_space());
  else  // after a response the next request is not there yet: wait for it rather than try
    ring.receive_provided(this, fd_, requests_ > 0);
  ring.commit();
}

void Connection::on_ring(RingOp op, int res, CompletionFlags flags) {
  Ring& ring = *worker_.ring();
  const error_code ec = res == -ECANCELED ? error_code(asio::error::operation_aborted)
                        : res < 0         ? error_code(-res, boost::system::system_category())
                                          : error_code();
  switch (op) {
    case RingOp::receive:
      if (flags.picked_buffer()) {
        std::unique_ptr<ReadBuffer> b = ring.take_selected(flags);
        if (open_ && !rbuf_) {
          rbuf_ = std::move(b);
          rbegin_ = rpos_ = rend_ = 0;
        } else {
          worker_.give_buffer(std::move(b));
          // Not expected: a receive picks a buffer only for a connection that holds none by
          // the time it completes. Input is never dropped silently: the connection ends.
          if (open_ && res > 0) return on_received(asio::error::fault, 0);
        }
      }
      // The kernel tells whether input is left in the socket (TCP only; see end_after_write).
      input_drained_ = tcp_ && res > 0 && !flags.input_left();
      if (res == -ENOBUFS && open_) {
        // Every provided buffer is in use: this receive brings its own.
        input_space();
        return ring_receive(ring);
      }
      return on_received(ec, res > 0 ? static_cast<std::size_t>(res) : 0);
    case RingOp::wait_read:
      return on_readable(ec);
    case RingOp::send:
      return on_sent(res);
    case RingOp::wait_write:
      return on_writable(ec);
    case RingOp::none:
    case RingOp::accept:  // a Listener's (Ring::reap)
      return;
  }
}

// The read side's operation ends early (operation_aborted).
void Connection::cancel_read() {
  if (Ring* ring = worker_.ring()) {
    if (reading_) ring->cancel(this, receiving_ ? RingOp::receive : RingOp::wait_read);
    return;
  }
  error_code ignored;
  socket_.cancel(ignored);
}

std::span<char> Connection::input_space() {
  if (!rbuf_) {
    rbuf_ = worker_.take_buffer();
    rbegin_ = rpos_ = rend_ = 0;
  }
  return {rbuf_->data.get() + rend_, rbuf_->capacity - rend_};
}

void Connection::input_space_unused() {
  release_idle_resources();  // between requests, a connection waits without a buffer
}

void Connection::on_received(const error_code& ec, std::size_t n) {
  reading_ = receiving_ = false;
  finish_op();
  if (!open_) return;
  const bool releasing = releasing_;
  releasing_ = false;
  if (ec == asio::error::operation_aborted) {
    if (releasing) return wait_for_input();  // a graceful stop looks again (close_if_idle)
    if (lingering_) linger_read();
    return;  // a header/body timeout: its 408 is on its way
  }
  if (ec || n == 0) return close();  // eof: every complete request was answered already
  worker_.count_bytes_in(n);
  if (close_after_write_) return discard_input(n);
  rend_ += static_cast<uint32_t>(n);  // n fits: the buffer is far smaller than 4 GiB
  if (out_) return;  // a batch is being written: these bytes are parsed once it is out
  process_input();
}

// Input that arrives once the connection's last response is decided is never parsed: a timeout's
// 408 can meet a receive that had already completed. It is dropped as a lingering close drops it.
void Connection::discard_input(std::size_t n) {
  lingered_ += static_cast<uint32_t>(n);  // n <= the read buffer's size
  if (!lingering_) return;  // the last batch is being written: its end starts the lingering close
  if (lingered_ > linger_limit) return close();
  linger_read();
}

void Connection::close() {
  if (!open_) return;
  open_ = false;
  worker_.deadlines().disarm(deadline());
  if (Ring* ring = worker_.ring()) {
    // Closing the descriptor does not end the ring's entries (they hold the socket): cancel
    // them; their completions call finish_op().
    cancel_read();
    if (writing_) {
      ring->cancel(this, RingOp::send);        // one of the two is in flight; the other cancel
      ring->cancel(this, RingOp::wait_write);  // finds nothing
    }
    ring->close(fd_);
  } else {
    error_code ignored;
    socket_.close(ignored);  // aborts the waits in flight; their handlers call finish_op()
  }
  fd_ = -1;
  if (pending_) cancel_pending();
  if (ops_ == 0) release();
}

// Closed, and no operation in flight still reads or writes the buffers (a cancelled send or
// receive can complete after the cancel, with the kernel still using its buffer until then).
void Connection::release() {
  if (exchange_) worker_.give_exchange(std::move(exchange_));
  if (rbuf_) give_back_buffer();
  if (out_) {
    out_->clear();
    worker_.give_output(std::move(out_));
  }
  unpin_retired();  // the batch may have referenced the retired snapshot's bodies
  worker_.on_closed(this);
}

bool Connection::pin_retired() {
  if (!open_ || holds_retired_ || (!out_ && !awaiting_)) return false;
  holds_retired_ = true;
  return true;
}

void Connection::unpin_retired() {
  if (!holds_retired_) return;
  holds_retired_ = false;
  worker_.release_retired();
}

bool Connection::close_if_idle() {
  if (!open_ || lingering_ || awaiting_ || out_ || !between_requests()) return false;
  if (receiving_) {
    // The reactor may have read a request already: let the read finish or abort first, then
    // decide (on_received comes back here with no read in flight).
    releasing_ = true;
    cancel_read();
    return false;
  }
  char byte;
  const ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return false;  // a request is on its way: it is answered, with Connection: close
  close();
  return true;
}

void Connection::finish_op() {
  --ops_;
  if (!open_ && ops_ == 0) release();
}

http::RenderContext Connection::render_context(bool keep_alive, bool http10, bool head) const {
  return {worker_.date().line(), worker_.snapshot().server_line, keep_alive, http10, head};
}

// Readiness only, no read: while lingering, and to watch a client while a Responder answers.
void Connection::do_wait_read() {
  ++ops_;
  reading_ = true;
  if (Ring* ring = worker_.ring()) {
    ring->wait(this, RingOp::wait_read, fd_);
    return ring->commit();
  }
  socket_.async_wait(asio::socket_base::wait_read,
                     asio::bind_allocator(SlotAllocator<void, read_op_size>(&read_slot_),
                                          [this](const error_code& ec) { on_readable(ec); }));
}

void Connection::on_readable(const error_code& ec) {
  reading_ = false;
  finish_op();
  if (!open_) return;
  if (ec == asio::error::operation_aborted) {
    // Cancelled on purpose (a header/body timeout); lingering may now need its own wait.
    if (lingering_) do_wait_read();
    return;
  }
  if (ec) return close();
  if (lingering_) return linger_read();
  if (awaiting_) {
    // Only watching for the client going away while a handler answers asynchronously.
    char byte;
    const ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return do_wait_read();
    if (n < 0) return close();  // reset: the responder is cancelled
    return;  // more requests or a half-close: both are handled after the response
  }
  wait_for_input();  // the answer went out while this wait was in flight: read what came
}

void Connection::resolve_peer() {
  peer_known_ = true;
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return;
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    peer_[10] = peer_[11] = 0xff;
    std::memcpy(&peer_[12], &in->sin_addr, 4);
  } else if (ss.ss_family == AF_INET6) {
    std::memcpy(peer_.data(), &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, 16);
  } else {
    unix_peer_ = true;
  }
}

// PROXY protocol (v1 or v2) before the first request: the source address replaces the peer's.
// Returns false while more bytes are needed or once the connection is closed for a bad one.
bool Connection::read_proxy_header() {
  http::ProxyHeader header;
  std::size_t consumed = 0;
  switch (http::parse_proxy_header(rbuf_->data.get() + rpos_, rend_ - rpos_, header, &consumed)) {
    case http::ProxyParse::need_more:
      if (!header_armed_) worker_.deadlines().arm(deadline(), Timeout::header);
      header_armed_ = true;
      if (!reading_) do_receive();
      return false;
    case http::ProxyParse::invalid:
      close();  // not from a proxy we were told to expect: nothing of it is read as HTTP
      return false;
    case http::ProxyParse::done:
      break;
  }
  rpos_ += static_cast<uint32_t>(consumed);
  rbegin_ = rpos_;
  expect_proxy_ = false;
  header_armed_ = false;
  if (header.has_source && !header.local) {
    peer_ = header.source;
    unix_peer_ = false;
  }
  return true;
}

void Connection::process_input() {
  if (expect_proxy_ && !read_proxy_header()) return;
  const app::Snapshot& snap = worker_.snapshot();
  // Requests that start in the same read started together: one clock read per batch (the
  // clock is a visible cost with 16 requests to a read).
  Clock::time_point batch_start{};
  while (rpos_ < rend_ && !close_after_write_) {
    if (!exchange_) {
      exchange_ = worker_.take_exchange();
      exchange_->parser.start(exchange_->request, worker_.parser_limits());
    }
    if (!exchange_->parser.in_request()) {
      rbegin_ = rpos_;
      if (batch_start == Clock::time_point{}) batch_start = Clock::now();
      exchange_->start = batch_start;
    }
    auto r = exchange_->parser.feed(rbuf_->data.get() + rpos_, rend_ - rpos_);
    rpos_ += static_cast<uint32_t>(r.consumed);
    using S = http::RequestParser::Status;
    if (r.status == S::need_more) break;
    if (r.status == S::error) {
      worker_.count_parse_error(r.error_status);
      fail_request(r.error_status);
      break;
    }
    if (r.status == S::expect_continue) {
      on_expect_continue();
      continue;
    }
    handle_request();
    if (awaiting_) break;
    exchange_->next();
    header_armed_ = false;
    if (++batch_ >= snap.config.limits.pipeline_depth) break;
  }
  if (out_ && !out_->empty()) return do_write();
  if (awaiting_) {
    if (!reading_) do_wait_read();
    return;
  }
  if (close_after_write_) return close();
  wait_for_input();
}

// Waits for more request bytes, with the deadline the current state calls for.
void Connection::wait_for_input() {
  if (out_) return;  // reading waits for the batch being written: its end reads on
  Deadlines& deadlines = worker_.deadlines();
  const bool in_request = exchange_ && exchange_->parser.in_request();
  // Idle again during a graceful stop (a keep-alive response that was being written when the
  // drain began is out): closed like the connections that were idle then.
  if (!in_request && worker_.draining() && close_if_idle()) return;
  if (!in_request) {
    deadlines.arm(deadline(), Timeout::keepalive);
    release_idle_resources();     // the receive takes a buffer when the next request is there
    if (!reading_) do_receive();  // (a readiness wait may be in flight already)
    return;
  } else if (!exchange_->parser.headers_done()) {
    // One deadline for the whole head: bytes trickling in do not extend it.
    if (!header_armed_) deadlines.arm(deadline(), Timeout::header);
    header_armed_ = true;
  } else {
    deadlines.arm(deadline(), Timeout::body);  // silence while reading a body
  }
  if (!make_room()) {
    fail_request(431);
    return do_write();
  }
  if (!reading_) do_receive();
}

// Expect: 100-continue: invite the body only when the request can succeed; otherwise the final
// status goes out at once and the connection closes (the body may already be on its way).
void Connection::on_expect_continue() {
  http::RequestImpl& req = exchange_->request;
  router::Param params[router::max_params];
  const app::Snapshot& snap = worker_.snapshot();
  if (snap.router.match(req.method_id(), req.path(), params).status ==
      router::Match::Status::found) {
    if (!out_) out_ = worker_.take_output();
    out_->append("HTTP/1.1 100 Continue\r\n\r\n");
    return;
  }
  http::ResponseImpl& res = exchange_->response;
  app::dispatch(snap, req, res);
  if (!out_) out_ = worker_.take_output();
  http::render(res, render_context(false, false, req.is_head()), *out_);
  close_after_write_ = rejected_ = true;  // the body may be on its way regardless
}

void Connection::handle_request() {
  http::RequestImpl& req = exchange_->request;
  http::ResponseImpl& res = exchange_->response;
  res.set_defer_hook(this, &Connection::make_responder);
  dispatching_ = true;
  const app::Snapshot& snap = worker_.snapshot();
  const std::size_t slot = snap.route_slot[app::dispatch(snap, req, res)];
  dispatching_ = false;
  if (res.deferred() && pending_) {
    // The handler answers later: hold the request, read nothing more, watch for a reset.
    awaiting_ = true;
    exchange_->metrics_slot = slot;  // a reload may renumber routes before the answer
    worker_.deadlines().disarm(deadline());
    return;
  }
  if (pending_) pending_->conn = nullptr, pending_ = nullptr;  // it threw after deferring
  finish_response(slot);
}

lithe::Responder Connection::make_responder(void* self) {
  auto* c = static_cast<Connection*>(self);
  auto pending = std::make_shared<detail::Pending>(c, &c->exchange_->request,
                                                   &c->exchange_->response, &c->worker_.io());
  c->pending_ = pending.get();
  return lithe::Responder(std::move(pending));
}

void Connection::complete_async() {
  pending_ = nullptr;
  if (dispatching_) return;  // sent from inside the handler: handle_request renders it
  awaiting_ = false;
  if (out_) {
    async_ready_ = true;  // an earlier batch is still being written
    return;
  }
  resume_after_async();
}

void Connection::complete_async_dropped() {
  http::ResponseImpl& res = exchange_->response;
  res.reset();
  res.status(500);
  res.body_view("Internal Server Error", "text/plain; charset=utf-8");
  complete_async();
}

void Connection::resume_after_async() {
  finish_response(exchange_->metrics_slot);
  exchange_->next();
  header_armed_ = false;
  ++batch_;
  process_input();  // requests pipelined behind it, then the write
}

// The client went away first: the responder goes inert and its owner hears of it once.
void Connection::cancel_pending() {
  pending_->conn = nullptr;
  std::function<void()> fn = std::move(pending_->on_cancel);
  pending_ = nullptr;
  awaiting_ = async_ready_ = false;
  if (!fn) return;
  try {
    fn();
  } catch (const std::exception& e) {
    spdlog::error("responder cancel callback threw: {}", e.what());
  } catch (...) {
    spdlog::error("responder cancel callback threw a non-exception");
  }
}

void Connection::finish_response(std::size_t slot) {
  http::RequestImpl& req = exchange_->request;
  http::ResponseImpl& res = exchange_->response;
  const app::Snapshot& snap = worker_.snapshot();
  const uint16_t status =
      res.prepared() ? res.prepared()->status : static_cast<uint16_t>(res.status());
  worker_.finished(static_cast<uint32_t>(slot), status, exchange_->start);
  if (!out_) out_ = worker_.take_output();
  const std::size_t limit = snap.config.limits.requests_per_connection;
  ++requests_;
  const bool keep_alive =
      req.keep_alive() && !res.closes() && (limit == 0 || requests_ < limit) && !worker_.draining();
  const std::size_t body =
      http::render(res, render_context(keep_alive, req.version_minor() == 0, req.is_head()), *out_);
  if (snap.access_log) log_access(status, body);
  if (!keep_alive) close_after_write_ = true;
}

// A rejected request: its status, Connection: close, and nothing after it is parsed.
void Connection::fail_request(uint16_t status) {
  if (!out_) out_ = worker_.take_output();
  // A rejected HEAD still gets no body, when the method was parsed.
  const bool head = exchange_ && exchange_->parser.in_request() && exchange_->request.is_head();
  const std::size_t body = http::render_error(status, render_context(false, false, head), *out_);
  if (worker_.snapshot().access_log) log_access(status, body);
  close_after_write_ = rejected_ = true;
}

// One access log line (log/access_record.hpp).
void Connection::log_access(uint16_t status, std::size_t body_bytes) {
  const app::Snapshot& snap = worker_.snapshot();
  // Accepted while access logging was off (a reload turned it on): look the peer up now.
  if (!peer_known_) resolve_peer();
  // Formatted per line rather than kept per connection: idle connections stay small.
  char client[base::ip_text_size];
  snap.access_log->log(log::access_record(
      log::Peer{peer_, unix_peer_}, snap.config.proxy, exchange_ ? &exchange_->request : nullptr,
      status, body_bytes, exchange_ ? &exchange_->start : nullptr, client));
}

// The buffer is full in the middle of a request: move the live bytes to the front.
bool Connection::make_room() {
  if (rend_ < rbuf_->capacity) return true;
  char* base = rbuf_->data.get();
  http::RequestImpl& req = exchange_->request;
  if (exchange_->parser.headers_done()) {
    // A body is streaming: keep its head in the arena and drop every consumed byte.
    req.pin();
    std::memmove(base, base + rpos_, rend_ - rpos_);
    rend_ -= rpos_;
    rbegin_ = rpos_ = 0;
    return true;
  }
  if (rbegin_ == 0) return false;  // the head alone fills the buffer
  std::memmove(base, base + rbegin_, rend_ - rbegin_);
  req.rebase(base + rbegin_, base + rend_, -static_cast<std::ptrdiff_t>(rbegin_));
  rpos_ -= rbegin_;
  rend_ -= rbegin_;
  rbegin_ = 0;
  return true;
}

void Connection::do_write() {
  worker_.record_finished();  // before the client can see the responses (or scrape them)
  out_->seal();
  write_pending();
}

// Sends what is left of the batch; waits for writability when the socket buffer is full.
void Connection::write_pending() {
  const int fd = fd_;
  std::size_t written = 0;
  for (;;) {
    if (written >= write_slice) return yield_write();
    ssize_t n;
    if (const int run = out_->memory_run(); run > 0) {
      msghdr& msg = out_->message();
      msg = {};
      msg.msg_iov = out_->iov();
      msg.msg_iovlen = static_cast<std::size_t>(std::min(run, IOV_MAX));
      // A file body follows: hold the head back so that it leaves with the file's first bytes
      // (TCP_NODELAY would otherwise send it as a packet of its own).
      const bool file_next = run < out_->iov_count() && run <= IOV_MAX;
      const int flags = MSG_NOSIGNAL | (file_next ? MSG_MORE : 0);
      if (Ring* ring = worker_.ring()) return ring_send(*ring, run, flags);
      // One buffer (the usual small response, or a whole pipelined batch): send() spares the
      // kernel copying in a msghdr and an iovec array.
      n = run == 1 ? ::send(fd, msg.msg_iov->iov_base, msg.msg_iov->iov_len, flags)
                   : ::sendmsg(fd, &msg, flags);
    } else {
      // A file body: zero copy from the page cache.
      n = ::sendfile(fd, out_->front_fd(), out_->front_offset(), out_->iov()->iov_len);
      if (n == 0) return close();  // the file shrank under us: the length we promised is a lie
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return close();
      worker_.deadlines().arm(deadline(), Timeout::write);  // restarted on every progress
      return wait_writable();
    }
    worker_.count_bytes_out(static_cast<std::size_t>(n));
    written += static_cast<std::size_t>(n);
    if (out_->advance(static_cast<std::size_t>(n))) return on_write_done();
  }
}

// write_pending()'s slice is spent: the loop's other handlers run first, then the write goes on.
void Connection::yield_write() {
  ++ops_;
  writing_ = true;
  asio::post(worker_.io(), [this] { on_writable(error_code()); });
}

void Connection::wait_writable() {
  ++ops_;
  if (Ring* ring = worker_.ring()) {
    writing_ = true;
    ring->wait(this, RingOp::wait_write, fd_);
    return ring->commit();
  }
  socket_.async_wait(asio::socket_base::wait_write,
                     [this](const error_code& ec) { on_writable(ec); });
}

// Queued: the turn sends it with every other response rendered meanwhile. When the batch ends
// here and the connection will wait for its next request, that receive is queued too, linked
// to start once the send is complete: a keep-alive exchange costs the ring one submission.
void Connection::ring_send(Ring& ring, int run, int flags) {
  const msghdr& msg = out_->message();
  const bool then_receive = !reading_ && !close_after_write_ && !awaiting_ && !worker_.draining() &&
                            run == out_->iov_count() && run <= IOV_MAX &&
                            out_->pending_bytes() <= linked_send_limit && between_requests();
  if (then_receive) {
    // MSG_WAITALL: the kernel completes the whole send before the receive starts. A short
    // send would complete the link as well, and the receive could then pick a buffer while the
    // rest of this batch still holds the old one. A kernel that fails a short send instead
    // cancels the receive: on_received then does nothing, and on_write_done queues the next.
    flags |= MSG_WAITALL;
  }
  ring.send(this, fd_, msg, flags, then_receive);
  ++ops_;
  writing_ = true;
  worker_.deadlines().arm(deadline(), Timeout::write);  // restarted on every progress
  if (then_receive) {
    ++ops_;
    reading_ = receiving_ = true;
  }
  ring.commit();
}

void Connection::on_sent(int res) {
  writing_ = false;
  finish_op();
  if (!open_) return;
  if (res < 0) return close();
  worker_.count_bytes_out(static_cast<std::size_t>(res));
  if (out_->advance(static_cast<std::size_t>(res))) return on_write_done();
  write_pending();
}

void Connection::on_writable(const error_code& ec) {
  writing_ = false;
  finish_op();
  if (!open_) return;
  if (ec) return close();
  write_pending();
}

void Connection::on_write_done() {
  out_->clear();
  worker_.give_output(std::move(out_));
  batch_ = 0;
  if (!awaiting_) unpin_retired();
  if (close_after_write_) return end_after_write();
  if (async_ready_) {
    async_ready_ = false;
    return resume_after_async();
  }
  if (awaiting_) {
    if (!reading_) do_wait_read();
    return;
  }
  if (rpos_ < rend_) return process_input();  // pipelined requests already read
  wait_for_input();
}

// The last response is out. Closing a socket with unread input sends a reset, which can destroy
// that response before the client reads it. When every byte the client sent was read and
// belonged to requests answered in full, the connection closes at once (as nginx's
// `lingering_close on` does); otherwise, and after a rejected request, the lingering close.
void Connection::end_after_write() {
  if (!rejected_ && between_requests() && input_drained()) return close();
  start_linger();
}

// Whether the socket holds no unread input: known from the last receive, or asked. The client's
// FIN alone is no input (it closed first, typically on reading Connection: close).
bool Connection::input_drained() const {
  if (input_drained_) return true;
  char byte;
  const ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

// Lingering close: shut the send side, then read and drop what the client still sends until
// its FIN, so our last response is not destroyed by an RST for unread data.
void Connection::start_linger() {
  lingering_ = true;
  if (exchange_) worker_.give_exchange(std::move(exchange_));
  // A receive still in flight writes into the read buffer: linger_read() hands it back after.
  if (rbuf_ && !receiving_) give_back_buffer();
  if (::shutdown(fd_, SHUT_WR) != 0) return close();
  worker_.deadlines().arm(deadline(), Timeout::linger);
  if (!reading_) do_wait_read();
}

void Connection::linger_read() {
  if (rbuf_) give_back_buffer();  // kept by start_linger() for a receive then in flight
  char* scratch = worker_.scratch();
  for (;;) {
    const ssize_t n = ::recv(fd_, scratch, Worker::scratch_size, 0);
    if (n > 0) {
      lingered_ += static_cast<uint32_t>(n);  // n <= scratch_size
      if (lingered_ > linger_limit) return close();
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
    return close();  // FIN or error: done
  }
  worker_.deadlines().arm(deadline(), Timeout::linger);
  do_wait_read();
}

void Connection::on_timeout(Timeout timeout) {
  if (!open_) return;
  switch (timeout) {
    case Timeout::header:
    case Timeout::body:
      // A PROXY preamble that never completed: not HTTP yet, so no HTTP answer either.
      if (out_ || close_after_write_ || expect_proxy_) return close();
      cancel_read();  // the read wait: its handler sees operation_aborted
      worker_.count_parse_error(408);
      fail_request(408);
      return do_write();
    case Timeout::keepalive:
    case Timeout::write:
    case Timeout::linger:
    case Timeout::count:
      return close();
  }
}

// Idle between requests: the buffers go back to the pool.
void Connection::release_idle_resources() {
  if (rbuf_ && between_requests()) {
    give_back_buffer();
    rbegin_ = rpos_ = rend_ = 0;
    if (exchange_) worker_.give_exchange(std::move(exchange_));
  }
}

}  // namespace lithe::net
