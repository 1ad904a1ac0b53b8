// lithe::BodyReader: a handle on a request body that the handler pulls piece by piece. A read
// only records the ask; the session serves it from the loop (net/session.cpp, "Pulled request
// bodies").
#include "lithe/body_reader.hpp"

#include "http/body_state.hpp"
#include "http/response.hpp"
#include "http/session_port.hpp"

namespace lithe {

BodyReader Response::body_reader() {
  http::ResponseImpl& r = static_cast<http::ResponseImpl&>(*this);
  return r.port_ ? r.port_->make_body_reader() : BodyReader{};
}

bool BodyReader::active() const {
  return state_ && state_->conn;
}

void BodyReader::read(PieceFn fn) {
  if (active()) state_->conn->body_read(std::move(fn));
}

uint64_t BodyReader::received() const {
  return state_ ? state_->received : 0;
}

}  // namespace lithe
