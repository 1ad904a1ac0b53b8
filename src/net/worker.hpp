// One event loop: a single-threaded io_context with its own listeners, connections and pools.
// Workers share nothing but the immutable Snapshot they serve. The io_context is the worker's
// own, run by a thread the server starts, or a program's (Server::start), which runs it.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "app/snapshot.hpp"
#include "http/date_cache.hpp"
#include "http/exchange.hpp"
#include "http/output.hpp"
#include "http/parser.hpp"
#include "http/request_id.hpp"
#include "metrics/metrics.hpp"
#include "net/deadlines.hpp"
#include "net/listener.hpp"

namespace lithe::net {

class Session;
class EpollSet;
class Ring;

// A free list of pooled objects: taken on demand, returned for reuse, never freed per use.
template <class T>
class Pool {
 public:
  // Room for a burst's worth of spares from the start: growing the list is an allocation, and
  // with io_uring an object stays in use until its turn's completions (a new peak in use can
  // come well after warm-up).
  Pool() { free_.reserve(256); }
  template <class Make>
  std::unique_ptr<T> take(Make make) {
    if (free_.empty()) return make();
    std::unique_ptr<T> p = std::move(free_.back());
    free_.pop_back();
    return p;
  }
  void give(std::unique_ptr<T> p, std::size_t keep) {
    if (free_.size() < keep) free_.push_back(std::move(p));
  }
  void trim(std::size_t keep) {
    if (free_.size() > keep) free_.resize(keep);
  }

 private:
  std::vector<std::unique_ptr<T>> free_;
};

// A read buffer: capacity bytes plus json_padding readable spare bytes after them. Mapped
// pages rather than heap: a page never written is never resident (most requests touch one),
// and a buffer the pool lets go returns its memory to the system at once.
struct ReadBuffer {
  struct Unmap {
    std::size_t size;
    void operator()(char* p) const;
  };
  explicit ReadBuffer(std::size_t cap);
  std::unique_ptr<char, Unmap> data;
  std::size_t capacity;
};

class Worker {
 public:
  // loop: a program's io_context to serve on; null for one of the worker's own.
  Worker(unsigned index, std::shared_ptr<const app::Snapshot> snapshot,
         boost::asio::io_context* loop = nullptr);
  // On a program's loop, only after stop() has called its `left`.
  ~Worker();

  boost::asio::io_context& io() { return io_; }
  // The io_uring the connections use, or null when they use epoll (server.io).
  Ring* ring() const { return ring_.get(); }
  // The epoll set the connections use, or null when they use io_uring.
  EpollSet* epoll() const { return epoll_.get(); }
  unsigned index() const { return index_; }

  // Serves on an already bound and listening socket; before run(), or on the loop.
  void add_listener(std::string key, Acceptor acceptor);
  // Thread-safe: serves a listener added by a reload / stops serving a removed one.
  void post_add_listener(std::string key, Acceptor acceptor);
  void post_remove_listener(std::string key);
  // Runs the loop until stop(); call from the worker's own thread.
  void run();
  // On a program's loop, which the program runs: starts serving from it.
  void start();
  // Thread-safe: closes listeners and connections. On the worker's own loop it ends run(); on a
  // program's loop, `left` runs there once none of this worker's operations is pending on it
  // (the worker may then be destroyed, and a loop with no other work returns from run()).
  void stop(std::function<void()> left = {});
  // Thread-safe graceful stop: listeners close, idle connections close, the rest close after
  // their response (which says Connection: close); drained() runs on this loop once no
  // connection is left.
  void drain(std::function<void()> drained);
  // Thread-safe, at the end of a graceful stop (timeouts.shutdown): streamed responses end
  // properly (their last piece queued), every other connection closes now.
  void end_streams();
  // Thread-safe: new requests use this snapshot; responses still being written keep the
  // old one alive until they are done.
  void post_snapshot(std::shared_ptr<const app::Snapshot> snapshot);
  // A connection that held a retired snapshot is done with it.
  void release_retired();

  // Work handed to this loop from another thread (a reload, a stop) is still queued. A ring
  // turn then lets it run before handling more input, so that input which arrived after the
  // hand-off sees its effect, as with epoll, where Asio runs handlers in order.
  bool posted_from_outside() const { return posted_.load(std::memory_order_acquire) != 0; }

  const app::Snapshot& snapshot() const { return *snapshot_; }
  const std::shared_ptr<const app::Snapshot>& snapshot_ptr() const { return snapshot_; }
  const http::DateCache& date() const { return date_; }

  // Per-loop pools.
  std::unique_ptr<ReadBuffer> take_buffer();
  void give_buffer(std::unique_ptr<ReadBuffer> b);
  std::unique_ptr<http::Exchange> take_exchange();
  void give_exchange(std::unique_ptr<http::Exchange> e);
  std::unique_ptr<http::OutputBuffer> take_output();
  void give_output(std::unique_ptr<http::OutputBuffer> o);

  // A new connection on an accepted socket (non-blocking; family AF_INET, AF_INET6 or AF_UNIX).
  void on_accepted(int fd, int family);
  // Called by a connection once it is closed and has no operation in flight.
  void on_closed(Session* c);

  std::size_t open_connections() const { return active_.size(); }
  // The open connections, in no particular order (a test drives one by hand with these).
  const std::vector<Session*>& connections() const { return active_; }

  Deadlines& deadlines() { return deadlines_; }
  const http::ParserLimits& parser_limits() const { return parser_limits_; }
  // A graceful stop is under way: responses carry Connection: close.
  bool draining() const { return draining_; }

  // This loop's request IDs (server.request_id_header).
  http::RequestIds& request_ids() { return request_ids_; }

  // A per-loop buffer for bytes that are read only to be dropped (lingering close).
  static constexpr std::size_t scratch_size = 16 * 1024;
  char* scratch() { return scratch_.get(); }

  // A response was rendered: it is counted and timed when its connection writes, with one
  // clock read for the whole batch (16 pipelined responses would otherwise read it 16 times).
  void finished(uint32_t slot, uint16_t status, Clock::time_point start) {
    finished_.push_back({slot, status, start});
  }
  void record_finished();

  // This loop's own counters (summed with the other workers' when scraped).
  metrics::WorkerMetrics& metrics() { return *metrics_; }
  const std::shared_ptr<metrics::WorkerMetrics>& metrics_ptr() const { return metrics_; }
  void count_bytes_in(std::size_t n) { metrics_->bytes_in.add(n); }
  void count_bytes_out(std::size_t n) { metrics_->bytes_out.add(n); }
  void count_parse_error(uint16_t status) {
    metrics_->parse_errors[static_cast<std::size_t>(metrics::parse_error_kind(status))].add();
  }

 private:
  template <class F>
  void post_from_outside(F f) {
    posted_.fetch_add(1, std::memory_order_release);
    boost::asio::post(io_, [this, f = std::move(f)]() mutable {
      posted_.fetch_sub(1, std::memory_order_relaxed);
      f();
    });
  }
  void tick();  // once a second: Date refresh
  void apply_limits();
  void open_event_interface();
  void drain_event_interface();  // the worker is going: the ring's or epoll set's last turn
  void set_snapshot(std::shared_ptr<const app::Snapshot> snapshot);
  void check_drained();
  void resume_accepting_if_room();  // after max_connections paused accepting
  void leave_loop();                // stop() on a program's loop: waits out what is pending
  static void on_deadline(Deadline& deadline, Timeout kind);

  unsigned index_;
  std::unique_ptr<boost::asio::io_context> own_io_;  // null on a program's loop
  boost::asio::io_context& io_;                      // *own_io_, or the program's
  std::shared_ptr<const app::Snapshot> snapshot_;
  std::vector<std::shared_ptr<const app::Snapshot>> retired_;  // still referenced by writes
  std::size_t retired_holders_ = 0;   // connections that may reference a retired snapshot
  std::function<void()> on_drained_;  // set while a graceful stop waits for connections
  std::function<void()> on_left_;     // stop() on a program's loop: called once let go
  boost::asio::steady_timer settle_;  // paces leave_loop() while completions are awaited
  http::DateCache date_;
  boost::asio::steady_timer clock_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<Session*> active_;   // open connections (index kept in each)
  Pool<Session> connection_pool_;  // Connection<T> for this loop's transport
  Pool<ReadBuffer> buffer_pool_;
  Pool<http::Exchange> exchange_pool_;
  Pool<http::OutputBuffer> output_pool_;
  Deadlines deadlines_;
  http::ParserLimits parser_limits_;
  std::shared_ptr<metrics::WorkerMetrics> metrics_;
  std::unique_ptr<char[]> scratch_;
  http::RequestIds request_ids_;
  std::unique_ptr<Ring> ring_;       // after io_ and the pools it uses, so destroyed before them
  std::unique_ptr<EpollSet> epoll_;  // without a ring: the connections' epoll set
  struct Finished {
    uint32_t slot;
    uint16_t status;
    Clock::time_point start;
  };
  std::vector<Finished> finished_;  // rendered, not yet recorded (see finished())
  std::size_t buffer_size_ = 0;
  bool buffers_taken_ = false;  // a read buffer was taken since the last tick
  bool trimmed_ = false;        // pools trimmed since the last burst: nothing more to give back
  std::size_t exchange_headers_ = 0;  // header capacity of pooled exchanges
  std::atomic<uint32_t> posted_{0};   // handlers posted by other threads, not yet run
  bool stopping_ = false;
  bool draining_ = false;
  bool accept_paused_ = false;  // at max_connections
};

}  // namespace lithe::net
