#include "net/deadlines.hpp"

namespace lithe::net {

Deadlines::Deadlines(boost::asio::io_context& io, Expired on_expired)
    : timer_(io), on_expired_(on_expired) {}

Deadlines::~Deadlines() = default;

void Deadlines::unlink(Deadline& d) {
  if (!d.linked()) return;
  List& l = lists_[static_cast<std::size_t>(d.kind)];
  (d.prev ? d.prev->next : l.head) = d.next;
  (d.next ? d.next->prev : l.tail) = d.prev;
  d.prev = d.next = nullptr;
  d.kind = Timeout::count;
}

void Deadlines::arm(Deadline& d, Timeout kind) {
  unlink(d);
  List& l = lists_[static_cast<std::size_t>(kind)];
  d.kind = kind;
  d.when = Clock::now() + l.duration;
  d.prev = l.tail;
  d.next = nullptr;
  (l.tail ? l.tail->next : l.head) = &d;
  l.tail = &d;
  // Later entries never move the timer: only an idle timer or an earlier expiry re-arm it.
  if (d.when < armed_) schedule(d.when);
}

void Deadlines::arm_at(Deadline& d, Timeout kind, Clock::time_point when) {
  unlink(d);
  List& l = lists_[static_cast<std::size_t>(kind)];
  d.kind = kind;
  d.when = when;
  Deadline* after = l.tail;
  while (after && after->when > when) after = after->prev;
  d.prev = after;
  d.next = after ? after->next : l.head;
  (d.next ? d.next->prev : l.tail) = &d;
  (after ? after->next : l.head) = &d;
  if (d.when < armed_) schedule(d.when);
}

void Deadlines::disarm(Deadline& d) {
  unlink(d);
}

void Deadlines::shutdown() {
  armed_ = Clock::time_point::min();  // never re-armed
  timer_.cancel();
}

void Deadlines::schedule(Clock::time_point when) {
  armed_ = when;
  timer_.expires_at(when);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // re-armed earlier, or shut down
    on_timer();
  });
}

void Deadlines::on_timer() {
  armed_ = Clock::time_point::max();
  const auto now = Clock::now();
  Clock::time_point next = Clock::time_point::max();
  for (std::size_t k = 0; k < lists_.size(); ++k) {
    List& l = lists_[k];
    while (l.head && l.head->when <= now) {
      Deadline* d = l.head;
      unlink(*d);
      on_expired_(*d, static_cast<Timeout>(k));  // may re-arm or close its owner
    }
    if (l.head && l.head->when < next) next = l.head->when;
  }
  if (next != Clock::time_point::max() && next < armed_) schedule(next);
}

}  // namespace lithe::net
