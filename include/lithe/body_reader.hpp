// The request body of a route with `body = "stream"` (SPEC §9), pulled piece by piece: the
// handler starts at the end of the head, and lithe reads the socket only while the handler
// has asked for more, so a slow consumer slows the client (TCP flow control) and holds at most
// one read buffer. Chunked and Content-Length bodies look the same here.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

namespace lithe {

namespace detail {
struct BodyState;
}

class BodyReader {
 public:
  using PieceFn = std::function<void(std::string_view piece, bool last)>;

  // An inactive reader (a route that buffers its body, or no connection): read() does nothing.
  BodyReader() = default;
  explicit BodyReader(std::shared_ptr<detail::BodyState> state) : state_(std::move(state)) {}

  // True until the last piece was handed over, the body failed, or the client went away.
  bool active() const;
  // Asks for the next piece. fn runs once, on the loop, with bytes that are valid during the
  // call only, and last = true with the final piece (which may be empty). The first call
  // sends `100 Continue` to a client that waits for one, so a handler that answers first
  // (401, 413...) receives no body byte. If the body fails instead (more than the route's
  // max_body: 413; a malformed chunk: 400; silence past timeouts.body: 408; the client gone),
  // fn never runs: the Responder's or Stream's on_cancel does, and the client gets that status
  // unless a response had begun.
  void read(PieceFn fn);
  // Body bytes handed to the handler so far.
  uint64_t received() const;

 private:
  std::shared_ptr<detail::BodyState> state_;
};

}  // namespace lithe
