#include "net/bind.hpp"

#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "net/receive.hpp"

namespace lithe::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

std::string endpoint_text(const tcp::endpoint& ep) {
  if (ep.address().is_v6())
    return "[" + ep.address().to_string() + "]:" + std::to_string(ep.port());
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

// An IPv6 address serves IPv6 only: [::]:P and 0.0.0.0:P are separate listeners.
void set_v6_only(int fd) {
  int only = 1;
  ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &only, sizeof(only));
}

// Options of a TCP listening socket that Linux copies to every socket accepted on it.
void tune_tcp_listener(int fd) {
  int one = 1;
  enable_receive_queue_hint(fd);
  // TCP_NODELAY (SPEC §8).
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  // At most this much of a response waits unsent in the kernel, however large the socket
  // buffer grows: a reader that never reads holds 128 KiB, not megabytes, and costs no copy
  // or page reference beyond it. In-flight bytes are not limited, so throughput is not.
  const int unsent = 128 * 1024;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &unsent, sizeof(unsent));
}

Acceptor listen_on(asio::io_context& io, const asio::generic::stream_protocol::endpoint& ep,
                   int backlog, bool v6) {
  Acceptor a(io);
  a.open(ep.protocol());
  if (ep.protocol().family() != AF_UNIX) {
    a.set_option(asio::socket_base::reuse_address(true));
    int one = 1;
    ::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    tune_tcp_listener(a.native_handle());
    if (v6) set_v6_only(a.native_handle());
  }
  a.bind(ep);
  a.listen(backlog);
  return a;
}

// One listening socket for every worker: the first takes fd, the others a duplicate of it.
void share(BoundAddress& b, int fd, const asio::generic::stream_protocol& protocol,
           const std::vector<std::unique_ptr<Worker>>& workers) {
  b.acceptors.emplace_back(workers[0]->io(), protocol, fd);
  for (std::size_t i = 1; i < workers.size(); ++i) {
    const int copy = ::dup(fd);
    if (copy < 0) throw std::runtime_error(std::string("dup: ") + std::strerror(errno));
    b.acceptors.emplace_back(workers[i]->io(), protocol, copy);
  }
}

// SO_REUSEPORT would let a second server (of the same user) join a port that another one
// listens on, silently sharing its connections. A probe bound without it fails with
// EADDRINUSE when anything listens there, as nginx's own bind would.
void refuse_if_listened_on(const tcp::endpoint& ep) {
  asio::io_context probe_io;
  tcp::acceptor probe(probe_io);
  probe.open(ep.protocol());
  probe.set_option(asio::socket_base::reuse_address(true));  // TIME_WAIT leftovers are fine
  if (ep.address().is_v6()) set_v6_only(probe.native_handle());
  boost::system::error_code ec;
  probe.bind(ep, ec);
  if (ec == asio::error::address_in_use)
    throw std::runtime_error("address already in use (another server listens on it)");
}

// A socket file left by a process that is gone is removed; one that still answers is not.
void remove_stale_socket(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;
  if (!S_ISSOCK(st.st_mode)) throw std::runtime_error("exists and is not a socket");
  asio::io_context probe_io;
  asio::local::stream_protocol::socket probe(probe_io);
  boost::system::error_code ec;
  probe.connect(asio::local::stream_protocol::endpoint(path), ec);
  if (!ec) throw std::runtime_error("another server is listening on it");
  ::unlink(path.c_str());
}

}  // namespace

BoundAddress bind_address(const ListenAddress& addr,
                          const std::vector<std::unique_ptr<Worker>>& workers, int backlog,
                          InheritedSockets& inherited) {
  BoundAddress b;
  b.key = addr.text;
  if (addr.kind == ListenAddress::Kind::unix_socket) {
    b.text = "unix:" + addr.path;
    const asio::local::stream_protocol::endpoint local(addr.path);
    const asio::generic::stream_protocol protocol(AF_UNIX, 0);
    if (const int fd = inherited.take(local.data(), static_cast<socklen_t>(local.size()));
        fd >= 0) {
      share(b, fd, protocol, workers);
      b.inherited = true;
      return b;
    }
    remove_stale_socket(addr.path);
    Acceptor first = listen_on(workers[0]->io(), asio::generic::stream_protocol::endpoint(local),
                               backlog, false);
    if (::chmod(addr.path.c_str(), 0660) != 0)
      spdlog::warn("chmod 0660 {}: {}", addr.path, std::strerror(errno));
    share(b, first.release(), protocol, workers);
    b.unix_path = addr.path;
    return b;
  }
  asio::io_context resolver_io;
  tcp::resolver resolver(resolver_io);
  auto results = resolver.resolve(addr.host, std::to_string(addr.port),
                                  tcp::resolver::numeric_service | tcp::resolver::passive);
  if (results.empty()) throw std::runtime_error("address does not resolve");
  tcp::endpoint ep = results.begin()->endpoint();
  if (const int fd = inherited.take(ep.data(), static_cast<socklen_t>(ep.size())); fd >= 0) {
    tune_tcp_listener(fd);
    share(b, fd, asio::generic::stream_protocol(ep.protocol().family(), IPPROTO_TCP), workers);
    b.text = endpoint_text(ep);
    b.inherited = true;
    return b;
  }
  if (ep.port() != 0) refuse_if_listened_on(ep);
  for (auto& w : workers) {
    Acceptor a = listen_on(w->io(), asio::generic::stream_protocol::endpoint(ep), backlog,
                           ep.address().is_v6());
    if (ep.port() == 0) {
      sockaddr_storage ss{};
      socklen_t len = sizeof(ss);
      ::getsockname(a.native_handle(), reinterpret_cast<sockaddr*>(&ss), &len);
      ep.port(ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                             : reinterpret_cast<sockaddr_in*>(&ss)->sin_port));
    }
    b.acceptors.push_back(std::move(a));
  }
  b.text = endpoint_text(ep);
  return b;
}

}  // namespace lithe::net
