#include "net/session.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <charconv>
#include <cstring>

#include "app/dispatch.hpp"
#include "base/text.hpp"
#include "encoding/accept_encoding.hpp"
#include "http/body_state.hpp"
#include "http/event_format.hpp"
#include "http/pending.hpp"
#include "http/proxy_protocol.hpp"
#include "http/response_writer.hpp"
#include "http/status.hpp"
#include "http/stream_state.hpp"
#include "log/access_log.hpp"
#include "log/access_record.hpp"
#include "net/transport.hpp"
#include "net/worker.hpp"

namespace lithe::net {

using boost::system::error_code;

namespace {
// Bytes a lingering close reads and drops before giving up on the client's FIN.
constexpr std::size_t linger_limit = 1024 * 1024;

// A handler's callback (cancel, drain, writable, a body piece), run on the loop: nothing it
// throws may reach the loop.
template <class F>
void guarded(const char* what, F&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    spdlog::error("{} callback threw: {}", what, e.what());
  } catch (...) {
    spdlog::error("{} callback threw a non-exception", what);
  }
}

void run_callback(std::function<void()> fn, const char* what) {
  if (fn) guarded(what, fn);
}
}  // namespace

Session::Session(Worker& worker) : worker_(worker) {}

Session::~Session() {
  if (pending_) pending_->conn = nullptr;  // destroyed with its loop: the responder goes inert
  if (stream_) {
    stream_->conn = nullptr;
    const std::shared_ptr<detail::StreamState> last = std::move(stream_->held);
  }
  if (body()) body()->conn = nullptr;
}

// TCP_NODELAY is set on the listening socket: Linux copies it to the sockets accepted there.
void Session::start(int fd, int family) {
  if (!transport_->open(fd, family)) return worker_.on_closed(this);
  phase_ = Phase::reading;
  rejected_ = header_armed_ = releasing_ = holds_retired_ = false;
  expect_proxy_ = worker_.snapshot().config.proxy.proxy_protocol;
  unix_peer_ = peer_known_ = false;
  peer_ = {};
  if (expect_proxy_ || worker_.snapshot().access_log) resolve_peer();
  rbegin_ = rpos_ = rend_ = 0;
  lingered_ = requests_ = batch_ = 0;
  worker_.deadlines().arm(deadline(), Timeout::keepalive);
  transport_->receive();  // the buffer is taken when the request is there
}

// ---- Input ------------------------------------------------------------------------------------

std::span<char> Session::input_space() {
  if (!rbuf_) {
    rbuf_ = worker_.take_buffer();
    rbegin_ = rpos_ = rend_ = 0;
  }
  return {rbuf_->data.get() + rend_, rbuf_->capacity - rend_};
}

void Session::input_space_unused() {
  release_idle_resources();  // between requests, a session waits without a buffer
}

bool Session::adopt_input(std::unique_ptr<ReadBuffer>& buffer) {
  if (rbuf_) return false;
  rbuf_ = std::move(buffer);
  rbegin_ = rpos_ = rend_ = 0;
  return true;
}

void Session::on_received(const error_code& ec, std::size_t n) {
  const bool releasing = releasing_;
  releasing_ = false;
  if (ec == boost::asio::error::operation_aborted) {
    if (releasing) return wait_for_input();  // a graceful stop looks again (close_if_idle)
    if (phase_ == Phase::lingering) linger_read();
    return;  // a header/body timeout: its 408 is on its way
  }
  if (ec || n == 0) return close();  // eof: every complete request was answered already
  worker_.count_bytes_in(n);
  if (closing()) return discard_input(n);
  rend_ += static_cast<uint32_t>(n);  // n fits: the buffer is far smaller than 4 GiB
  if (body()) return feed_body();     // a handler asked for the next piece of its body
  if (out_) return;  // a batch is being written: these bytes are parsed once it is out
  process_input();
}

// Input that arrives once the last response is decided is never parsed: a timeout's 408 can
// meet a receive that had already completed. It is dropped as a lingering close drops it.
void Session::discard_input(std::size_t n) {
  lingered_ += static_cast<uint32_t>(n);   // n <= the read buffer's size
  if (phase_ != Phase::lingering) return;  // the last batch is being written: its end lingers
  if (lingered_ > linger_limit) return close();
  linger_read();
}

// ---- Parse and dispatch -----------------------------------------------------------------------

void Session::process_input() {
  if (expect_proxy_ && !read_proxy_header()) return;
  const app::Snapshot& snap = worker_.snapshot();
  // Requests that start in the same read started together: one clock read per batch (the
  // clock is a visible cost with 16 requests to a read).
  Clock::time_point batch_start{};
  while (rpos_ < rend_ && !closing()) {
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
    if (r.status == S::head) {
      if (on_head()) continue;
      break;
    }
    handle_request();
    if (phase_ == Phase::awaiting || phase_ == Phase::streaming) break;
    next_request();
    header_armed_ = false;
    if (++batch_ >= snap.config.limits.pipeline_depth) break;
  }
  if (out_ && !out_->empty()) return do_write();
  if (phase_ == Phase::awaiting || phase_ == Phase::streaming) {
    // To notice the client leaving; a body being pulled reads only when asked.
    if (!body() && !transport_->reading()) transport_->wait_readable();
    return;
  }
  if (closing()) return close();
  wait_for_input();
}

// PROXY protocol (v1 or v2) before the first request: the source address replaces the peer's.
// Returns false while more bytes are needed or once the session is closed for a bad one.
bool Session::read_proxy_header() {
  http::ProxyHeader header;
  std::size_t consumed = 0;
  switch (http::parse_proxy_header(rbuf_->data.get() + rpos_, rend_ - rpos_, header, &consumed)) {
    case http::ProxyParse::need_more:
      if (!header_armed_) worker_.deadlines().arm(deadline(), Timeout::header);
      header_armed_ = true;
      if (!transport_->reading()) transport_->receive();
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

// The head of a request with a body, before any body byte is parsed: its route sets the body
// limit and says whether the handler pulls the body itself (it starts now) or gets it whole.
// Expect: 100-continue invites the body only when the request can succeed; otherwise the final
// status goes out at once and the connection closes (the body may already be on its way).
// Returns whether parsing goes on with the body.
bool Session::on_head() {
  http::RequestImpl& req = exchange_->request;
  router::Param params[router::max_params];
  const app::Snapshot& snap = worker_.snapshot();
  const router::Match m = snap.router.match(req.method_id(), req.path(), params);
  const app::Route* route =
      m.status == router::Match::Status::found ? &snap.routes[m.route] : nullptr;
  const uint64_t limit = route ? route->max_body : snap.config.limits.body;
  if (req.declared_length() > limit) {
    worker_.count_parse_error(413);
    fail_request(413);
    return false;
  }
  exchange_->parser.set_body_limit(limit);
  if (route && route->stream_body) {
    exchange_->parser.stream_body();
    exchange_->body = std::make_shared<detail::BodyState>(this);
    handle_request();
    return false;
  }
  if (!req.expects_continue()) return true;
  if (route) {
    if (!out_) out_ = worker_.take_output();
    out_->append("HTTP/1.1 100 Continue\r\n\r\n");
    return true;
  }
  http::ResponseImpl& res = exchange_->response;
  if (!snap.config.server.request_id_header.empty()) assign_request_id();
  app::dispatch(snap, *exchange_);
  app::finish(snap, *exchange_);
  if (!out_) out_ = worker_.take_output();
  http::render(res, render_context(false, false, req.is_head()), *out_);
  phase_ = Phase::last;
  rejected_ = true;  // the body may be on its way regardless
  return false;
}

void Session::handle_request() {
  http::RequestImpl& req = exchange_->request;
  http::ResponseImpl& res = exchange_->response;
  req.set_port(this);
  res.set_port(this);
  phase_ = Phase::handling;
  const app::Snapshot& snap = worker_.snapshot();
  if (!snap.config.server.request_id_header.empty()) assign_request_id();
  const app::Route* r = app::dispatch(snap, *exchange_);
  const std::size_t slot =
      snap.route_slot[r ? static_cast<std::size_t>(r - snap.routes.data()) : snap.routes.size()];
  if (stream()) {
    // The handler began a streamed body: what it wrote so far follows the head in this batch.
    stream()->metrics_slot = static_cast<uint32_t>(slot);
    stream()->heartbeat = r ? r->heartbeat : std::chrono::milliseconds(0);
    if (stream()->aborted) return abort_stream();
    if (stream()->ended) return finish_stream();
    phase_ = Phase::streaming;
    return;
  }
  if (res.deferred() && pending_) {
    // The handler answers later: hold the request, read nothing more, watch for a reset, and
    // answer 504 if nothing is sent by the route's timeout.
    phase_ = Phase::awaiting;
    exchange_->metrics_slot = slot;  // a reload may renumber routes before the answer
    exchange_->heartbeat = r ? r->heartbeat : std::chrono::milliseconds(0);
    exchange_->answer_limit = r ? r->timeout : std::chrono::milliseconds(0);
    start_answer_deadline();
    return;
  }
  phase_ = Phase::reading;
  if (pending_) pending_->conn = nullptr, pending_ = nullptr;  // it threw after deferring
  finish_response(slot);
}

// server.request_id_header (set): the ID a trusted peer sent, when it is one field and valid,
// or a new one. Copied beside the request, so it outlives the read buffer's bytes.
void Session::assign_request_id() {
  const std::string& name = worker_.snapshot().config.server.request_id_header;
  http::RequestImpl& req = exchange_->request;
  std::string_view given;
  int fields = 0;
  for (const Header& h : req.headers())
    if (base::iequals(h.name, name)) given = h.value, ++fields;
  if (fields == 1 && http::valid_request_id(given) && trusted_peer()) {
    std::memcpy(exchange_->request_id, given.data(), given.size());
    req.set_request_id({exchange_->request_id, given.size()});
  } else {
    req.set_request_id(worker_.request_ids().next(exchange_->request_id));
  }
}

// As the access log decides it (log::trusted_peer); the peer is looked up only when some
// proxy is trusted at all.
bool Session::trusted_peer() {
  const ProxyConfig& proxy = worker_.snapshot().config.proxy;
  if (proxy.trusted.empty()) return false;
  if (!peer_known_) resolve_peer();
  return log::trusted_peer(log::Peer{peer_, unix_peer_}, proxy);
}

lithe::Responder Session::make_responder() {
  auto pending = std::make_shared<detail::Pending>(this, &exchange_->request, &exchange_->response,
                                                   &worker_.io());
  pending_ = pending.get();
  return lithe::Responder(std::move(pending));
}

void Session::hold_request(const std::shared_ptr<detail::Pending>& holder) {
  exchange_->holder = holder;
}

namespace {
// A coroutine's request, left to it: the exchange and the buffer its views point into.
struct KeptRequest {
  std::unique_ptr<http::Exchange> exchange;
  std::unique_ptr<ReadBuffer> buffer;
};
}  // namespace

// The connection is done with the request, but a coroutine handler may still run with
// references into it: they stay valid until it returns (README), so the exchange and the read
// buffer become its own, freed when it lets go, instead of going back to the pools (where the
// next request would take them). Not while a receive may still write into the buffer.
// Requests pipelined behind it stay the session's, copied to a buffer of its own.
bool Session::hand_request_to_coroutine() {
  const std::shared_ptr<detail::Pending> holder = coroutine_holder();
  if (!holder || (rbuf_ && transport_->receiving())) return false;
  exchange_->holder.reset();
  if (exchange_->body) exchange_->body->conn = nullptr;
  exchange_->body.reset();
  exchange_->request.set_port(nullptr);  // what reaches the connection now reaches nothing
  exchange_->response.set_port(nullptr);
  std::unique_ptr<ReadBuffer> kept = std::move(rbuf_);
  const uint32_t unparsed = closing() || !transport_->is_open() ? 0 : rend_ - rpos_;
  if (unparsed > 0) {
    rbuf_ = worker_.take_buffer();
    // The kept buffer may be larger, sized by the config before a reload.
    if (rbuf_->capacity < unparsed) rbuf_ = std::make_unique<ReadBuffer>(kept->capacity);
    std::memcpy(rbuf_->data.get(), kept->data.get() + rpos_, unparsed);
  }
  holder->kept = std::make_shared<KeptRequest>(KeptRequest{std::move(exchange_), std::move(kept)});
  rbegin_ = rpos_ = 0;
  rend_ = unparsed;
  return true;
}

// Ready for the request after this one. A coroutine that went on after its answer (past its
// deadline, or after ending its stream) keeps this exchange, and the next request gets a
// fresh one.
void Session::next_request() {
  if (!leave_request_to_coroutine()) exchange_->next();
}

// The coroutine answer that holds the request now, if any.
std::shared_ptr<detail::Pending> Session::coroutine_holder() const {
  if (!exchange_) return nullptr;
  std::shared_ptr<detail::Pending> holder = exchange_->holder.lock();
  return holder && holder->holds_request ? holder : nullptr;
}

// While a Responder holds the request, the one deadline is the answer's; a write of earlier
// responses borrows it (Timeout::write) and gives it back when done (on_write_done). While the
// handler pulls its body, the body's own timeout runs instead, and the answer's starts after
// the last piece. It starts at the route's timeout from now, if the route has one.
void Session::start_answer_deadline() {
  const std::chrono::milliseconds limit = exchange_->answer_limit;
  exchange_->answer_by = limit.count() > 0 ? Clock::now() + limit : Clock::time_point::max();
  arm_answer_deadline();
}

// Arms it at answer_by again (after a borrowing write, or the body's last piece).
void Session::arm_answer_deadline() {
  if (body()) {
    if (Deadline::kind != Timeout::body) worker_.deadlines().disarm(deadline());
    return;
  }
  if (exchange_->answer_by == Clock::time_point::max())
    worker_.deadlines().disarm(deadline());
  else
    worker_.deadlines().arm_at(deadline(), Timeout::handler, exchange_->answer_by);
}

// No answer by the deadline: the handler hears of it once (its cancel callback), its late
// send() does nothing, and the client gets a 504 in the request's place; the connection goes on.
void Session::on_answer_timeout() {
  worker_.metrics().routes.get(exchange_->metrics_slot).handler_timeouts.add();
  cancel_pending();
  answer_instead(504, "Gateway Timeout");
}

void Session::complete_async() {
  pending_ = nullptr;
  if (phase_ == Phase::handling) return;  // sent from inside the handler: rendered on return
  if (Deadline::kind == Timeout::handler) worker_.deadlines().disarm(deadline());
  if (out_) {
    phase_ = Phase::answered;  // an earlier batch is still being written
    return;
  }
  phase_ = Phase::reading;
  resume_after_async();
}

void Session::complete_async_dropped() {
  spdlog::error("an asynchronous handler dropped its responder without sending: 500");
  answer_instead(500, "Internal Server Error");
}

// The server answers in the handler's place, as if the handler had sent it.
void Session::answer_instead(uint16_t status, std::string_view text) {
  http::ResponseImpl& res = exchange_->response;
  res.reset();
  res.status(status);
  res.body_view(text, "text/plain; charset=utf-8");
  complete_async();
}

void Session::resume_after_async() {
  finish_response(exchange_->metrics_slot);
  next_request();
  header_armed_ = false;
  ++batch_;
  process_input();  // requests pipelined behind it, then the write
}

// The client went away first: the responder goes inert and its owner hears of it once.
void Session::cancel_pending() {
  pending_->conn = nullptr;
  exchange_->response.set_port(nullptr);  // a late res.stream() or defer() reaches nothing
  std::function<void()> fn = std::move(pending_->on_cancel);
  pending_ = nullptr;
  if (phase_ == Phase::awaiting || phase_ == Phase::answered) phase_ = Phase::reading;
  run_callback(std::move(fn), "responder cancel");
}

// ---- Pulled request bodies ----------------------------------------------------------------------
//
// On a `body = "stream"` route the handler runs at the end of the head. Each read() it makes is
// served from the loop: bytes already read are parsed (one de-chunked piece per parse),
// otherwise one receive is made. Nothing is read between a piece and the next ask, so TCP flow
// control reaches the client.

lithe::BodyReader Session::make_body_reader() {
  if (!body()) return {};
  return lithe::BodyReader(exchange_->body);
}

void Session::body_read(std::function<void(std::string_view, bool)> fn) {
  body()->want = std::move(fn);
  schedule_body_pump();
}

void Session::schedule_body_pump() {
  if (body()->posted) return;
  body()->posted = true;
  boost::asio::post(worker_.io(), [this, b = exchange_->body] {
    b->posted = false;
    if (b->conn) pump_body();
  });
}

void Session::pump_body() {
  detail::BodyState& b = *body();
  if (!b.want || transport_->receiving()) return;  // nothing asked, or a receive will serve it
  if (!b.asked) {
    // The first ask is the handler's go-ahead: a client waiting on Expect sends the body now.
    // A response that began already answered instead (and will close the connection).
    if (out_) return;  // after the batch being written (on_write_done asks again)
    b.asked = true;
    if (exchange_->request.expects_continue() &&
        (phase_ == Phase::handling || phase_ == Phase::awaiting)) {
      out_ = worker_.take_output();
      out_->append("HTTP/1.1 100 Continue\r\n\r\n");
      do_write();
      if (!body()) return;  // the write failed and closed the connection
    }
  }
  if (rpos_ < rend_) return feed_body();
  await_body();
}

// One receive for the ask, with the body's silence timeout.
void Session::await_body() {
  worker_.deadlines().arm(deadline(), Timeout::body);
  make_room();  // a body's head is pinned, so there is always room
  if (!transport_->reading())
    transport_->receive();
  else if (!transport_->receiving())
    transport_->cancel_read();  // a readiness watch: on_readable comes back to pump_body
}

void Session::feed_body() {
  http::RequestParser& parser = exchange_->parser;
  const auto r = parser.feed(rbuf_->data.get() + rpos_, rend_ - rpos_);
  using S = http::RequestParser::Status;
  if (r.status == S::error) {
    worker_.count_parse_error(r.error_status);
    return fail_body(r.error_status);
  }
  rpos_ += static_cast<uint32_t>(r.consumed);
  const std::string_view piece = parser.body_piece();
  const bool last = r.status == S::complete;
  if (piece.empty() && !last) return await_body();  // only chunk framing so far
  if (Deadline::kind == Timeout::body) worker_.deadlines().disarm(deadline());
  std::shared_ptr<detail::BodyState> b = exchange_->body;
  std::function<void(std::string_view, bool)> fn = std::move(b->want);
  b->want = nullptr;
  b->received += piece.size();
  exchange_->body_received += piece.size();
  worker_.metrics().stream_bytes_in.add(piece.size());
  if (last) {
    // The request is whole: the answer's deadline starts now.
    release_body();
    if (phase_ == Phase::awaiting) start_answer_deadline();
  }
  // The handler may answer, ask again or abort from here: nothing of this call runs after it.
  guarded("body read", [&] { fn(piece, last); });
}

// The body failed (too large, malformed, silent, or cut): the handler hears of it through its
// Responder's or Stream's cancel callback, and the client gets the status if no response began.
void Session::fail_body(uint16_t status) {
  release_body();
  if (phase_ != Phase::awaiting || out_) return close();
  cancel_pending();
  if (transport_->receiving()) transport_->cancel_read();
  fail_request(status);
  do_write();
}

// A response is complete before the body it answers was read: the rest of the body is never
// parsed as requests, so the connection closes after this response (a lingering close).
bool Session::abandon_body() {
  if (!body()) return false;
  release_body();
  rejected_ = true;
  return true;
}

// The handler's ask may hold the last reference to its Responder or Stream: it is destroyed
// from the loop later, never in the middle of the session's own transition.
void Session::release_body() {
  std::shared_ptr<detail::BodyState> b = std::move(exchange_->body);
  b->conn = nullptr;
  if (b->want) boost::asio::post(worker_.io(), [fn = std::move(b->want)] {});
  b->want = nullptr;
}

// ---- Streamed responses -----------------------------------------------------------------------
//
// The head and the pieces a handler writes while it runs go into this batch's output buffer;
// later pieces are staged behind the write in flight and flushed from the loop, one write at a
// time. The handle's calls only queue and flag (schedule_flush), so nothing here runs inside a
// handler's call, and a fast producer on a fast socket cannot recurse.

// Only while a handler holds the request: inside it, or through its Responder (which is then
// done: the stream answers the request).
lithe::Stream Session::make_stream(bool compress) {
  if (stream() || !exchange_ || (phase_ != Phase::handling && phase_ != Phase::awaiting)) return {};
  http::RequestImpl& req = exchange_->request;
  http::ResponseImpl& res = exchange_->response;
  auto s = std::make_shared<detail::StreamState>(this, &worker_.io());
  s->status = static_cast<uint16_t>(res.status());
  s->start = exchange_->start;
  s->metrics_slot = static_cast<uint32_t>(exchange_->metrics_slot);
  s->heartbeat = exchange_->heartbeat;
  const bool http10 = req.version_minor() == 0;
  const bool has_body = http::status_has_body(s->status);
  s->discard = req.is_head() || !has_body;
  s->chunked = !http10 && !s->discard;
  // HTTP/1.0 has no chunks: the end of the body is the end of the connection.
  s->keep_alive = count_request() && (s->chunked || s->discard);
  s->held = s;
  stream_ = s.get();
  if (compress) choose_stream_coding();
  app::finish(worker_.snapshot(), *exchange_);
  http::render_stream_head(res, render_context(s->keep_alive, http10, req.is_head()),
                           !http10 && has_body, stream_target());
  worker_.metrics().streams_opened.add();
  if (pending_) {
    // The stream answers the Responder's request: the Responder's cancel callback (a
    // coroutine's cancellation) now hears of the stream stopping, until the stream gets its own.
    pending_->conn = nullptr;
    s->on_cancel = std::move(pending_->on_cancel);
    pending_ = nullptr;
  }
  if (phase_ == Phase::awaiting) {
    phase_ = Phase::streaming;
    if (Deadline::kind == Timeout::handler) worker_.deadlines().disarm(deadline());
    schedule_flush();
  }
  return lithe::Stream(std::move(s));
}

// A compressed stream's coding, as for a fixed body: the request's Accept-Encoding among the
// configured codings, for a compressible type on a route that allows it. The headers say it
// (HEAD too); the compressor exists only when there is a body to write.
void Session::choose_stream_coding() {
  http::ResponseImpl& res = exchange_->response;
  const Config& config = worker_.snapshot().config;
  const auto* route = static_cast<const app::Route*>(exchange_->route);
  if ((route && !route->compress) ||
      !encoding::compressible(config.compression.types, res.content_type()))
    return;
  for (const lithe::Header& h : res.extra_headers())
    if (base::iequals(h.name, "Content-Encoding")) return;  // the handler's own coding
  const std::vector<encoding::Coding>& offered = worker_.snapshot().codings;
  if (offered.empty()) return;
  const encoding::Coding coding =
      encoding::AcceptEncoding::of(exchange_->request.headers()).choose(offered);
  res.header("Vary", "Accept-Encoding");
  if (coding == encoding::Coding::identity) return;
  res.header("Content-Encoding", encoding::name(coding));
  stream()->coding = static_cast<uint8_t>(coding);
  if (!stream()->discard) compressor_ = encoding::StreamCompressor::make(coding);
}

// Inside the handler, the batch being rendered; later, the pieces behind the write in flight.
http::OutputBuffer& Session::stream_target() {
  if (phase_ == Phase::handling) {
    if (!out_) out_ = worker_.take_output();
    return *out_;
  }
  if (!stream()->staged) stream()->staged = worker_.take_output();
  return *stream()->staged;
}

bool Session::stream_write(std::string_view bytes, bool copy) {
  detail::StreamState& s = *stream();
  if (compressor_ && !bytes.empty()) {
    bytes = compressor_->write(bytes);
    copy = true;
  }
  if (!s.discard && !bytes.empty()) {
    http::OutputBuffer& out = stream_target();
    if (s.chunked) {
      char line[24];
      auto [end, ec] = std::to_chars(line, line + sizeof(line) - 2, bytes.size(), 16);
      (void)ec;
      *end++ = '\r';
      *end++ = '\n';
      out.append({line, static_cast<std::size_t>(end - line)});
    }
    if (copy)
      out.append(bytes);
    else
      out.reference(bytes);
    if (s.chunked) out.append("\r\n");
    s.body_bytes += bytes.size();
    worker_.metrics().stream_bytes_out.add(bytes.size());
    if (phase_ != Phase::handling) schedule_flush();
  }
  if (stream_buffered() <= worker_.snapshot().config.limits.stream_buffer) return true;
  s.want_writable = true;
  return false;
}

std::size_t Session::stream_buffered() const {
  return (stream()->staged ? stream()->staged->unsent() : 0) + (out_ ? out_->unsent() : 0);
}

void Session::stream_end() {
  if (compressor_) {
    // The coding's own end (gzip's trailer, zstd's last block) goes as the last piece.
    const std::unique_ptr<encoding::StreamCompressor> coder = std::move(compressor_);
    stream_write(coder->finish(), true);
  }
  stream()->ended = true;
  if (stream()->chunked) stream_target().append("0\r\n\r\n");
  if (phase_ != Phase::handling) schedule_flush();
}

void Session::stream_abort() {
  stream()->aborted = true;
  if (phase_ != Phase::handling) schedule_flush();
}

void Session::stream_dropped() {
  spdlog::error("a streamed response was dropped without end(): aborted");
  stream_abort();
}

void Session::schedule_flush() {
  if (stream()->flush_posted) return;
  stream()->flush_posted = true;
  boost::asio::post(worker_.io(), [this, s = stream_->shared_from_this()] {
    if (s->conn) flush_stream();
  });
}

// From the loop: the owed writable callback, then the staged pieces go out (one write in
// flight at a time), or the stream ends, or it idles.
void Session::flush_stream() {
  // A callback may drop every handle.
  const std::shared_ptr<detail::StreamState> s = stream_->shared_from_this();
  if (s->aborted) return abort_stream();
  if (out_) {
    s->flush_posted = false;  // on_write_done flushes again
    return;
  }
  if (s->want_writable && s->open() &&
      stream_buffered() <= worker_.snapshot().config.limits.stream_buffer) {
    s->want_writable = false;
    // It may write: its pieces join this flush (flush_posted is still set). A copy, since it
    // may set another.
    run_callback(s->on_writable, "stream writable");
    if (s->aborted) return abort_stream();
  }
  s->flush_posted = false;
  if (s->staged && !s->staged->empty()) {
    out_ = std::move(s->staged);
    if (Deadline::kind == Timeout::heartbeat) worker_.deadlines().disarm(deadline());
    return do_write();
  }
  if (s->ended) return end_stream_and_go_on();
  idle_stream();
}

void Session::on_stream_written() {
  detail::StreamState& s = *stream();
  const bool staged = s.staged && !s.staged->empty();
  if (!staged && s.ended && !s.aborted) return end_stream_and_go_on();
  if (staged || s.want_writable || s.aborted) return schedule_flush();
  idle_stream();
}

// Nothing to write: watch for the client going away, and keep an idle event stream alive
// through proxies with a comment at the route's heartbeat.
void Session::idle_stream() {
  if (stream()->event_stream && stream()->heartbeat.count() > 0 && stream()->open())
    worker_.deadlines().arm_at(deadline(), Timeout::heartbeat, Clock::now() + stream()->heartbeat);
  else if (!body())
    worker_.deadlines().disarm(deadline());
  if (body()) {
    if (body()->want) schedule_body_pump();  // an ask that waited for this write
    return;
  }
  give_request_back();
  if (!transport_->reading()) transport_->wait_readable();
}

// A stream may stay open for hours, and its handler is done with the request (it returned, or
// its Responder began the stream). When nothing follows the request in the read buffer, the
// exchange and the buffer go back to their pools, and the stream keeps what its end needs
// (the access log's fields are copied): an open stream then costs little more than an idle
// connection.
void Session::give_request_back() {
  if (!exchange_ || !between_requests() || transport_->receiving()) return;
  if (worker_.snapshot().access_log) {
    char client[base::ip_text_size];
    stream_->kept_log = log::keep_request_part(request_record(client));
  }
  if (leave_request_to_coroutine()) return;
  worker_.give_exchange(std::move(exchange_));
  if (rbuf_) worker_.give_buffer(std::move(rbuf_));
  rbegin_ = rpos_ = rend_ = 0;
}

// The last piece is out: the stream counts as a response, and requests pipelined behind it
// are answered now, in order.
void Session::finish_stream() {
  record_stream();
  const bool body_left = abandon_body();
  const bool keep_alive = stream()->keep_alive && !worker_.draining() && !body_left;
  release_stream();
  phase_ = keep_alive ? Phase::reading : Phase::last;
}

void Session::end_stream_and_go_on() {
  finish_stream();
  unpin_retired();  // the stream may have kept a reloaded-away snapshot's handler in use
  if (exchange_) next_request();  // (or it went back while the stream was open)
  header_armed_ = false;
  if (closing()) return end_after_write();
  if (rpos_ < rend_) return process_input();
  wait_for_input();
}

// abort(): what is queued is dropped and the connection closes without the body's end, so the
// client sees the response failed. A batch already in flight goes out first.
void Session::abort_stream() {
  const bool handling = phase_ == Phase::handling;
  record_stream();
  release_stream();
  phase_ = Phase::last;
  rejected_ = true;              // a lingering close: the client may still be sending
  if (handling || out_) return;  // the batch is written, then the connection closes
  close();
}

void Session::record_stream() {
  const detail::StreamState& s = *stream();
  worker_.finished(s.metrics_slot, s.status, s.start);
  worker_.metrics().responses_by_coding[s.coding].add();
  worker_.record_finished();
  if (worker_.snapshot().access_log) log_access(s.status, s.body_bytes);
}

// The client went away (or a write stalled): the handle goes inert and the handler hears of it
// once, unless it had ended or aborted the stream itself.
void Session::cancel_stream() {
  const std::shared_ptr<detail::StreamState> s = stream_->shared_from_this();
  const bool tell = s->open();
  std::function<void()> fn = std::move(s->on_cancel);
  record_stream();
  release_stream();
  if (phase_ == Phase::streaming) phase_ = Phase::reading;
  if (tell) run_callback(std::move(fn), "stream cancel");
}

void Session::release_stream() {
  detail::StreamState& s = *stream_;
  s.conn = nullptr;
  compressor_.reset();  // an aborted or cancelled stream's coding state goes with it
  // The callbacks may hold handles on the stream itself: dropped here, or never freed.
  s.on_writable = nullptr;
  s.on_cancel = nullptr;
  s.on_drain = nullptr;
  if (s.staged) {
    s.staged->clear();
    worker_.give_output(std::move(s.staged));
  }
  stream_ = nullptr;
  worker_.metrics().streams_closed.add();
  const std::shared_ptr<detail::StreamState> last = std::move(s.held);  // may be the last one
}

void Session::on_drain() {
  if (!stream() || !stream()->open()) return;
  run_callback(std::move(stream()->on_drain), "stream drain");
}

// timeouts.shutdown has passed: the stream ends at a piece boundary with its proper end (an
// event stream tells the client when to reconnect first), so a proxy sees a whole response.
bool Session::end_stream_for_stop() {
  if (phase_ != Phase::streaming || !stream()) return false;
  const std::shared_ptr<detail::StreamState> s = stream_->shared_from_this();
  if (!s->open()) return true;  // ended already, on its way out
  if (s->event_stream) {
    std::string retry;
    http::append_retry(retry, s->retry_ms);
    stream_write(retry, true);
  }
  stream_end();
  run_callback(std::move(s->on_cancel), "stream cancel");
  return true;
}

// ---- Render -----------------------------------------------------------------------------------

void Session::finish_response(std::size_t slot) {
  http::RequestImpl& req = exchange_->request;
  http::ResponseImpl& res = exchange_->response;
  const app::Snapshot& snap = worker_.snapshot();
  app::finish(snap, *exchange_);  // the after hooks may still change it
  const uint16_t status = res.prepared_response()
                              ? static_cast<uint16_t>(res.prepared_response()->status())
                              : static_cast<uint16_t>(res.status());
  worker_.finished(static_cast<uint32_t>(slot), status, exchange_->start);
  worker_.metrics().responses_by_coding[res.coding()].add();
  if (!out_) out_ = worker_.take_output();
  const bool body_left = abandon_body();  // unread body bytes would be parsed as a request
  const bool keep_alive = count_request() && !body_left;
  const std::size_t body =
      http::render(res, render_context(keep_alive, req.version_minor() == 0, req.is_head()), *out_);
  if (snap.access_log) log_access(status, body);
  if (!keep_alive) phase_ = Phase::last;
}

// Counts the answered request; true while the connection may serve another after it (the
// client and the handler allow it, the per-connection limit is not reached, no stop is on).
bool Session::count_request() {
  const std::size_t limit = worker_.snapshot().config.limits.requests_per_connection;
  ++requests_;
  return exchange_->request.keep_alive() && !exchange_->response.closes() &&
         (limit == 0 || requests_ < limit) && !worker_.draining();
}

// A rejected request: its status, Connection: close, and nothing after it is parsed.
void Session::fail_request(uint16_t status) {
  if (!out_) out_ = worker_.take_output();
  // A rejected HEAD still gets no body, when the method was parsed.
  const bool head = exchange_ && exchange_->parser.in_request() && exchange_->request.is_head();
  http::RenderContext ctx = render_context(false, false, head);
  char made[http::made_request_id];
  if (!ctx.request_id_header.empty()) {
    if (exchange_) {
      assign_request_id();
      ctx.request_id = exchange_->request.request_id();
    } else {  // nothing of a request was read (a silent connection's 408)
      ctx.request_id = worker_.request_ids().next(made);
    }
  }
  const std::size_t body = http::render_error(status, ctx, *out_);
  if (worker_.snapshot().access_log) log_access(status, body, ctx.request_id);
  phase_ = Phase::last;
  rejected_ = true;
}

http::RenderContext Session::render_context(bool keep_alive, bool http10, bool head) const {
  const std::string& id_header = worker_.snapshot().config.server.request_id_header;
  return {worker_.date().line(), worker_.snapshot().server_line, keep_alive, http10, head,
          id_header,
          // (a reload may have turned the header off after the ID was given)
          exchange_ && !id_header.empty() ? exchange_->request.request_id() : std::string_view{}};
}

// One access log line (log/access_record.hpp).
void Session::log_access(uint16_t status, std::size_t body_bytes, std::string_view request_id) {
  // Formatted per line rather than kept per session: idle sessions stay small.
  char client[base::ip_text_size];
  log::AccessRecord record = request_record(client);
  if (!request_id.empty()) record.request_id = request_id;
  const Clock::time_point* start = exchange_ ? &exchange_->start
                                   : stream_ ? &stream_->start
                                             : nullptr;
  log::finish_record(record, status, body_bytes, start);
  worker_.snapshot().access_log->log(record);
}

// From the request, or as a stream kept it once it gave the request back.
log::AccessRecord Session::request_record(char (&client)[base::ip_text_size]) {
  if (!exchange_ && stream_ && !stream_->kept_log.empty())
    return log::kept_request_part(stream_->kept_log);
  // Accepted while access logging was off (a reload turned it on): look the peer up now.
  if (!peer_known_) resolve_peer();
  return log::request_record(log::Peer{peer_, unix_peer_}, worker_.snapshot().config.proxy,
                             exchange_ ? &exchange_->request : nullptr,
                             exchange_ ? exchange_->body_received : 0, client);
}

// A handler asks (Request::client_address): resolved as for the access log, on demand, so a
// request that never asks costs nothing.
std::string_view Session::client_address() {
  if (!exchange_) return {};
  auto& text = *reinterpret_cast<char(*)[base::ip_text_size]>(
      exchange_->request.arena().allocate(base::ip_text_size));
  return request_record(text).client;
}

void Session::resolve_peer() {
  peer_known_ = true;
  const Transport::Peer p = transport_->peer();
  peer_ = p.address;
  unix_peer_ = p.unix_socket;
}

// ---- Wait for more ----------------------------------------------------------------------------

// Waits for more request bytes, with the deadline the current state calls for.
void Session::wait_for_input() {
  if (out_) return;  // reading waits for the batch being written: its end reads on
  Deadlines& deadlines = worker_.deadlines();
  const bool in_request = exchange_ && exchange_->parser.in_request();
  // Idle again during a graceful stop (a keep-alive response that was being written when the
  // drain began is out): closed like the sessions that were idle then.
  if (!in_request && worker_.draining() && close_if_idle()) return;
  if (!in_request) {
    deadlines.arm(deadline(), Timeout::keepalive);
    release_idle_resources();  // the receive takes a buffer when the next request is there
    if (!transport_->reading()) transport_->receive();  // (a readiness wait may be in flight)
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
  if (!transport_->reading()) transport_->receive();
}

// The buffer is full in the middle of a request: move the live bytes to the front.
bool Session::make_room() {
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

// Readiness only, no read: while lingering, and to watch a client while a Responder answers.
void Session::on_readable(const error_code& ec) {
  if (body()) {
    // A watch cancelled (or ended) so that the body can be read: read it.
    if (body()->want) pump_body();
    return;
  }
  if (ec == boost::asio::error::operation_aborted) {
    // Cancelled on purpose (a header/body timeout); lingering may now need its own wait.
    if (phase_ == Phase::lingering) transport_->wait_readable();
    return;
  }
  if (ec) return close();
  if (phase_ == Phase::lingering) return linger_read();
  if (phase_ == Phase::awaiting || phase_ == Phase::streaming) {
    // Only watching for the client going away while a handler answers asynchronously: more
    // requests and a half-close are both handled after the response.
    switch (transport_->peek()) {
      case Transport::Peek::empty:
        return transport_->wait_readable();
      case Transport::Peek::failed:
        return close();  // reset: the responder is cancelled
      case Transport::Peek::input:
      case Transport::Peek::end:
        return;
    }
  }
  wait_for_input();  // the answer went out while this wait was in flight: read what came
}

// ---- Write ------------------------------------------------------------------------------------

void Session::do_write() {
  worker_.record_finished();  // before the client can see the responses (or scrape them)
  out_->seal();
  transport_->write(*out_);
}

void Session::write_waits() {
  worker_.deadlines().arm(deadline(), Timeout::write);
}

bool Session::receives_after_write() const {
  return phase_ == Phase::reading && !worker_.draining() && between_requests();
}

void Session::on_write_done() {
  out_->clear();
  worker_.give_output(std::move(out_));
  batch_ = 0;
  if (phase_ != Phase::awaiting && phase_ != Phase::streaming) unpin_retired();
  if (closing()) return end_after_write();
  if (phase_ == Phase::streaming) return on_stream_written();
  if (phase_ == Phase::answered) {
    phase_ = Phase::reading;
    return resume_after_async();
  }
  if (phase_ == Phase::awaiting) {
    arm_answer_deadline();
    if (body()) {
      if (body()->want) schedule_body_pump();  // an ask that waited for this write
      return;
    }
    if (!transport_->reading()) transport_->wait_readable();
    return;
  }
  if (rpos_ < rend_) return process_input();  // pipelined requests already read
  wait_for_input();
}

// The last response is out. Closing a socket with unread input sends a reset, which can destroy
// that response before the client reads it. When every byte the client sent was read and
// belonged to requests answered in full, the connection closes at once (as nginx's
// `lingering_close on` does); otherwise, and after a rejected request, the lingering close.
void Session::end_after_write() {
  if (!rejected_ && between_requests() && transport_->input_drained()) return close();
  start_linger();
}

// Lingering close: shut the send side, then read and drop what the client still sends until
// its FIN, so our last response is not destroyed by an RST for unread data.
void Session::start_linger() {
  phase_ = Phase::lingering;
  // A coroutine that holds the request while a receive is in flight gets it once that is done
  // (linger_read, release).
  if (!leave_request_to_coroutine() && !coroutine_holder()) {
    if (exchange_) worker_.give_exchange(std::move(exchange_));
    // A receive still in flight writes into the read buffer: linger_read() hands it back after.
    if (rbuf_ && !transport_->receiving()) worker_.give_buffer(std::move(rbuf_));
  }
  if (!transport_->shutdown_send()) return close();
  worker_.deadlines().arm(deadline(), Timeout::linger);
  if (!transport_->reading()) transport_->wait_readable();
}

void Session::linger_read() {
  // Kept by start_linger() for a receive.
  if (rbuf_ && !leave_request_to_coroutine()) worker_.give_buffer(std::move(rbuf_));
  const std::size_t room = lingered_ <= linger_limit ? linger_limit - lingered_ : 0;
  const Transport::Drop d = transport_->drop_input({worker_.scratch(), Worker::scratch_size}, room);
  lingered_ += static_cast<uint32_t>(d.bytes);              // at most linger_limit + one scratch
  if (d.ended || lingered_ > linger_limit) return close();  // FIN or error: done
  worker_.deadlines().arm(deadline(), Timeout::linger);
  transport_->wait_readable();
}

// ---- Timeouts, stop and close -----------------------------------------------------------------

void Session::on_timeout(Timeout timeout) {
  if (!transport_->is_open()) return;
  switch (timeout) {
    case Timeout::header:
    case Timeout::body:
      if (body()) {  // a pulled body went silent
        worker_.count_parse_error(408);
        return fail_body(408);
      }
      // A PROXY preamble that never completed: not HTTP yet, so no HTTP answer either.
      if (out_ || closing() || expect_proxy_) return close();
      transport_->cancel_read();  // the read: it completes with operation_aborted
      worker_.count_parse_error(408);
      fail_request(408);
      return do_write();
    case Timeout::handler:
      if (phase_ == Phase::awaiting) on_answer_timeout();
      return;
    case Timeout::heartbeat:
      if (phase_ == Phase::streaming && stream()->open()) stream_write(":\n\n", true);
      return;
    case Timeout::keepalive:
    case Timeout::write:
    case Timeout::linger:
    case Timeout::count:
      return close();
  }
}

bool Session::close_if_idle() {
  if (!transport_->is_open() || phase_ == Phase::lingering || phase_ == Phase::awaiting ||
      phase_ == Phase::streaming || out_ || !between_requests())
    return false;
  if (transport_->receiving()) {
    // The transport may have read a request already: let the read finish or abort first, then
    // decide (on_received comes back here with no read in flight).
    releasing_ = true;
    transport_->cancel_read();
    return false;
  }
  // A request on its way is answered, with Connection: close.
  if (transport_->peek() == Transport::Peek::input) return false;
  close();
  return true;
}

void Session::close() {
  if (!transport_->is_open()) return;
  worker_.deadlines().disarm(deadline());
  if (body()) release_body();
  if (pending_) cancel_pending();
  if (stream()) cancel_stream();
  transport_->close();  // releases this session once nothing is in flight (maybe at once)
}

// Closed, and no operation in flight still reads or writes the buffers (a cancelled send or
// receive can complete after the cancel, with the kernel still using its buffer until then).
void Session::release() {
  if (exchange_ && !leave_request_to_coroutine()) {
    // close() ended the body already; an exchange goes back to the pool holding none.
    if (exchange_->body) exchange_->body->conn = nullptr;
    exchange_->body.reset();
    worker_.give_exchange(std::move(exchange_));
  }
  if (rbuf_) worker_.give_buffer(std::move(rbuf_));
  if (out_) {
    out_->clear();
    worker_.give_output(std::move(out_));
  }
  unpin_retired();  // the batch may have referenced the retired snapshot's bodies
  worker_.on_closed(this);
}

bool Session::pin_retired() {
  if (!transport_->is_open() || holds_retired_ ||
      (!out_ && phase_ != Phase::awaiting && phase_ != Phase::streaming))
    return false;
  holds_retired_ = true;
  return true;
}

void Session::unpin_retired() {
  if (!holds_retired_) return;
  holds_retired_ = false;
  worker_.release_retired();
}

// Idle between requests: the buffers go back to the pool.
void Session::release_idle_resources() {
  if (rbuf_ && between_requests() && !leave_request_to_coroutine()) {
    worker_.give_buffer(std::move(rbuf_));
    rbegin_ = rpos_ = rend_ = 0;
    if (exchange_) worker_.give_exchange(std::move(exchange_));
  }
}

}  // namespace lithe::net
