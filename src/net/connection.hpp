// One client connection: an HTTP/1 session (net/session.hpp) over the transport of the worker's
// back-end, placed side by side in one pooled object so that an idle connection is one block.
#pragma once

#include "net/session.hpp"

namespace lithe::net {

template <class Transport>
class Connection final : public Session {
 public:
  // The session is constructed first; it learns its transport's address only once that exists.
  explicit Connection(Worker& worker) : Session(worker), transport_(worker, *this) {
    attach(transport_);
  }

 private:
  Transport transport_;
};

}  // namespace lithe::net
