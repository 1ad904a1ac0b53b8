// The sd_notify datagram protocol, implemented directly rather than through libsystemd: the
// protocol is one sendto() on an AF_UNIX datagram socket, so readiness works whether or not
// libsystemd (and its headers) are installed, and the binary gains no runtime dependency.
#include "net/systemd.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

namespace lithe::net {

bool notify(std::string_view state) {
  const char* env = std::getenv("NOTIFY_SOCKET");
  if (env == nullptr) return false;
  std::string_view name(env);
  // Only filesystem paths and '@' (Linux abstract namespace) are used by systemd for services;
  // anything else (e.g. "vsock:") is not ours to handle.
  if (name.size() < 2 || (name[0] != '/' && name[0] != '@')) return false;

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (name.size() >= sizeof(addr.sun_path)) return false;  // keeps room for a path's NUL
  std::memcpy(addr.sun_path, name.data(), name.size());
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  if (name[0] == '@') {
    addr.sun_path[0] = '\0';  // abstract: the name is exactly the remaining bytes, no NUL
  } else {
    len = static_cast<socklen_t>(len + 1);
  }

  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ssize_t sent;
  do {
    // MSG_NOSIGNAL: a vanished supervisor must never raise SIGPIPE in the daemon.
    sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                    reinterpret_cast<const sockaddr*>(&addr), len);
  } while (sent < 0 && errno == EINTR);
  ::close(fd);
  return sent == static_cast<ssize_t>(state.size());
}

void notify_ready() {
  notify("READY=1");
}

void notify_reloading() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  unsigned long long usec = static_cast<unsigned long long>(ts.tv_sec) * 1000000ULL +
                            static_cast<unsigned long long>(ts.tv_nsec) / 1000ULL;
  notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void notify_stopping() {
  notify("STOPPING=1");
}

void notify_status(std::string_view text) {
  std::string msg = "STATUS=";
  msg.reserve(msg.size() + text.size());
  for (char c : text) msg.push_back(c == '\n' ? ' ' : c);  // a newline would start a new field
  notify(msg);
}

}  // namespace lithe::net
