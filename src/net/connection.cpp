#include "net/connection.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "app/dispatch.hpp"
#include "http/response_writer.hpp"
#include "net/worker.hpp"

namespace lithe::net {

namespace asio = boost::asio;
using boost::system::error_code;

Connection::Connection(Worker& worker) : worker_(worker), socket_(worker.io()) {}

Connection::~Connection() = default;

void Connection::start(asio::ip::tcp::socket socket) {
  socket_ = std::move(socket);
  error_code ec;
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  socket_.non_blocking(true, ec);
  open_ = true;
  close_after_write_ = peer_eof_ = false;
  rbegin_ = rpos_ = rend_ = 0;
  batch_ = 0;
  do_wait_read();
}

void Connection::close() {
  if (!open_) return;
  open_ = false;
  error_code ignored;
  socket_.close(ignored);  // cancels the operation in flight; its handler calls finish_op()
  release_idle_resources();
  if (exchange_) worker_.give_exchange(std::move(exchange_));
  if (rbuf_) worker_.give_buffer(std::move(rbuf_));
  if (out_) {
    out_->clear();
    worker_.give_output(std::move(out_));
  }
  if (ops_ == 0) worker_.on_closed(this);
}

void Connection::finish_op() {
  --ops_;
  if (!open_ && ops_ == 0) worker_.on_closed(this);
}

// Waiting for readability needs no buffer, so an idle keep-alive connection holds none.
void Connection::do_wait_read() {
  ++ops_;
  socket_.async_wait(asio::socket_base::wait_read, [this](const error_code& ec) { on_readable(ec); });
}

void Connection::on_readable(const error_code& ec) {
  finish_op();
  if (!open_) return;
  if (ec) return close();
  do_read();
}

void Connection::do_read() {
  if (!rbuf_) {
    rbuf_ = worker_.take_buffer();
    rbegin_ = rpos_ = rend_ = 0;
  }
  ssize_t n = ::recv(socket_.native_handle(), rbuf_->data.get() + rend_, rbuf_->capacity - rend_, 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return do_wait_read();
    return close();
  }
  if (n == 0) {
    // The client is done sending; every complete request was already answered (reads only
    // happen with nothing left to write) and a request cut off mid-way cannot be.
    peer_eof_ = true;
    return close();
  }
  rend_ += static_cast<std::size_t>(n);
  process_input();
}

void Connection::process_input() {
  const app::Snapshot& snap = worker_.snapshot();
  while (rpos_ < rend_ && !close_after_write_) {
    if (!exchange_) {
      exchange_ = worker_.take_exchange();
      exchange_->parser.start(exchange_->request);
    }
    if (!exchange_->parser.in_request()) rbegin_ = rpos_;
    auto r = exchange_->parser.feed(rbuf_->data.get() + rpos_, rend_ - rpos_);
    rpos_ += r.consumed;
    if (r.status == http::RequestParser::Status::need_more) break;
    if (r.status == http::RequestParser::Status::error) {
      fail_request(r.error_status);
      break;
    }
    handle_request();
    exchange_->next();
    if (++batch_ >= snap.config.limits.pipeline_depth) break;
  }
  if (out_ && !out_->empty()) return do_write();
  if (close_after_write_) return close();
  // Need more bytes.
  if (rpos_ == rend_ && !exchange_->parser.in_request()) {
    release_idle_resources();
    return do_wait_read();
  }
  if (!make_room()) return fail_request(431), do_write();
  do_read();
}

void Connection::handle_request() {
  http::RequestImpl& req = exchange_->request;
  http::ResponseImpl& res = exchange_->response;
  const app::Snapshot& snap = worker_.snapshot();
  app::dispatch(snap, req, res);
  if (!out_) out_ = worker_.take_output();
  const bool keep_alive = req.keep_alive() && !res.closes();
  http::RenderContext ctx{worker_.date().line(), snap.server_line, keep_alive,
                          req.version_minor() == 0, req.is_head()};
  http::render(res, ctx, *out_);
  if (!keep_alive) close_after_write_ = true;
}

void Connection::fail_request(uint16_t status) {
  if (!out_) out_ = worker_.take_output();
  const app::Snapshot& snap = worker_.snapshot();
  http::RenderContext ctx{worker_.date().line(), snap.server_line, false, false, false};
  http::render_error(status, ctx, *out_);
  close_after_write_ = true;
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
  out_->seal();
  write_pending();
}

// Sends what is left of the batch; waits for writability when the socket buffer is full.
void Connection::write_pending() {
  for (;;) {
    msghdr msg{};
    msg.msg_iov = out_->iov();
    msg.msg_iovlen = static_cast<std::size_t>(std::min(out_->iov_count(), IOV_MAX));
    ssize_t n = ::sendmsg(socket_.native_handle(), &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return close();
      ++ops_;
      socket_.async_wait(asio::socket_base::wait_write,
                         [this](const error_code& ec) { on_writable(ec); });
      return;
    }
    if (out_->advance(static_cast<std::size_t>(n))) return on_write_done();
  }
}

void Connection::on_writable(const error_code& ec) {
  finish_op();
  if (!open_) return;
  if (ec) return close();
  write_pending();
}

void Connection::on_write_done() {
  out_->clear();
  worker_.give_output(std::move(out_));
  batch_ = 0;
  if (close_after_write_) return close();
  if (rpos_ < rend_) return process_input();  // pipelined requests already read
  if (!exchange_ || !exchange_->parser.in_request()) {
    release_idle_resources();
    return do_wait_read();
  }
  do_read();
}

// Idle between requests: the buffers go back to the pool.
void Connection::release_idle_resources() {
  if (rbuf_ && rpos_ == rend_ && (!exchange_ || !exchange_->parser.in_request())) {
    worker_.give_buffer(std::move(rbuf_));
    rbegin_ = rpos_ = rend_ = 0;
    if (exchange_) worker_.give_exchange(std::move(exchange_));
  }
}

}  // namespace lithe::net
