// What the public handles on a request (lithe::Responder, lithe::Stream, lithe::BodyReader)
// ask of the connection serving it. The session implements it one layer up (net/), so a
// handler that answers later, streams or pulls its body needs nothing above http/.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>

#include "lithe/body_reader.hpp"
#include "lithe/responder.hpp"
#include "lithe/stream.hpp"

namespace lithe::http {

class SessionPort {
 public:
  // The handles for the request being dispatched (Response::defer, stream, body_reader).
  virtual lithe::Responder make_responder() = 0;
  virtual lithe::Stream make_stream(bool compress) = 0;
  virtual lithe::BodyReader make_body_reader() = 0;

  // Asynchronous answers: send(), and the last Responder copy dropped unsent (500).
  virtual void complete_async() = 0;
  virtual void complete_async_dropped() = 0;
  // A coroutine runs with references into the request and response: while it does
  // (Pending::holds_request), they become its own rather than go back to the pools.
  virtual void hold_request(const std::shared_ptr<detail::Pending>& holder) = 0;

  // Streamed responses. These only queue and flag: the session acts on them from the loop,
  // never inside the handler's call.
  virtual bool stream_write(std::string_view bytes, bool copy) = 0;
  virtual std::size_t stream_buffered() const = 0;
  virtual void stream_end() = 0;
  virtual void stream_abort() = 0;
  // The last Stream handle went away before end(): logged, then aborted.
  virtual void stream_dropped() = 0;

  // Pulled request bodies: the handler's ask, served from the loop.
  virtual void body_read(std::function<void(std::string_view, bool)> fn) = 0;

  // The request's client as the access log names it (Request::client_address), its text in
  // the request's arena.
  virtual std::string_view client_address() = 0;

 protected:
  ~SessionPort() = default;
};

}  // namespace lithe::http
