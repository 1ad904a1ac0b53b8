// The handle through which an asynchronous handler answers later, from the same loop.
// While a response is pending, the connection holds its request (every view stays valid),
// reads nothing further, and watches for the client going away.
#pragma once

#include <functional>
#include <memory>

#include "lithe/request.hpp"
#include "lithe/response.hpp"

namespace boost::asio {
class io_context;
}

namespace lithe {

class Responder;

namespace detail {
struct Pending;
// For lithe's coroutine handlers (Server::handle_co): while held, the request and response
// stay the handler's own, even once the connection is done with them (the client left, or a
// stream began), so the references the coroutine was given stay valid until it returns.
void hold_request(const Responder& r, bool held);
}  // namespace detail

class Responder {
 public:
  // An inactive Responder, answering nothing: as one whose client went away, except io().
  Responder() = default;
  explicit Responder(std::shared_ptr<detail::Pending> pending) : pending_(std::move(pending)) {}

  // True until send(), or until the client goes away (reset, timeout, server stop).
  bool active() const;
  // The request being answered; its views are valid while active().
  const Request& request() const;
  // The response to fill before send(). Once inactive it is a scratch object whose content
  // goes nowhere, so a late writer does no harm.
  Response& response();
  // Sends the response, in request order with any pipelined ones. No-op once inactive.
  void send();
  // Called at most once, on the loop, if the client goes away before send().
  void on_cancel(std::function<void()> fn);
  // The worker loop that serves this connection: do the handler's own async work here.
  // Throws std::logic_error on a default-constructed Responder, which has no loop.
  boost::asio::io_context& io() const;

  // Every copy refers to the same pending response. When the last copy is destroyed without
  // send(), the client gets a 500 and the error is logged.

 private:
  friend void detail::hold_request(const Responder& r, bool held);

  std::shared_ptr<detail::Pending> pending_;
};

}  // namespace lithe
