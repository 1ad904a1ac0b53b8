// lithe::Server: builds the snapshot, binds listeners, runs one worker thread per loop and
// waits for signals on the calling thread.
#include "lithe/server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/signal_set.hpp>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <thread>

#include "app/snapshot.hpp"
#include "handlers/handler.hpp"
#include "log/log.hpp"
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

// A listening socket bound to ep; SO_REUSEPORT lets every worker bind its own.
tcp::acceptor make_acceptor(asio::io_context& io, const tcp::endpoint& ep, int backlog) {
  tcp::acceptor a(io);
  a.open(ep.protocol());
  a.set_option(asio::socket_base::reuse_address(true));
  int one = 1;
  ::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (ep.address().is_v6()) a.set_option(asio::ip::v6_only(true));
  a.bind(ep);
  a.listen(backlog);
  return a;
}

std::string endpoint_text(const tcp::endpoint& ep) {
  if (ep.address().is_v6()) return "[" + ep.address().to_string() + "]:" + std::to_string(ep.port());
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

}  // namespace

struct Server::Impl {
  Config config;
  handlers::Registry registry;
  handlers::ServerState state;
  std::vector<std::unique_ptr<net::Worker>> workers;
  asio::io_context control{1};  // signals and stop requests
  std::mutex mutex;
  std::condition_variable bound_cv;
  bool bind_done = false;
  std::vector<std::string> bound;
  bool stop_requested = false;
};

Server::Server(Config config) : impl_(std::make_unique<Impl>()) { impl_->config = std::move(config); }

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

const Value* RouteOptions::get(std::string_view key) { return options_.get(key); }

std::string RouteOptions::string(std::string_view key, std::string fallback) {
  return options_.string(key).value_or(std::move(fallback));
}

int64_t RouteOptions::integer(std::string_view key, int64_t fallback) {
  return options_.integer(key).value_or(fallback);
}

bool RouteOptions::boolean(std::string_view key, bool fallback) {
  return options_.boolean(key).value_or(fallback);
}

void RouteOptions::error(std::string message) { options_.error(std::move(message)); }

void Server::check() { app::build_snapshot(impl_->config, impl_->registry, impl_->state); }

int Server::run() {
  Impl& s = *impl_;
  std::signal(SIGPIPE, SIG_IGN);
  try {
    log::init(s.config.log);  // embedders get the daemon's logging too
  } catch (const std::exception& e) {
    spdlog::error("cannot open error log: {}", e.what());
    return 1;
  }
  auto mark_bound = [&s](std::vector<std::string> addrs) {
    std::lock_guard lock(s.mutex);
    s.bound = std::move(addrs);
    s.bind_done = true;
    s.bound_cv.notify_all();
  };

  std::shared_ptr<const app::Snapshot> snapshot;
  try {
    snapshot = app::build_snapshot(s.config, s.registry, s.state);
  } catch (const ConfigErrors& e) {
    for (const auto& err : e.errors()) spdlog::error("{}", err.to_string());
    mark_bound({});
    return 1;
  }

  unsigned count = s.config.server.workers;
  if (count == 0) count = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < count; ++i) {
    s.workers.push_back(std::make_unique<net::Worker>(i, snapshot));
    s.state.metrics.workers.push_back(s.workers.back()->metrics_ptr());
  }

  // Bind every address in every worker; an ephemeral port is fixed by the first worker.
  std::vector<std::string> bound;
  for (const ListenAddress& addr : s.config.server.listen) {
    try {
      if (addr.kind != ListenAddress::Kind::tcp)
        throw std::runtime_error("unix sockets are not supported yet");
      tcp::resolver resolver(s.control);
      auto results = resolver.resolve(addr.host, std::to_string(addr.port),
                                      tcp::resolver::numeric_service | tcp::resolver::passive);
      if (results.empty()) throw std::runtime_error("address does not resolve");
      tcp::endpoint ep = results.begin()->endpoint();
      for (auto& w : s.workers) {
        tcp::acceptor a = make_acceptor(w->io(), ep, s.config.server.backlog);
        ep = a.local_endpoint();
        w->add_listener(std::move(a));
      }
      bound.push_back(endpoint_text(ep));
      spdlog::info("listening on {}", endpoint_text(ep));
    } catch (const std::exception& e) {
      spdlog::error("cannot listen on {}: {}", addr.text, e.what());
      s.workers.clear();
      mark_bound({});
      return 2;
    }
  }

  asio::signal_set signals(s.control, SIGINT, SIGTERM);
  signals.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: stopping", sig);
    stop();
  });

  std::vector<std::thread> threads;
  for (auto& w : s.workers) threads.emplace_back([&w] { w->run(); });
  mark_bound(bound);
  bool stop_now;
  {
    std::lock_guard lock(s.mutex);
    stop_now = s.stop_requested;
  }
  if (stop_now) stop();  // outside the lock: stop() takes it
  s.control.run();
  for (auto& w : s.workers) w->stop();
  for (auto& t : threads) t.join();
  s.workers.clear();
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
  s.control.stop();
}

std::vector<std::string> Server::wait_bound() {
  std::unique_lock lock(impl_->mutex);
  impl_->bound_cv.wait(lock, [this] { return impl_->bind_done; });
  return impl_->bound;
}

}  // namespace lithe
