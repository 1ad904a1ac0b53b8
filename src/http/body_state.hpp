// The shared state behind lithe::BodyReader: the session reading the body and the handler's
// pending ask. The session clears `conn` when the body is done, fails or the client goes away;
// the handles then go inert.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "http/session_port.hpp"

namespace lithe::detail {

struct BodyState {
  explicit BodyState(http::SessionPort* c) : conn(c) {}
  BodyState(const BodyState&) = delete;
  BodyState& operator=(const BodyState&) = delete;

  http::SessionPort* conn;                           // null once the body is over
  std::function<void(std::string_view, bool)> want;  // the handler's ask, until served
  uint64_t received = 0;                             // bytes handed over
  bool asked = false;                                // asked once: 100 Continue went out
  bool posted = false;                               // a pump is queued on the loop
};

}  // namespace lithe::detail
