// Listening sockets a service manager passed to this process (systemd socket activation,
// sd_listen_fds(3)): descriptors 3 to 3 + LISTEN_FDS - 1, named by LISTEN_FDNAMES, when
// LISTEN_PID is this process. A listen address whose socket was passed uses it instead of
// binding one (net/bind.hpp), so the socket and the connections queued on it outlive a restart.
#pragma once

#include <sys/socket.h>

#include <string>
#include <vector>

namespace lithe::net {

class InheritedSockets {
 public:
  InheritedSockets() = default;
  // Reads the variables, then removes them: a child process must not take them for its own.
  static InheritedSockets from_environment();

  // The passed socket listening on this address (a TCP address and port, or a unix socket's
  // path), which the caller now owns; -1 when none was passed for it.
  int take(const sockaddr* address, socklen_t length);
  // The passed sockets nothing took, as "127.0.0.1:8080 (fd 3, name http)".
  std::vector<std::string> untaken() const;
  bool empty() const { return sockets_.empty(); }

 private:
  struct Socket {
    int fd;
    std::string name;
    sockaddr_storage address;  // as getsockname() reports it
  };
  std::vector<Socket> sockets_;
};

}  // namespace lithe::net
