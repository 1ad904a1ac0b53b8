// lithe::Server: builds the snapshot, binds listeners, runs one worker thread per loop and
// waits for signals on the calling thread; or serves from a program's own loops (start()).
#include "lithe/server.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include "app/snapshot.hpp"
#include "base/method.hpp"
#include "handlers/handler.hpp"
#include "log/access_log.hpp"
#include "log/log.hpp"
#include "net/bind.hpp"
#include "net/systemd.hpp"
#include "net/worker.hpp"
#include "server/coroutine_handler.hpp"
#include "server/pid_file.hpp"
#include "server/route_changes.hpp"

namespace lithe {

namespace asio = boost::asio;

namespace {

// At the end of a graceful stop, how long streams get to write their last chunk.
constexpr std::chrono::milliseconds stream_end_grace{500};

// Adapts a registered std::function to the handler runtime interface.
class FunctionHandler final : public handlers::Handler {
 public:
  explicit FunctionHandler(std::shared_ptr<const Server::HandlerFn> fn) : fn_(std::move(fn)) {}
  void handle(const Request& req, Response& res) override { (*fn_)(req, res); }

 private:
  std::shared_ptr<const Server::HandlerFn> fn_;
};

// Adapts a registered asynchronous function: the response is deferred to a Responder.
class AsyncFunctionHandler final : public handlers::Handler {
 public:
  explicit AsyncFunctionHandler(std::shared_ptr<const Server::AsyncHandlerFn> fn)
      : fn_(std::move(fn)) {}
  void handle(const Request& req, Response& res) override { (*fn_)(req, res.defer()); }

 private:
  std::shared_ptr<const Server::AsyncHandlerFn> fn_;
};

}  // namespace

struct Server::Impl {
  Config config;  // the config in force (after overrides)
  std::optional<std::vector<ListenAddress>> listen_override;  // -l: kept across reloads
  std::optional<unsigned> workers_override;                   // -w: kept across reloads
  std::vector<RouteConfig> code_routes;                       // route(): kept across reloads
  bool own_signals = true;  // handle_signals(): the daemon's signal handling
  bool own_logging = true;  // configure_logging(): spdlog's default logger from [log]
  handlers::Registry registry;
  handlers::ServerState state;
  std::vector<std::unique_ptr<net::Worker>> workers;
  std::vector<net::BoundAddress> listeners;  // acceptors handed out; key, text and path kept
  net::InheritedSockets inherited;  // passed by a service manager, until a listener takes them
  asio::io_context control{1};      // signals and stop requests
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

  server::PidFile pid_file;                    // server.pid_file, while running
  std::shared_ptr<log::AccessLog> access_log;  // the one in force (null when off)
  LogConfig access_config;                     // what it was opened for

  // start(): the workers serve from the program's loops; the first one runs what the control
  // loop runs for run() (the graceful stop's timer and bookkeeping).
  bool embedded = false;
  std::optional<asio::any_io_executor> program_control;
  std::function<void()> on_stopped;     // start()'s: lithe has let go of every loop
  bool leaving = false;                 // stop() has asked the workers to let go
  std::atomic<std::size_t> serving{0};  // workers that have not let go of their loop yet

  asio::any_io_executor control_executor() {
    return program_control ? *program_control : control.get_executor();
  }

  std::vector<std::string> bound_texts() const {
    std::vector<std::string> texts;
    for (const net::BoundAddress& b : listeners) texts.push_back(b.text);
    return texts;
  }
  void mark_bound(std::vector<std::string> addrs) {
    std::lock_guard lock(mutex);
    bound = std::move(addrs);
    bind_done = true;
    bound_cv.notify_all();
  }

  // What run() and start() share: the log, the snapshot, a worker per entry of loops (null:
  // a loop of its own), the listeners and the pid file. 0, or run()'s status for a failure.
  int open(const std::vector<asio::io_context*>& loops);
  // After the workers: sockets' files, the pid file and the access log's queue.
  void close_down();

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
    c.routes.insert(c.routes.end(), code_routes.begin(), code_routes.end());
  }
  void remove_socket_files() {
    for (const net::BoundAddress& b : listeners) b.remove_socket_file();
  }
  bool listening_on(const std::string& key) const {
    return std::any_of(listeners.begin(), listeners.end(),
                       [&](const net::BoundAddress& b) { return b.key == key; });
  }
};

Server::Server(Config config) : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
}

Server::~Server() {
  Impl& s = *impl_;
  if (!s.embedded ||
      std::none_of(s.workers.begin(), s.workers.end(), [](const auto& w) { return w != nullptr; }))
    return;
  // Started on a program's loops and not let go of them: their pending operations refer to
  // the workers, which must then outlive this object.
  spdlog::error(
      "lithe::Server destroyed while serving on the program's loops; call stop() and "
      "wait for start()'s callback first");
  for (auto& w : s.workers) (void)w.release();
}

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

void Server::use(Middleware hooks) {
  impl_->registry.add_middleware("", std::move(hooks));
}

void Server::use(std::string name, Middleware hooks) {
  if (name.empty()) throw std::invalid_argument("server.use: a middleware name must not be empty");
  impl_->registry.add_middleware(std::move(name), std::move(hooks));
}

void Server::handle_co(std::string name, CoHandlerFn fn) {
  handle_async(name, server::coroutine_handler(name, std::move(fn)));
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

const Config& RouteOptions::config() const {
  return options_.config();
}

void RouteOptions::error(std::string message) {
  options_.error(std::move(message));
}

void Server::route(std::vector<std::string> methods, std::string path, std::string name,
                   CallSite where) {
  RouteConfig r;
  r.source = where.file;
  r.pos = r.path_pos = r.methods_pos = r.handler_pos = {where.line, where.column};
  for (const std::string& m : methods)
    if (!(m == "*" && methods.size() == 1) && !base::method_from_name(m))
      throw std::invalid_argument("server.route: unknown method \"" + m + "\"");
  if (!methods.empty()) r.methods = std::move(methods);
  r.path = std::move(path);
  r.handler = std::move(name);
  impl_->code_routes.push_back(r);
  impl_->config.routes.push_back(std::move(r));
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

int Server::Impl::open(const std::vector<asio::io_context*>& loops) {
  try {
    if (own_logging) log::init(config.log);
  } catch (const std::exception& e) {
    spdlog::error("cannot open log: {}", e.what());
    mark_bound({});
    return 1;
  }
  std::shared_ptr<app::Snapshot> snapshot;
  try {
    snapshot = app::build_snapshot(config, registry, state);
    snapshot->access_log = access_log = access_log_for(config.log);
    access_config = config.log;
  } catch (const ConfigErrors& e) {
    for (const auto& err : e.errors()) spdlog::error("{}", err.to_string());
    mark_bound({});
    return 1;
  } catch (const std::exception& e) {
    spdlog::error("cannot open access log: {}", e.what());
    mark_bound({});
    return 1;
  }

  for (std::size_t i = 0; i < loops.size(); ++i) {
    workers.push_back(std::make_unique<net::Worker>(static_cast<unsigned>(i), snapshot, loops[i]));
    state.metrics.workers.push_back(workers.back()->metrics_ptr());
  }
  snapshot.reset();  // the workers' now: the first reload must be able to retire it

  std::vector<std::string> addresses;
  inherited = net::InheritedSockets::from_environment();
  for (const ListenAddress& addr : config.server.listen) {
    try {
      net::BoundAddress b = net::bind_address(addr, workers, config.server.backlog, inherited);
      for (std::size_t i = 0; i < workers.size(); ++i)
        workers[i]->add_listener(b.key, std::move(b.acceptors[i]));
      b.acceptors.clear();
      addresses.push_back(b.text);
      spdlog::info("listening on {}{}", b.text,
                   b.inherited ? " (passed by the service manager)" : "");
      listeners.push_back(std::move(b));
    } catch (const std::exception& e) {
      spdlog::error("cannot listen on {}: {}", addr.text, e.what());
      workers.clear();
      remove_socket_files();
      mark_bound({});
      return 2;
    }
  }
  // A socket the service manager listens on for lithe, which no listen address names: its
  // connections would wait unanswered. The unit's sockets and the config must agree.
  if (!inherited.empty()) {
    for (const std::string& socket : inherited.untaken())
      spdlog::error("inherited socket {} matches no listen address", socket);
    workers.clear();
    remove_socket_files();
    mark_bound({});
    return 2;
  }
  try {
    pid_file = server::PidFile(config.server.pid_file);
  } catch (const std::system_error& e) {
    spdlog::error("{}", e.what());  // serving matters more than the file: run on without it
  }
  return 0;
}

void Server::Impl::close_down() {
  {
    std::lock_guard lock(mutex);
    running = false;
  }
  workers.clear();
  remove_socket_files();
  pid_file = server::PidFile();
  access_log.reset();  // the last snapshot went with the workers: this writes out the queue
  log::flush();
  spdlog::info("stopped");
}

int Server::run() {
  Impl& s = *impl_;
  if (s.own_signals) std::signal(SIGPIPE, SIG_IGN);

  // The handlers are in place before anything announces the server (the "listening on" lines,
  // the pid file, READY=1): a supervisor that signals at once must not meet SIGHUP's or
  // SIGTERM's default action. A signal that comes before run() below is handled once it runs.
  std::optional<asio::signal_set> signals;
  if (s.own_signals) {
    signals.emplace(s.control, SIGINT, SIGTERM, SIGHUP);
    signals->add(SIGUSR1);
  }
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [this, &signals, &on_signal](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
          spdlog::info("SIGHUP: reloading {}", impl_->config.source);
          reload();
        } else if (sig == SIGUSR1) {
          reopen_logs();
          spdlog::info("SIGUSR1: log files reopened");
        } else if (impl_->graceful) {
          spdlog::info("signal {} again: stopping now", sig);
          stop();
        } else {
          spdlog::info("signal {}: graceful stop (at most {} ms)", sig,
                       impl_->config.timeouts.shutdown.count());
          begin_graceful_stop();
        }
        signals->async_wait(on_signal);
      };
  if (signals) signals->async_wait(on_signal);

  unsigned count = s.config.server.workers;
  if (count == 0) count = std::max(1u, std::thread::hardware_concurrency());
  if (int status = s.open(std::vector<asio::io_context*>(count, nullptr)); status != 0)
    return status;

  std::vector<std::thread> threads;
  for (auto& w : s.workers) threads.emplace_back([&w] { w->run(); });
  {
    std::lock_guard lock(s.mutex);
    s.running = true;
  }
  s.mark_bound(s.bound_texts());
  net::notify_ready();  // every listener is bound and the workers run
  bool stop_now;
  {
    std::lock_guard lock(s.mutex);
    stop_now = s.stop_requested;
  }
  if (stop_now) stop();  // outside the lock: stop() takes it
  // Serving until stop(), with or without a signal wait pending on the control loop.
  auto serving = asio::make_work_guard(s.control);
  s.control.run();
  for (auto& w : s.workers) w->stop();
  for (auto& t : threads) t.join();
  s.close_down();
  return 0;
}

int Server::start(std::vector<asio::io_context*> loops, std::function<void()> stopped) {
  Impl& s = *impl_;
  if (loops.empty() || std::find(loops.begin(), loops.end(), nullptr) != loops.end())
    throw std::invalid_argument("lithe::Server::start: one io_context or more, none null");
  if (s.embedded || s.running) throw std::logic_error("lithe::Server::start: already started");
  s.embedded = true;
  s.program_control = loops.front()->get_executor();
  s.on_stopped = std::move(stopped);
  s.workers_override = static_cast<unsigned>(loops.size());  // and on every reload
  s.config.server.workers = *s.workers_override;
  if (int status = s.open(loops); status != 0) return status;

  for (auto& w : s.workers) w->start();
  {
    std::lock_guard lock(s.mutex);
    s.running = true;
  }
  s.mark_bound(s.bound_texts());
  net::notify_ready();
  bool stop_now;
  {
    std::lock_guard lock(s.mutex);
    stop_now = s.stop_requested;
  }
  if (stop_now) stop();
  return 0;
}

void Server::handle_signals(bool on) {
  impl_->own_signals = on;
}

void Server::configure_logging(bool on) {
  impl_->own_logging = on;
}

void Server::reopen_logs() {
  log::reopen();
}

void Server::stop() {
  Impl& s = *impl_;
  bool leave = false;
  {
    std::lock_guard lock(s.mutex);
    s.stop_requested = true;
    leave = s.embedded && s.running && !std::exchange(s.leaving, true);
  }
  s.state.draining = true;
  net::notify_stopping();
  if (!s.embedded) return s.control.stop();
  if (!leave) return;  // not started yet (start() stops at once), or stopping already
  // Each worker goes on its own loop once it has let go of it; the last one closes down.
  s.serving = s.workers.size();
  for (std::size_t i = 0; i < s.workers.size(); ++i) {
    s.workers[i]->stop([this, i] {
      Impl& self = *impl_;
      self.workers[i].reset();
      if (--self.serving != 0) return;
      if (self.shutdown_timer) self.shutdown_timer->cancel();
      self.close_down();
      if (auto stopped = std::move(self.on_stopped)) stopped();
    });
  }
}

void Server::shutdown() {
  asio::post(impl_->control_executor(), [this] {
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
  s.shutdown_timer =
      std::make_unique<asio::steady_timer>(s.control_executor(), s.config.timeouts.shutdown);
  s.shutdown_timer->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    spdlog::warn("shutdown timeout: ending streams, closing the remaining connections");
    // A stream ends with its last chunk, so a proxy sees a whole response: that much is
    // written, for a moment at most, before the stop.
    for (auto& w : impl_->workers) w->end_streams();
    impl_->shutdown_timer->expires_after(stream_end_grace);
    impl_->shutdown_timer->async_wait([this](const boost::system::error_code& e) {
      if (!e) stop();
    });
  });
  for (auto& w : s.workers) {
    w->drain([this] {
      asio::post(impl_->control_executor(), [this] {
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
  std::vector<net::BoundAddress> added;
  auto refuse = [&](std::string_view what, const std::exception& e) {
    spdlog::error("reload refused: {}: {}", what, e.what());
    for (const net::BoundAddress& b : added) b.remove_socket_file();
    return done(false);
  };
  for (const ListenAddress& addr : next.server.listen) {
    if (s.listening_on(addr.text)) continue;
    try {
      added.push_back(net::bind_address(addr, s.workers, next.server.backlog, s.inherited));
    } catch (const std::exception& e) {
      return refuse("cannot listen on " + addr.text, e);
    }
  }
  // A new pid file path: written now, so that a failure refuses the reload as nginx does; the
  // old file is removed once the reload is in force.
  server::PidFile moved_pid_file;
  if (next.server.pid_file != s.config.server.pid_file) {
    try {
      moved_pid_file = server::PidFile(next.server.pid_file);
    } catch (const std::exception& e) {
      return refuse("pid file", e);
    }
  }
  try {
    // The access log first: when it cannot be opened, the error log has not moved either.
    snapshot->access_log = s.access_log_for(next.log);
    if (s.own_logging) log::reconfigure(next.log);
  } catch (const std::exception& e) {
    return refuse("cannot open log", e);
  }
  std::vector<std::string> listen_changes;
  for (net::BoundAddress& b : added) {
    for (std::size_t i = 0; i < s.workers.size(); ++i)
      s.workers[i]->post_add_listener(b.key, std::move(b.acceptors[i]));
    b.acceptors.clear();
    spdlog::info("listening on {}", b.text);
    listen_changes.push_back("+" + b.text);
    s.listeners.push_back(std::move(b));
  }
  std::erase_if(s.listeners, [&](const net::BoundAddress& b) {
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
  std::string summary = server::route_changes(s.config, next);
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
