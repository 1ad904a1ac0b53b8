// Binding a configured listen address for every worker. TCP: each worker gets its own
// SO_REUSEPORT socket (the kernel spreads connections), the first fixing an ephemeral port.
// Unix, and a socket passed by a service manager: one socket, shared by the workers through
// duplicated descriptors.
#pragma once

#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "lithe/config.hpp"
#include "net/inherited.hpp"
#include "net/socket.hpp"
#include "net/worker.hpp"

namespace lithe::net {

struct BoundAddress {
  std::vector<Acceptor> acceptors;  // one per worker, until handed to the workers
  std::string key;                  // the configured address (ListenAddress::text)
  std::string text;                 // "127.0.0.1:41234" or "unix:/path"
  std::string unix_path;            // removed on exit / when the listener goes away
  bool inherited = false;           // passed by a service manager, not bound here

  void remove_socket_file() const {
    if (!unix_path.empty()) ::unlink(unix_path.c_str());
  }
};

// Throws std::exception (with the reason) when the address cannot be bound: in use by another
// server, a socket file that still answers, a name that does not resolve. A socket that a
// service manager passed for the address (inherited) is used instead of binding one: shared by
// the workers, and its socket file, if any, is left to the manager.
BoundAddress bind_address(const ListenAddress& addr,
                          const std::vector<std::unique_ptr<Worker>>& workers, int backlog,
                          InheritedSockets& inherited);

}  // namespace lithe::net
