// lithe::Stream and lithe::EventStream: handles on a streamed response, written from the
// connection's loop. Every call only queues and flags; the session acts on it from the loop
// (net/session.cpp, "Streamed responses"), so a handler never re-enters it.
#include "lithe/stream.hpp"

#include <stdexcept>
#include <utility>

#include "http/event_format.hpp"
#include "http/response.hpp"
#include "http/session_port.hpp"
#include "http/stream_state.hpp"

namespace lithe {

Stream Response::stream() {
  http::ResponseImpl& r = static_cast<http::ResponseImpl&>(*this);
  return r.port_ ? r.port_->make_stream(false) : Stream{};
}

Stream Response::compressed_stream() {
  http::ResponseImpl& r = static_cast<http::ResponseImpl&>(*this);
  return r.port_ ? r.port_->make_stream(true) : Stream{};
}

Stream::Stream(std::shared_ptr<detail::StreamState> state) : state_(std::move(state)) {
  if (state_) ++state_->handles;
}

Stream::Stream(const Stream& other) : state_(other.state_) {
  if (state_) ++state_->handles;
}

Stream::Stream(Stream&& other) noexcept : state_(std::move(other.state_)) {}

Stream& Stream::operator=(Stream other) noexcept {
  std::swap(state_, other.state_);
  return *this;
}

Stream::~Stream() {
  if (!state_ || --state_->handles != 0 || !state_->open()) return;
  state_->conn->stream_dropped();
}

bool Stream::active() const {
  return state_ && state_->open();
}

bool Stream::write(std::string_view bytes) {
  return active() && state_->conn->stream_write(bytes, true);
}

bool Stream::write_view(std::string_view bytes) {
  return active() && state_->conn->stream_write(bytes, false);
}

std::size_t Stream::buffered() const {
  return state_ && state_->conn ? state_->conn->stream_buffered() : 0;
}

void Stream::end() {
  if (active()) state_->conn->stream_end();
}

void Stream::abort() {
  if (active()) state_->conn->stream_abort();
}

void Stream::on_writable(std::function<void()> fn) {
  if (active()) state_->on_writable = std::move(fn);
}

void Stream::on_cancel(std::function<void()> fn) {
  if (active()) state_->on_cancel = std::move(fn);
}

void Stream::on_drain(std::function<void()> fn) {
  if (active()) state_->on_drain = std::move(fn);
}

boost::asio::io_context& Stream::io() const {
  if (!state_) throw std::logic_error("lithe::Stream::io() on a stream that never started");
  return *state_->io;
}

// ---- Server-sent events -----------------------------------------------------------------------

namespace {
// One event's text, reused: most events fit the capacity the first ones left.
std::string& frame() {
  thread_local std::string text;
  text.clear();
  return text;
}
}  // namespace

EventStream EventStream::start(Response& res) {
  res.header("Cache-Control", "no-cache");
  res.header("X-Accel-Buffering", "no");  // nginx passes each event on instead of buffering
  res.body_view({}, "text/event-stream");
  Stream s = res.stream();
  if (s.state_) s.state_->event_stream = true;
  return EventStream(std::move(s));
}

bool EventStream::send(std::string_view data, std::string_view event, std::string_view id) {
  std::string& text = frame();
  http::append_event(text, data, event, id);
  return stream_.write(text);
}

bool EventStream::comment(std::string_view text) {
  std::string& out = frame();
  http::append_comment(out, text);
  return stream_.write(out);
}

void EventStream::retry_on_stop(unsigned milliseconds) {
  if (stream_.state_) stream_.state_->retry_ms = milliseconds;
}

}  // namespace lithe
