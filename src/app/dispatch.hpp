// From a parsed request to a filled response: route, run the middleware and the handler, or
// answer 404/405/OPTIONS; and, once the answer is decided, what runs just before its head is
// written.
#pragma once

#include "app/snapshot.hpp"
#include "http/exchange.hpp"

namespace lithe::app {

// Never throws: a handler's or before hook's exception becomes a 500 (logged) and the
// connection lives on. Returns the route that answered (also kept in ex.route, for a stream
// the handler begins), or null when none did (404, 405, OPTIONS).
const Route* dispatch(const Snapshot& snap, http::Exchange& ex);

// Just before the head of ex's response is written (a handler returned, a Responder sent, a
// stream began): the route's CORS headers, then the after hooks, last registered first. snap
// gives the hooks for every request when no route answered.
void run_after_hooks(const Snapshot& snap, http::Exchange& ex);
// The same, decided here first: most routes have neither hooks nor CORS, and this runs for
// every response.
inline void finish(const Snapshot& snap, http::Exchange& ex) {
  const auto* route = static_cast<const Route*>(ex.route);
  if (route ? route->cors || !route->middleware.empty() : !snap.middleware.empty())
    run_after_hooks(snap, ex);
}

}  // namespace lithe::app
