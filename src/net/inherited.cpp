#include "net/inherited.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace lithe::net {

namespace {

// The first descriptor a service manager passes (SD_LISTEN_FDS_START).
constexpr int first_fd = 3;

bool parse_number(const char* text, long& out) {
  if (!text) return false;
  const std::string_view s(text);
  return std::from_chars(s.data(), s.data() + s.size(), out).ec == std::errc() && out >= 0;
}

// Whether a (from getsockname) names the same local address as b: family, address and port,
// or a unix socket's path.
bool same_address(const sockaddr_storage& a, const sockaddr* b, socklen_t length) {
  if (a.ss_family != b->sa_family) return false;
  switch (a.ss_family) {
    case AF_INET: {
      if (length < static_cast<socklen_t>(sizeof(sockaddr_in))) return false;
      const auto& x = reinterpret_cast<const sockaddr_in&>(a);
      const auto* y = reinterpret_cast<const sockaddr_in*>(b);
      return x.sin_port == y->sin_port && x.sin_addr.s_addr == y->sin_addr.s_addr;
    }
    case AF_INET6: {
      if (length < static_cast<socklen_t>(sizeof(sockaddr_in6))) return false;
      const auto& x = reinterpret_cast<const sockaddr_in6&>(a);
      const auto* y = reinterpret_cast<const sockaddr_in6*>(b);
      return x.sin6_port == y->sin6_port &&
             std::memcmp(&x.sin6_addr, &y->sin6_addr, sizeof(in6_addr)) == 0;
    }
    case AF_UNIX: {
      const auto& x = reinterpret_cast<const sockaddr_un&>(a);
      const auto* y = reinterpret_cast<const sockaddr_un*>(b);
      const std::size_t room =
          std::min<std::size_t>(length - offsetof(sockaddr_un, sun_path), sizeof(y->sun_path));
      const std::string_view path(y->sun_path, ::strnlen(y->sun_path, room));
      return path == std::string_view(x.sun_path, ::strnlen(x.sun_path, sizeof(x.sun_path)));
    }
    default:
      return false;
  }
}

std::string address_text(const sockaddr_storage& a) {
  char host[INET6_ADDRSTRLEN] = "";
  switch (a.ss_family) {
    case AF_INET: {
      const auto& in = reinterpret_cast<const sockaddr_in&>(a);
      ::inet_ntop(AF_INET, &in.sin_addr, host, sizeof(host));
      return std::string(host) + ":" + std::to_string(ntohs(in.sin_port));
    }
    case AF_INET6: {
      const auto& in6 = reinterpret_cast<const sockaddr_in6&>(a);
      ::inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof(host));
      return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6.sin6_port));
    }
    case AF_UNIX:
      return "unix:" + std::string(reinterpret_cast<const sockaddr_un&>(a).sun_path);
    default:
      return "an address of family " + std::to_string(a.ss_family);
  }
}

}  // namespace

InheritedSockets InheritedSockets::from_environment() {
  InheritedSockets inherited;
  long pid = 0;
  long count = 0;
  const bool ours = parse_number(std::getenv("LISTEN_PID"), pid) && pid == ::getpid() &&
                    parse_number(std::getenv("LISTEN_FDS"), count);
  const char* names = std::getenv("LISTEN_FDNAMES");
  std::string_view rest = ours && names ? names : "";
  for (long i = 0; ours && i < count; ++i) {
    Socket s{first_fd + static_cast<int>(i), "", {}};
    const std::size_t colon = rest.find(':');
    s.name = std::string(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? "" : rest.substr(colon + 1);
    socklen_t length = sizeof(s.address);
    if (::getsockname(s.fd, reinterpret_cast<sockaddr*>(&s.address), &length) != 0) continue;
    ::fcntl(s.fd, F_SETFD, FD_CLOEXEC);  // not for the children this process may start
    inherited.sockets_.push_back(std::move(s));
  }
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  return inherited;
}

int InheritedSockets::take(const sockaddr* address, socklen_t length) {
  for (auto it = sockets_.begin(); it != sockets_.end(); ++it) {
    if (!same_address(it->address, address, length)) continue;
    const int fd = it->fd;
    sockets_.erase(it);
    return fd;
  }
  return -1;
}

std::vector<std::string> InheritedSockets::untaken() const {
  std::vector<std::string> out;
  for (const Socket& s : sockets_)
    out.push_back(address_text(s.address) + " (fd " + std::to_string(s.fd) +
                  (s.name.empty() ? "" : ", name " + s.name) + ")");
  return out;
}

}  // namespace lithe::net
