// Per-loop timeouts without a timer object per connection or request. Every timeout of one
// kind has the same duration, so deadlines enter each kind's list in expiry order: a list is a
// FIFO, add and remove are O(1), and one Asio timer armed at the earliest head serves them all.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>

namespace lithe::net {

// keepalive: between requests (timeouts.keepalive); header, body, write: timeouts.*;
// linger: a lingering close's wait for the client's FIN; handler: a deferred answer's
// (timeouts.handler or the route's timeout, so its entries are armed with arm_at); heartbeat:
// an idle event stream's comment (the route's `heartbeat`, also armed with arm_at).
enum class Timeout : uint8_t { keepalive, header, body, write, linger, handler, heartbeat, count };

using Clock = std::chrono::steady_clock;

// Embedded in its owner (a base class, so the owner is found without storing a pointer to
// it); linked into at most one list at a time.
struct Deadline {
  Deadline* prev = nullptr;
  Deadline* next = nullptr;
  Clock::time_point when{};
  Timeout kind = Timeout::count;  // count = not linked
  bool linked() const { return kind != Timeout::count; }
};

class Deadlines {
 public:
  using Expired = void (*)(Deadline& deadline, Timeout kind);

  Deadlines(boost::asio::io_context& io, Expired on_expired);
  ~Deadlines();

  void set_duration(Timeout kind, std::chrono::milliseconds d) {
    lists_[static_cast<std::size_t>(kind)].duration = d;
  }
  // (Re)starts d as a `kind` deadline from now.
  void arm(Deadline& d, Timeout kind);
  // (Re)starts d as a `kind` deadline expiring at `when`, for a kind whose entries differ in
  // duration: placed in expiry order, searched from the latest (usually O(1)).
  void arm_at(Deadline& d, Timeout kind, Clock::time_point when);
  // Stops d if it is running.
  void disarm(Deadline& d);
  // Cancels the timer (the loop is stopping).
  void shutdown();

 private:
  struct List {
    Deadline* head = nullptr;
    Deadline* tail = nullptr;
    std::chrono::milliseconds duration{1000};
  };
  void unlink(Deadline& d);
  void schedule(Clock::time_point when);
  void on_timer();

  boost::asio::steady_timer timer_;
  Clock::time_point armed_ = Clock::time_point::max();  // the timer's expiry, max = idle
  Expired on_expired_;
  std::array<List, static_cast<std::size_t>(Timeout::count)> lists_;
};

}  // namespace lithe::net
