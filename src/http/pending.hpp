// The shared state behind lithe::Responder: which connection waits for the answer. The
// connection clears `conn` when the client goes away; the last Responder copy going away
// without send() tells the connection, which then answers 500.
#pragma once

#include <functional>
#include <memory>

#include "http/response.hpp"
#include "http/session_port.hpp"

namespace boost::asio {
class io_context;
}

namespace lithe::detail {

struct Pending {
  Pending(http::SessionPort* c, const Request* req, http::ResponseImpl* res,
          boost::asio::io_context* loop)
      : conn(c), request(req), response(res), io(loop) {}
  ~Pending();
  Pending(const Pending&) = delete;
  Pending& operator=(const Pending&) = delete;

  http::SessionPort* conn;       // null once sent or cancelled
  const Request* request;        // valid while conn is set
  http::ResponseImpl* response;  // valid while conn is set
  boost::asio::io_context* io;   // the connection's loop (outlives every handler on it)
  std::function<void()> on_cancel;
  // A coroutine runs with references into the request and response (detail::hold_request).
  bool holds_request = false;
  // What the connection left to it instead of its pools while it held them: the request's
  // exchange and read buffer, freed with this.
  std::shared_ptr<void> kept;
};

}  // namespace lithe::detail
