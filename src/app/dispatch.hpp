// From a parsed request to a filled response: route, run the handler, or answer 404/405/OPTIONS.
#pragma once

#include "app/snapshot.hpp"
#include "http/request.hpp"
#include "http/response.hpp"

namespace lithe::app {

// Never throws: a handler's exception becomes a 500 (logged) and the connection lives on.
// Returns the route id that answered, or snap.routes.size() when no route did (404, 405, ...).
std::size_t dispatch(const Snapshot& snap, http::RequestImpl& req, http::ResponseImpl& res);

}  // namespace lithe::app
