// Middleware (SPEC §10): hooks around handlers, registered with Server::use for every request
// or under a name that routes list (`middleware = ["auth"]`).
#pragma once

#include <functional>

#include "lithe/request.hpp"
#include "lithe/response.hpp"

namespace lithe {

struct Middleware {
  // Runs before the handler: the hooks for every request first, in the order they were
  // registered, then the route's, in the order of its list. Returns true when it answered (res
  // holds the answer): the hooks after it and the handler are skipped. A throw is a 500, as
  // from a handler.
  std::function<bool(const Request&, Response&)> before;
  // Runs when the response is decided, just before its head is written, in the reverse order:
  // when a handler returns, when a Responder sends, when a stream begins, and after a before
  // hook answered. It may add headers or change the status. A throw is logged and ignored.
  std::function<void(const Request&, Response&)> after;
};

}  // namespace lithe
