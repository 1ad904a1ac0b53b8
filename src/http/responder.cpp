// lithe::Responder: a handle on a response that a handler sends later from the same loop.
#include "lithe/responder.hpp"

#include <stdexcept>

#include "http/pending.hpp"
#include "http/session_port.hpp"

namespace lithe {

namespace {
// Where a late writer's response goes once the client has gone: nowhere.
http::ResponseImpl& scratch_response() {
  thread_local http::Arena arena;
  thread_local http::ResponseImpl response(arena);
  response.reset();
  arena.reset();
  return response;
}

const Request& empty_request() {
  struct Empty : Request {};
  thread_local Empty request;
  return request;
}
}  // namespace

bool Responder::active() const {
  return pending_ && pending_->conn;
}

const Request& Responder::request() const {
  return active() ? *pending_->request : empty_request();
}

Response& Responder::response() {
  return active() ? *pending_->response : scratch_response();
}

void Responder::send() {
  if (!active()) return;
  http::SessionPort* c = pending_->conn;
  pending_->conn = nullptr;
  pending_->on_cancel = nullptr;
  c->complete_async();
}

void Responder::on_cancel(std::function<void()> fn) {
  if (active()) pending_->on_cancel = std::move(fn);
}

boost::asio::io_context& Responder::io() const {
  if (!pending_)
    throw std::logic_error("lithe::Responder::io() on a Responder that answers nothing");
  return *pending_->io;
}

namespace detail {
void hold_request(const Responder& r, bool held) {
  if (!r.pending_) return;
  r.pending_->holds_request = held;
  if (held && r.pending_->conn) r.pending_->conn->hold_request(r.pending_);
}

Pending::~Pending() {
  if (!conn) return;
  conn->complete_async_dropped();
}
}  // namespace detail

}  // namespace lithe
