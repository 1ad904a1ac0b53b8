#include "net/epoll_set.hpp"

#include <sys/epoll.h>

#include <boost/asio/post.hpp>
#include <cerrno>

#include "net/epoll_transport.hpp"

namespace lithe::net {

std::unique_ptr<EpollSet> EpollSet::open(boost::asio::io_context& io) {
  const int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return nullptr;
  return std::make_unique<EpollSet>(io, fd);
}

EpollSet::EpollSet(boost::asio::io_context& io, int fd) : wait_(io, fd) {}

bool EpollSet::add(int fd, uint32_t events, EpollTransport* owner) {
  return control(EPOLL_CTL_ADD, fd, events, owner);
}

bool EpollSet::modify(int fd, uint32_t events, EpollTransport* owner) {
  return control(EPOLL_CTL_MOD, fd, events, owner);
}

bool EpollSet::control(int op, int fd, uint32_t events, EpollTransport* owner) {
  epoll_event ev{};
  ev.events = events | EPOLLET;
  ev.data.ptr = owner;
  return ::epoll_ctl(wait_.native_handle(), op, fd, &ev) == 0;
}

void EpollSet::start() {
  wait();
}

void EpollSet::drain() {
  closed_ = true;
  boost::system::error_code ignored;
  wait_.cancel(ignored);  // the wait in flight completes with operation_aborted
}

void EpollSet::wait() {
  wait_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                   [this](const boost::system::error_code& ec) {
                     if (!ec) on_ready();
                   });
}

// One turn: the events there are now. A socket is reported at most once per call, and a
// connection closed by its own event leaves the set with its descriptor, so no event refers
// to a connection that has gone back to the pool.
void EpollSet::on_ready() {
  if (closed_) return;
  epoll_event events[max_events];
  int n;
  do n = ::epoll_wait(wait_.native_handle(), events, max_events, 0);
  while (n < 0 && errno == EINTR);
  for (int i = 0; i < n; ++i)
    static_cast<EpollTransport*>(events[i].data.ptr)->on_epoll(events[i].events);
  if (closed_) return;
  if (n == max_events)
    boost::asio::post(wait_.get_executor(), [this] { on_ready(); });
  else
    wait();
}

}  // namespace lithe::net
