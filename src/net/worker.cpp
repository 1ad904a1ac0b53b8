#include "net/worker.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <new>

#include "net/connection.hpp"
#include "net/epoll_set.hpp"
#include "net/epoll_transport.hpp"
#include "net/listener.hpp"
#include "net/ring.hpp"
#include "net/ring_transport.hpp"

namespace lithe::net {

namespace asio = boost::asio;

void ReadBuffer::Unmap::operator()(char* p) const {
  ::munmap(p, size);
}

ReadBuffer::ReadBuffer(std::size_t cap)
    : data(nullptr, Unmap{cap + http::json_padding}), capacity(cap) {
  void* p = ::mmap(nullptr, cap + http::json_padding, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  data.reset(static_cast<char*>(p));
}

#if defined(__SANITIZE_ADDRESS__)
#define LITHE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LITHE_ASAN 1
#endif
#endif

namespace {
// Freed heap pages back to the system. Not under AddressSanitizer: the heap is ASan's there,
// and glibc's malloc_trim would set up glibc's unused arenas on first call, racing with another
// worker's first call (a crash seen with two workers).
void trim_heap() {
#if !defined(LITHE_ASAN)
  ::malloc_trim(0);
#endif
}

// Spare objects a loop keeps for the next burst; beyond that they are freed.
constexpr std::size_t pool_keep = 1024;
// Spare read buffers a loop keeps once it has been quiet for a second.
constexpr std::size_t buffer_pool_quiet = 16;
}  // namespace

Worker::Worker(unsigned index, std::shared_ptr<const app::Snapshot> snapshot,
               asio::io_context* loop)
    : index_(index),
      own_io_(loop ? nullptr : std::make_unique<asio::io_context>(1)),
      io_(loop ? *loop : *own_io_),
      snapshot_(std::move(snapshot)),
      settle_(io_),
      clock_(io_),
      deadlines_(io_, &Worker::on_deadline),
      metrics_(std::make_shared<metrics::WorkerMetrics>()),
      scratch_(std::make_unique_for_overwrite<char[]>(scratch_size)),
      request_ids_(index) {
  finished_.reserve(64);  // grows to the deepest pipelined batch once, then stays
  apply_limits();
  open_event_interface();
}

// The io_uring ring or the epoll set, as server.io asks, or LITHE_IO from the environment,
// which overrides it (the test suite runs its integration tests under both interfaces that way).
void Worker::open_event_interface() {
  std::string io = snapshot_->config.server.io;
  if (const char* env = std::getenv("LITHE_IO"); env && *env) {
    const std::string_view v(env);
    if (v == "auto" || v == "epoll" || v == "io_uring")
      io = v;
    else if (index_ == 0)
      spdlog::warn("LITHE_IO={} ignored: not auto, epoll or io_uring", v);
  }
  std::string why;
  if (io != "epoll") ring_ = Ring::open(*this, &why);
  if (ring_)
    ring_->start();
  else if ((epoll_ = EpollSet::open(io_)))
    epoll_->start();
  else  // out of descriptors: each connection is closed as it comes
    spdlog::error("worker {}: epoll_create1: {}", index_, std::strerror(errno));
  if (index_ != 0) return;  // said once, not per worker
  if (ring_)
    spdlog::info("connections use io_uring");
  else if (io == "epoll")
    spdlog::info("connections use epoll");
  else if (io == "io_uring")
    spdlog::warn("server.io = \"io_uring\": {}; connections use epoll", why);
  else
    spdlog::info("io_uring unavailable ({}): connections use epoll", why);
}

// The ring completes what is in flight; the epoll set stops waiting (its connections' aborted
// operations are already posted).
void Worker::drain_event_interface() {
  if (ring_) ring_->drain();
  if (epoll_) epoll_->drain();
}

void Worker::post_snapshot(std::shared_ptr<const app::Snapshot> snapshot) {
  post_from_outside(
      [this, snapshot = std::move(snapshot)]() mutable { set_snapshot(std::move(snapshot)); });
}

void Worker::set_snapshot(std::shared_ptr<const app::Snapshot> snapshot) {
  retired_.push_back(std::move(snapshot_));
  snapshot_ = std::move(snapshot);
  apply_limits();
  for (Session* c : active_)
    if (c->pin_retired()) ++retired_holders_;
  if (retired_holders_ == 0) retired_.clear();
  resume_accepting_if_room();  // max_connections may have grown
}

void Worker::resume_accepting_if_room() {
  if (accept_paused_ && !stopping_ && active_.size() < snapshot_->config.server.max_connections) {
    accept_paused_ = false;
    for (auto& l : listeners_) l->resume();
  }
}

void Worker::release_retired() {
  if (--retired_holders_ == 0) retired_.clear();
}

void Worker::apply_limits() {
  const Config& cfg = snapshot_->config;
  for (uint32_t slot : snapshot_->route_slot) metrics_->routes.ensure(slot);
  exchange_headers_ = cfg.limits.headers;
  // A whole request head always fits, with room for the start of its body.
  buffer_size_ =
      std::max<std::size_t>(16 * 1024, cfg.limits.request_line + cfg.limits.header_section + 4096);
  parser_limits_ = {cfg.limits.request_line, cfg.limits.header_section, cfg.limits.body, true};
  deadlines_.set_duration(Timeout::keepalive, cfg.timeouts.keepalive);
  deadlines_.set_duration(Timeout::header, cfg.timeouts.header);
  deadlines_.set_duration(Timeout::body, cfg.timeouts.body);
  deadlines_.set_duration(Timeout::write, cfg.timeouts.write);
  deadlines_.set_duration(Timeout::linger, std::chrono::seconds(2));
}

void Worker::record_finished() {
  if (finished_.empty()) return;
  const auto now = Clock::now();
  for (const Finished& f : finished_) metrics_->routes.get(f.slot).record(f.status, now - f.start);
  finished_.clear();
}

void Worker::on_deadline(Deadline& deadline, Timeout kind) {
  Session::of(deadline).on_timeout(kind);
}

Worker::~Worker() {
  if (!own_io_) return;  // stop() has let go of the program's loop: nothing refers to us there
  // A connection's read-side operation lives inside it (OpSlot), so its aborted operations must
  // complete before it is freed: the io_context would otherwise destroy them, later, in freed
  // memory. Close whatever is still open, then run just those completions (each closed
  // connection then goes back to the pool).
  stopping_ = true;
  on_drained_ = nullptr;
  auto open = active_;
  for (Session* c : open) c->close();
  for (auto& l : listeners_) l->close();  // a listener's wait lives inside it too
  drain_event_interface();                // the ring's entries complete the same way
  io_.restart();
  io_.poll();
  for (Session* c : active_) delete c;  // none expected: every wait above has completed
  ring_.reset();                        // its lent buffers go before the pool does
}

void Worker::add_listener(std::string key, Acceptor acceptor) {
  listeners_.push_back(std::make_unique<Listener>(*this, std::move(key), std::move(acceptor)));
}

void Worker::post_add_listener(std::string key, Acceptor acceptor) {
  // The acceptor is tied to this io_context already; only its ownership travels.
  auto shared = std::make_shared<Acceptor>(std::move(acceptor));
  post_from_outside([this, key = std::move(key), shared]() mutable {
    if (stopping_ || draining_) return;
    add_listener(std::move(key), std::move(*shared));
    listeners_.back()->start();
    if (accept_paused_) listeners_.back()->pause();
  });
}

void Worker::post_remove_listener(std::string key) {
  post_from_outside([this, key = std::move(key)] {
    for (auto& l : listeners_)
      if (l->key() == key) l->close();  // kept: a cancelled accept may still reference it
  });
}

void Worker::drain(std::function<void()> drained) {
  post_from_outside([this, drained = std::move(drained)]() mutable {
    if (stopping_) return;  // stopped meanwhile, or the worker is being destroyed
    draining_ = true;
    on_drained_ = std::move(drained);
    for (auto& l : listeners_) l->close();
    auto open = active_;  // close_if_idle() may hand a connection back to the pool
    for (Session* c : open)
      if (!c->close_if_idle()) c->on_drain();  // a stream's handler hears of it at once
    check_drained();
  });
}

void Worker::end_streams() {
  post_from_outside([this] {
    if (stopping_) return;
    auto open = active_;  // close() may hand a connection back to the pool
    for (Session* c : open)
      if (!c->end_stream_for_stop()) c->close();
    check_drained();
  });
}

void Worker::check_drained() {
  if (!draining_ || !active_.empty() || !on_drained_) return;
  auto f = std::move(on_drained_);
  on_drained_ = nullptr;
  f();
}

void Worker::run() {
  for (auto& l : listeners_) l->start();
  tick();
  io_.run();
}

void Worker::start() {
  post_from_outside([this] {
    if (stopping_) return;
    for (auto& l : listeners_) l->start();
    tick();
  });
}

void Worker::stop(std::function<void()> left) {
  post_from_outside([this, left = std::move(left)]() mutable {
    if (stopping_ && !own_io_) return;  // a second stop: the first one's `left` will run
    stopping_ = true;
    for (auto& l : listeners_) l->close();
    clock_.cancel();
    deadlines_.shutdown();
    // close() may hand a connection back to the pool: iterate over a copy.
    auto open = active_;
    for (Session* c : open) c->close();
    if (own_io_) return io_.stop();
    on_left_ = std::move(left);
    drain_event_interface();  // the ring's entries complete now; the closed connections go back
    leave_loop();
  });
}

// A program's loop goes on after lithe's stop, so every completion that refers to this worker
// (aborted waits, a coroutine unwinding, work posted by other threads) must have run before
// the worker may go. Those already queued run before a handler posted now; later ones (a
// handler that finishes its own wait first) are waited for at a gentle pace.
void Worker::leave_loop() {
  asio::post(io_, [this] {
    const bool pending =
        !active_.empty() || posted_.load(std::memory_order_acquire) != 0 ||
        std::any_of(listeners_.begin(), listeners_.end(), [](const auto& l) { return !l->idle(); });
    if (!pending) {
      auto left = std::move(on_left_);
      if (left) left();  // the worker may be gone once it returns
      return;
    }
    for (Session* c : std::vector<Session*>(active_)) c->close();
    drain_event_interface();
    settle_.expires_after(std::chrono::milliseconds(1));
    settle_.async_wait([this](const boost::system::error_code&) { leave_loop(); });
  });
}

void Worker::tick() {
  date_.refresh(std::time(nullptr));
  // A burst's spares go back once it has passed: read buffers (mapped, returned at once) and
  // the exchanges and output buffers it took, whose freed heap pages malloc_trim returns.
  if (!buffers_taken_ && !trimmed_) {
    buffer_pool_.trim(buffer_pool_quiet);
    exchange_pool_.trim(buffer_pool_quiet);
    output_pool_.trim(buffer_pool_quiet);
    connection_pool_.trim(buffer_pool_quiet);
    trim_heap();
    trimmed_ = true;
  }
  if (buffers_taken_) trimmed_ = false;
  buffers_taken_ = false;
  clock_.expires_after(std::chrono::seconds(1));
  clock_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
}

std::unique_ptr<ReadBuffer> Worker::take_buffer() {
  buffers_taken_ = true;
  for (;;) {
    auto b = buffer_pool_.take([this] { return std::make_unique<ReadBuffer>(buffer_size_); });
    if (b->capacity == buffer_size_) return b;  // else sized by an old config: dropped
  }
}
void Worker::give_buffer(std::unique_ptr<ReadBuffer> b) {
  if (b->capacity == buffer_size_) buffer_pool_.give(std::move(b), pool_keep);
}

std::unique_ptr<http::Exchange> Worker::take_exchange() {
  for (;;) {
    auto e =
        exchange_pool_.take([this] { return std::make_unique<http::Exchange>(exchange_headers_); });
    if (e->request.max_headers() == exchange_headers_) return e;  // else sized by an old config
  }
}
void Worker::give_exchange(std::unique_ptr<http::Exchange> e) {
  e->next();
  if (e->request.max_headers() == exchange_headers_) exchange_pool_.give(std::move(e), pool_keep);
}

std::unique_ptr<http::OutputBuffer> Worker::take_output() {
  return output_pool_.take([] { return std::make_unique<http::OutputBuffer>(); });
}
void Worker::give_output(std::unique_ptr<http::OutputBuffer> o) {
  output_pool_.give(std::move(o), pool_keep);
}

void Worker::on_accepted(int fd, int family) {
  if (stopping_ || draining_) {
    ::close(fd);
    return;
  }
  std::unique_ptr<Session> c = connection_pool_.take([this]() -> std::unique_ptr<Session> {
    if (ring_) return std::make_unique<Connection<RingTransport>>(*this);
    return std::make_unique<Connection<EpollTransport>>(*this);
  });
  Session* raw = c.release();  // owned by active_ until on_closed
  raw->active_index = static_cast<uint32_t>(active_.size());
  active_.push_back(raw);
  metrics_->connections_accepted.add();
  raw->start(fd, family);
  if (active_.size() >= snapshot_->config.server.max_connections && !accept_paused_) {
    accept_paused_ = true;
    for (auto& l : listeners_) l->pause();
  }
}

void Worker::on_closed(Session* c) {
  metrics_->connections_closed.add();
  // Swap-remove from the open list, then back to the pool.
  const uint32_t i = c->active_index;
  active_[i] = active_.back();
  active_[i]->active_index = i;
  active_.pop_back();
  connection_pool_.give(std::unique_ptr<Session>(c), pool_keep);
  resume_accepting_if_room();
  check_drained();
}

}  // namespace lithe::net
