// Accepts connections on one listening socket (TCP or unix) and hands them to its worker.
//
// With io_uring, one multishot accept entry on the worker's ring takes every connection: each
// arrives as a completion in the ring's turn, with no accept4 call and no wait of its own.
// Otherwise the listener waits on the socket in Asio's reactor and calls accept4.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "net/socket.hpp"

namespace lithe::net {

class Ring;
struct CompletionFlags;
class Worker;

class Listener {
 public:
  // key names the configured address (its text), so a reload can tell kept from removed.
  Listener(Worker& worker, std::string key, Acceptor acceptor);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  void start() { do_accept(); }
  // Stops accepting; a wait in flight completes (aborted) when the loop next runs.
  void close();
  const std::string& key() const { return key_; }
  // Stops taking connections (max_connections reached) until resume(); the kernel's backlog
  // holds new ones meanwhile, so nothing is dropped.
  void pause();
  void resume();
  // A completion of the ring's accept entry: a connection, or an error.
  void on_ring(int res, CompletionFlags flags);
  // No wait, ring entry or backoff in flight: nothing on the loop refers to this listener.
  bool idle() const { return !accepting_; }
  // Whether the ring's accept entry is in flight (until its last completion).
  bool armed_on_ring() const { return ring_ && armed_; }

 private:
  // Whether a connection is there: it is accepted to find out, and kept for on_ready_wait.
  bool ready();
  void on_ready_wait(const boost::system::error_code& ec);  // the reactor's wait ended
  void do_accept();
  void arm();         // queues the ring's multishot accept
  void leave_ring();  // from then on: the reactor's wait, and accept4
  bool accept_one();  // accept4 into accepted_ / accept_errno_; false when none is queued
  void hand_over(int fd);
  static bool is_transient_accept_error(int err);
  void back_off();  // after EMFILE/ENFILE: wait instead of spinning

  Worker& worker_;
  Ring* ring_;  // the worker's io_uring, which accepts; null: accept4 after a wait
  std::string key_;
  Acceptor acceptor_;                  // the socket, waited on in Asio's reactor (unless ring_)
  int fd_ = -1;                        // the listening socket
  int family_;                         // AF_INET, AF_INET6 or AF_UNIX, for accepted sockets
  boost::asio::steady_timer backoff_;  // after EMFILE/ENFILE: wait instead of spinning
  // The last EMFILE/ENFILE: logged once per episode, not per attempt.
  std::optional<std::chrono::steady_clock::time_point> last_exhaustion_;
  int accepted_ = -1;       // a connection accepted by ready(), not yet handed over
  int accept_errno_ = 0;    // or the error accept4 reported
  bool paused_ = false;     // no wait is in flight while paused (the ring's entry is cancelled)
  bool accepting_ = false;  // a wait, the ring's entry or the backoff is in flight
  bool open_ = true;
  bool armed_ = false;     // ring: the accept entry is in flight (until its last completion)
  std::vector<int> held_;  // ring: accepted while paused (already completed), for resume()
};

}  // namespace lithe::net
