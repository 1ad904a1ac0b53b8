// lithe::Server: builds the snapshot, binds listeners, runs one worker thread per loop and
// waits for signals on the calling thread.
#include "lithe/server.hpp"

#include <fmt/format.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

#include "app/snapshot.hpp"
#include "handlers/handler.hpp"
#include "log/access_log.hpp"
#include "log/log.hpp"
#include "net/systemd.hpp"
#include "net/worker.hpp"

namespace lithe {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// Adapts a registered std::function to the handler runtime interface.
class FunctionHandler final : public handlers::Handler {
 public:
  explicit FunctionHandler(std::shared_ptr<const Server::HandlerFn> fn) : fn_(std::move(fn)) {}
  void handle(const Request& req, http::ResponseImpl& res) override { (*fn_)(req, res); }

 private:
  std::shared_ptr<const Server::HandlerFn> fn_;
};

// Adapts a registered asynchronous function: the response is deferred to a Responder.
class AsyncFunctionHandler final : public handlers::Handler {
 public:
  explicit AsyncFunctionHandler(std::shared_ptr<const Server::AsyncHandlerFn> fn)
      : fn_(std::move(fn)) {}
  void handle(const Request& req, http::ResponseImpl& res) override { (*fn_)(req, res.defer()); }

 private:
  std::shared_ptr<const Server::AsyncHandlerFn> fn_;
};

// Binds one configured address for every worker. TCP: each worker gets its own SO_REUSEPORT
// socket (the kernel spreads connections), the first fixing an ephemeral port. Unix: one socket,
// shared by the workers through duplicated descriptors.
struct Bound {
  std::vector<net::Acceptor> acceptors;  // one per worker, until handed to the workers
  std::string key;                       // the configured address (ListenAddress::text)
  std::string text;                      // "127.0.0.1:41234" or "unix:/path"
  std::string unix_path;                 // removed on exit / when the listener goes away

  void remove_socket_file() const {
    if (!unix_path.empty()) ::unlink(unix_path.c_str());
  }
};

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

net::Acceptor listen_on(asio::io_context& io, const asio::generic::stream_protocol::endpoint& ep,
                        int backlog, bool v6) {
  net::Acceptor a(io);
  a.open(ep.protocol());
  if (ep.protocol().family() != AF_UNIX) {
    a.set_option(asio::socket_base::reuse_address(true));
    int one = 1;
    ::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    net::enable_receive_queue_hint(a.native_handle());
    // TCP_NODELAY (SPEC §8) here: Linux copies it to every socket accepted on this one.
    ::setsockopt(a.native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    // At most this much of a response waits unsent in the kernel, however large the socket
    // buffer grows: a reader that never reads holds 128 KiB, not megabytes, and costs no copy
    // or page reference beyond it. In-flight bytes are not limited, so throughput is not.
    const int unsent = 128 * 1024;
    ::setsockopt(a.native_handle(), IPPROTO_TCP, TCP_NOTSENT_LOWAT, &unsent, sizeof(unsent));
    if (v6) set_v6_only(a.native_handle());
  }
  a.bind(ep);
  a.listen(backlog);
  return a;
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

Bound bind_address(const ListenAddress& addr,
                   const std::vector<std::unique_ptr<net::Worker>>& workers, int backlog) {
  Bound b;
  b.key = addr.text;
  if (addr.kind == ListenAddress::Kind::unix_socket) {
    remove_stale_socket(addr.path);
    asio::local::stream_protocol::endpoint local(addr.path);
    net::Acceptor first = listen_on(
        workers[0]->io(), asio::generic::stream_protocol::endpoint(local), backlog, false);
    if (::chmod(addr.path.c_str(), 0660) != 0)
      spdlog::warn("chmod 0660 {}: {}", addr.path, std::strerror(errno));
    const int fd = first.native_handle();
    const auto protocol = first.local_endpoint().protocol();
    b.acceptors.push_back(std::move(first));
    for (std::size_t i = 1; i < workers.size(); ++i) {
      const int copy = ::dup(fd);
      if (copy < 0) throw std::runtime_error(std::string("dup: ") + std::strerror(errno));
      b.acceptors.emplace_back(workers[i]->io(), protocol, copy);
    }
    b.text = "unix:" + addr.path;
    b.unix_path = addr.path;
    return b;
  }
  asio::io_context resolver_io;
  tcp::resolver resolver(resolver_io);
  auto results = resolver.resolve(addr.host, std::to_string(addr.port),
                                  tcp::resolver::numeric_service | tcp::resolver::passive);
  if (results.empty()) throw std::runtime_error("address does not resolve");
  tcp::endpoint ep = results.begin()->endpoint();
  if (ep.port() != 0) refuse_if_listened_on(ep);
  for (auto& w : workers) {
    net::Acceptor a = listen_on(w->io(), asio::generic::stream_protocol::endpoint(ep), backlog,
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

// Writes the pid after binding; removes the file when the server stops, or when a reload
// names another path (as nginx does: the new file is written first, then the old one goes).
class PidFile {
 public:
  PidFile() = default;
  // Throws std::system_error when the file cannot be written.
  explicit PidFile(std::string path) : path_(std::move(path)) {
    if (path_.empty()) return;
    std::FILE* f = std::fopen(path_.c_str(), "we");
    if (!f) throw std::system_error(errno, std::generic_category(), "cannot write " + path_);
    std::fprintf(f, "%d\n", static_cast<int>(::getpid()));
    std::fclose(f);
  }
  ~PidFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  PidFile(PidFile&& other) noexcept : path_(std::exchange(other.path_, {})) {}
  PidFile& operator=(PidFile&& other) noexcept {
    if (this != &other) {
      if (!path_.empty()) ::unlink(path_.c_str());
      path_ = std::exchange(other.path_, {});
    }
    return *this;
  }

 private:
  std::string path_;  // empty: no file (none configured, or it could not be written)
};

// "routes: +2 -1 ~1 (+GET /a, ...)": what a reload changed, for its one log line.
std::string route_key(const RouteConfig& r) {
  std::string methods;
  for (const auto& m : r.methods) methods += (methods.empty() ? "" : ",") + m;
  return methods + " " + r.path;
}

bool same_value(const Value& a, const Value& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::Kind::boolean:
      return a.boolean == b.boolean;
    case Value::Kind::integer:
      return a.integer == b.integer;
    case Value::Kind::floating:
      return a.floating == b.floating;
    case Value::Kind::string:
    case Value::Kind::datetime:
      return a.string == b.string;
    case Value::Kind::array:
      if (a.array.size() != b.array.size()) return false;
      for (std::size_t i = 0; i < a.array.size(); ++i)
        if (!same_value(a.array[i], b.array[i])) return false;
      return true;
    case Value::Kind::table:
      if (a.table.size() != b.table.size()) return false;
      for (std::size_t i = 0; i < a.table.size(); ++i)
        if (a.table[i].first != b.table[i].first ||
            !same_value(a.table[i].second, b.table[i].second))
          return false;
      return true;
  }
  return false;
}

std::string route_changes(const Config& before, const Config& after) {
  std::vector<std::string> added, removed, changed;
  for (const RouteConfig& r : after.routes) {
    auto it = std::find_if(before.routes.begin(), before.routes.end(),
                           [&](const RouteConfig& o) { return route_key(o) == route_key(r); });
    if (it == before.routes.end())
      added.push_back(route_key(r));
    else if (it->handler != r.handler || !same_value(it->options, r.options))
      changed.push_back(route_key(r));
  }
  for (const RouteConfig& r : before.routes) {
    if (std::none_of(after.routes.begin(), after.routes.end(),
                     [&](const RouteConfig& n) { return route_key(n) == route_key(r); }))
      removed.push_back(route_key(r));
  }
  std::string out = fmt::format("routes +{} -{} ~{}", added.size(), removed.size(), changed.size());
  auto list = [&out](char sign, const std::vector<std::string>& v) {
    for (const auto& k : v) out += fmt::format(", {}{}", sign, k);
  };
  list('+', added);
  list('-', removed);
  list('~', changed);
  return out;
}

}  // namespace

struct Server::Impl {
  Config config;  // the config in force (after overrides)
  std::optional<std::vector<ListenAddress>> listen_override;  // -l: kept across reloads
  std::optional<unsigned> workers_override;                   // -w: kept across reloads
  handlers::Registry registry;
  handlers::ServerState state;
  std::vector<std::unique_ptr<net::Worker>> workers;
  std::vector<Bound> listeners;  // acceptors handed out; key, text and path kept
  asio::io_context control{1};   // signals and stop requests
  std::mutex mutex;
  std::mutex reload_mutex;  // one reload at a time
  std::condition_variable bound_cv;
  bool bind_done = false;
  std::vector<std::string> bound;
  bool stop_requested = false;
  bool running = false;
  bool graceful = false;  // a graceful stop is under way (a second signal stops at once)
  std::size_t draining_workers = 0;
  std::unique_ptr<asio::steady_timer> shutdown_timer;

  PidFile pid_file;                            // server.pid_file, while running
  std::shared_ptr<log::AccessLog> access_log;  // the one in force (null when off)
  LogConfig access_config;                     // what it was opened for

  // The access log for cfg: the running one when its destination and format are unchanged.
  std::shared_ptr<log::AccessLog> access_log_for(const LogConfig& cfg) {
    if (access_log && cfg.access == access_config.access &&
        cfg.access_format == access_config.access_format)
      return access_log;
    return std::shared_ptr<log::AccessLog>(log::AccessLog::open(cfg));
  }

  void apply_overrides(Config& c) const {
    if (listen_override) c.server.listen = *listen_override;
    if (workers_override) c.server.workers = *workers_override;
  }
  void remove_socket_files() {
    for (const Bound& b : listeners) b.remove_socket_file();
  }
  bool listening_on(const std::string& key) const {
    return std::any_of(listeners.begin(), listeners.end(),
                       [&](const Bound& b) { return b.key == key; });
  }
};

Server::Server(Config config) : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
}

Server::~Server() = default;

void Server::handle(std::string name, HandlerFn fn) {
  auto shared = std::make_shared<const HandlerFn>(std::move(fn));
  impl_->registry.add(std::move(name), [shared](handlers::BuildContext& ctx) {
    ctx.options.finish();
    return std::make_unique<FunctionHandler>(shared);
  });
}

void Server::handle_factory(std::string name, HandlerFactory factory) {
  auto shared = std::make_shared<const HandlerFactory>(std::move(factory));
  impl_->registry.add(std::move(name), [shared](handlers::BuildContext& ctx) {
    RouteOptions options(ctx.options);
    auto fn = std::make_shared<const HandlerFn>((*shared)(options));
    ctx.options.finish();
    return std::make_unique<FunctionHandler>(std::move(fn));
  });
}

void Server::handle_async(std::string name, AsyncHandlerFn fn) {
  auto shared = std::make_shared<const AsyncHandlerFn>(std::move(fn));
  impl_->registry.add(std::move(name), [shared](handlers::BuildContext& ctx) {
    ctx.options.finish();
    return std::make_unique<AsyncFunctionHandler>(shared);
  });
}

const Value* RouteOptions::get(std::string_view key) {
  return options_.get(key);
}

std::string RouteOptions::string(std::string_view key, std::string fallback) {
  return options_.string(key).value_or(std::move(fallback));
}

int64_t RouteOptions::integer(std::string_view key, int64_t fallback) {
  return options_.integer(key).value_or(fallback);
}

bool RouteOptions::boolean(std::string_view key, bool fallback) {
  return options_.boolean(key).value_or(fallback);
}

void RouteOptions::error(std::string message) {
  options_.error(std::move(message));
}

void Server::check() {
  app::build_snapshot(impl_->config, impl_->registry, impl_->state);
}

void Server::override_listen(std::vector<ListenAddress> listen) {
  impl_->listen_override = std::move(listen);
  impl_->config.server.listen = *impl_->listen_override;
}

void Server::override_workers(unsigned workers) {
  impl_->workers_override = workers;
  impl_->config.server.workers = workers;
}

int Server::run() {
  Impl& s = *impl_;
  std::signal(SIGPIPE, SIG_IGN);
  try {
    log::init(s.config.log);  // embedders get the daemon's logging too
  } catch (const std::exception& e) {
    spdlog::error("cannot open log: {}", e.what());
    return 1;
  }
  auto mark_bound = [&s](std::vector<std::string> addrs) {
    std::lock_guard lock(s.mutex);
    s.bound = std::move(addrs);
    s.bind_done = true;
    s.bound_cv.notify_all();
  };

  std::shared_ptr<app::Snapshot> snapshot;
  try {
    snapshot = app::build_snapshot(s.config, s.registry, s.state);
    snapshot->access_log = s.access_log = s.access_log_for(s.config.log);
    s.access_config = s.config.log;
  } catch (const ConfigErrors& e) {
    for (const auto& err : e.errors()) spdlog::error("{}", err.to_string());
    mark_bound({});
    return 1;
  } catch (const std::exception& e) {
    spdlog::error("cannot open access log: {}", e.what());
    mark_bound({});
    return 1;
  }

  // The handlers are in place before anything announces the server (the "listening on" lines,
  // the pid file, READY=1): a supervisor that signals at once must not meet SIGHUP's or
  // SIGTERM's default action. A signal that comes before run() below is handled once it runs.
  asio::signal_set signals(s.control, SIGINT, SIGTERM, SIGHUP);
  signals.add(SIGUSR1);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [this, &signals, &on_signal](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
          spdlog::info("SIGHUP: reloading {}", impl_->config.source);
          reload();
        } else if (sig == SIGUSR1) {
          log::reopen();
          spdlog::info("SIGUSR1: log files reopened");
        } else if (impl_->graceful) {
          spdlog::info("signal {} again: stopping now", sig);
          stop();
        } else {
          spdlog::info("signal {}: graceful stop (at most {} ms)", sig,
                       impl_->config.timeouts.shutdown.count());
          begin_graceful_stop();
        }
        signals.async_wait(on_signal);
      };
  signals.async_wait(on_signal);

  unsigned count = s.config.server.workers;
  if (count == 0) count = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < count; ++i) {
    s.workers.push_back(std::make_unique<net::Worker>(i, snapshot));
    s.state.metrics.workers.push_back(s.workers.back()->metrics_ptr());
  }
  snapshot.reset();  // the workers' now: the first reload must be able to retire it

  std::vector<std::string> bound;
  for (const ListenAddress& addr : s.config.server.listen) {
    try {
      Bound b = bind_address(addr, s.workers, s.config.server.backlog);
      for (std::size_t i = 0; i < s.workers.size(); ++i)
        s.workers[i]->add_listener(b.key, std::move(b.acceptors[i]));
      b.acceptors.clear();
      bound.push_back(b.text);
      spdlog::info("listening on {}", b.text);
      s.listeners.push_back(std::move(b));
    } catch (const std::exception& e) {
      spdlog::error("cannot listen on {}: {}", addr.text, e.what());
      s.workers.clear();
      s.remove_socket_files();
      mark_bound({});
      return 2;
    }
  }
  try {
    s.pid_file = PidFile(s.config.server.pid_file);
  } catch (const std::system_error& e) {
    spdlog::error("{}", e.what());  // serving matters more than the file: run on without it
  }

  std::vector<std::thread> threads;
  for (auto& w : s.workers) threads.emplace_back([&w] { w->run(); });
  {
    std::lock_guard lock(s.mutex);
    s.running = true;
  }
  mark_bound(bound);
  net::notify_ready();  // every listener is bound and the workers run
  bool stop_now;
  {
    std::lock_guard lock(s.mutex);
    stop_now = s.stop_requested;
  }
  if (stop_now) stop();  // outside the lock: stop() takes it
  s.control.run();
  for (auto& w : s.workers) w->stop();
  for (auto& t : threads) t.join();
  {
    std::lock_guard lock(s.mutex);
    s.running = false;
  }
  s.workers.clear();
  s.remove_socket_files();
  s.pid_file = PidFile();
  s.access_log.reset();  // the last snapshot went with the workers: this writes out the queue
  log::flush();
  spdlog::info("stopped");
  return 0;
}

void Server::stop() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mutex);
    s.stop_requested = true;
  }
  s.state.draining = true;
  net::notify_stopping();
  s.control.stop();
}

void Server::shutdown() {
  asio::post(impl_->control, [this] {
    if (!impl_->graceful) begin_graceful_stop();
  });
}

// On the control thread: every worker drains; the last one to finish (or the shutdown
// timeout) ends run().
void Server::begin_graceful_stop() {
  Impl& s = *impl_;
  s.graceful = true;
  s.state.draining = true;  // health answers 503 from now on
  net::notify_stopping();
  s.draining_workers = s.workers.size();
  s.shutdown_timer = std::make_unique<asio::steady_timer>(s.control, s.config.timeouts.shutdown);
  s.shutdown_timer->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    spdlog::warn("shutdown timeout: closing the remaining connections");
    stop();
  });
  for (auto& w : s.workers) {
    w->drain([this] {
      asio::post(impl_->control, [this] {
        if (--impl_->draining_workers == 0) {
          spdlog::info("drained");
          stop();
        }
      });
    });
  }
}

bool Server::reload() {
  Impl& s = *impl_;
  std::lock_guard reload_lock(s.reload_mutex);
  if (s.state.draining.load()) {
    // The stop closed the listeners: a reload must not open them again.
    spdlog::warn("reload ignored: the server is stopping");
    return false;
  }
  net::notify_reloading();
  auto done = [](bool ok) {
    net::notify_ready();
    return ok;
  };
  Config next;
  std::shared_ptr<app::Snapshot> snapshot;
  try {
    next = s.config.source == "<default>" ? default_config() : load_config(s.config.source);
    s.apply_overrides(next);
    snapshot = app::build_snapshot(next, s.registry, s.state);
  } catch (const ConfigErrors& e) {
    for (const auto& err : e.errors()) spdlog::error("{}", err.to_string());
    spdlog::error("reload refused: the running config stays");
    return done(false);
  }
  if (next.server.workers != s.config.server.workers)
    spdlog::warn("reload: server.workers changes on restart only");
  if (next.server.io != s.config.server.io)
    spdlog::warn("reload: server.io changes on restart only");

  std::unique_lock lock(s.mutex);
  if (!s.running) return done(false);
  // Listeners: bind the added ones first, so a failure changes nothing.
  std::vector<Bound> added;
  auto refuse = [&](std::string_view what, const std::exception& e) {
    spdlog::error("reload refused: {}: {}", what, e.what());
    for (const Bound& b : added) b.remove_socket_file();
    return done(false);
  };
  for (const ListenAddress& addr : next.server.listen) {
    if (s.listening_on(addr.text)) continue;
    try {
      added.push_back(bind_address(addr, s.workers, next.server.backlog));
    } catch (const std::exception& e) {
      return refuse("cannot listen on " + addr.text, e);
    }
  }
  // A new pid file path: written now, so that a failure refuses the reload as nginx does; the
  // old file is removed once the reload is in force.
  PidFile moved_pid_file;
  if (next.server.pid_file != s.config.server.pid_file) {
    try {
      moved_pid_file = PidFile(next.server.pid_file);
    } catch (const std::exception& e) {
      return refuse("pid file", e);
    }
  }
  try {
    // The access log first: when it cannot be opened, the error log has not moved either.
    snapshot->access_log = s.access_log_for(next.log);
    log::reconfigure(next.log);
  } catch (const std::exception& e) {
    return refuse("cannot open log", e);
  }
  std::vector<std::string> listen_changes;
  for (Bound& b : added) {
    for (std::size_t i = 0; i < s.workers.size(); ++i)
      s.workers[i]->post_add_listener(b.key, std::move(b.acceptors[i]));
    b.acceptors.clear();
    spdlog::info("listening on {}", b.text);
    listen_changes.push_back("+" + b.text);
    s.listeners.push_back(std::move(b));
  }
  std::erase_if(s.listeners, [&](const Bound& b) {
    if (std::any_of(next.server.listen.begin(), next.server.listen.end(),
                    [&](const ListenAddress& a) { return a.text == b.key; }))
      return false;
    for (auto& w : s.workers) w->post_remove_listener(b.key);
    spdlog::info("no longer listening on {}", b.text);
    listen_changes.push_back("-" + b.text);
    b.remove_socket_file();
    return true;
  });
  for (auto& w : s.workers) w->post_snapshot(snapshot);
  std::string summary = route_changes(s.config, next);
  for (const auto& c : listen_changes) summary += ", listen " + c;
  if (next.server.pid_file != s.config.server.pid_file) s.pid_file = std::move(moved_pid_file);
  s.access_log = snapshot->access_log;
  s.access_config = next.log;
  s.config = std::move(next);
  s.state.metrics.reloads.add();
  lock.unlock();
  spdlog::info("reloaded {}: {}", s.config.source, summary);
  return done(true);
}

std::vector<std::string> Server::wait_bound() {
  std::unique_lock lock(impl_->mutex);
  impl_->bound_cv.wait(lock, [this] { return impl_->bind_done; });
  return impl_->bound;
}

}  // namespace lithe
