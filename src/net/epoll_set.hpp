// The epoll transport's own interest list. Each connection's socket is registered once, edge
// triggered, for as long as it is open; the set's descriptor is one more thing the loop's
// reactor waits on, as the ring's is. A wait on the socket itself through Asio would re-arm the
// descriptor (an epoll_ctl) every time: here a connection waits between requests for free.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <memory>

namespace lithe::net {

class EpollTransport;

class EpollSet {
 public:
  // Null when the kernel refuses an epoll instance (out of descriptors).
  static std::unique_ptr<EpollSet> open(boost::asio::io_context& io);
  EpollSet(boost::asio::io_context& io, int fd);

  // Registers fd for events (EPOLLET is added); they reach owner->on_epoll. The registration
  // ends when fd is closed.
  bool add(int fd, uint32_t events, EpollTransport* owner);
  bool modify(int fd, uint32_t events, EpollTransport* owner);

  void start();
  // Stops waiting: the worker is going.
  void drain();

 private:
  bool control(int op, int fd, uint32_t events, EpollTransport* owner);
  void wait();
  void on_ready();

  // Events taken per turn; a full turn lets the loop's other handlers run before the next.
  static constexpr int max_events = 64;

  boost::asio::posix::stream_descriptor wait_;  // the set's descriptor, in the loop's reactor
  bool closed_ = false;
};

}  // namespace lithe::net
