// Everything one request needs while it is parsed and answered: parser state, request, response
// and their arena. Taken from a per-loop pool on a request's first byte and returned when the
// connection goes idle, so an idle keep-alive connection holds none of it.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include "http/parser.hpp"
#include "http/request.hpp"
#include "http/request_id.hpp"
#include "http/response.hpp"

namespace lithe::detail {
struct BodyState;
struct Pending;
}  // namespace lithe::detail

namespace lithe::http {

struct Exchange {
  explicit Exchange(std::size_t max_headers) : request(max_headers), response(request.arena()) {}

  // Ready for the next request on the same stream (the parser keeps its position).
  void next() {
    request.reset();
    response.reset();
    body_received = 0;
    route = nullptr;
  }

  RequestImpl request;
  ResponseImpl response;
  RequestParser parser;
  // Kept here rather than in the connection, which stays small while idle.
  std::chrono::steady_clock::time_point start{};      // the request's first byte (metrics, log)
  std::size_t metrics_slot = 0;                       // route slot of an answer still pending
  std::chrono::steady_clock::time_point answer_by{};  // its deadline (max: none)
  std::chrono::milliseconds answer_limit{0};          // the route's timeout (0: none)
  std::chrono::milliseconds heartbeat{0};  // the route's event-stream heartbeat (0: none)
  uint64_t body_received = 0;              // body bytes a streaming handler pulled (log)
  char request_id[max_request_id];         // the request's ID, received or made
  // The route answering (an app::Route, opaque down here in http/), for what runs when the
  // answer is written; null when no route matched.
  const void* route = nullptr;
  // A pulled request body (http/body_state.hpp): set and cleared by the session, which keeps
  // the exchange while it is there.
  std::shared_ptr<detail::BodyState> body;
  // The coroutine answering it (SessionPort::hold_request): while that holds the request, this
  // exchange becomes its own instead of going back to the pool.
  std::weak_ptr<detail::Pending> holder;
};

}  // namespace lithe::http
