// The embeddable server: the same daemon `lithe` runs, with handlers a program registers.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <version>
#if defined(__cpp_lib_source_location)
#include <source_location>
#endif
#include <string>
#include <vector>

#include "lithe/body_reader.hpp"
#include "lithe/config.hpp"
#include "lithe/middleware.hpp"
#include "lithe/prepared.hpp"
#include "lithe/request.hpp"
#include "lithe/responder.hpp"
#include "lithe/response.hpp"
#include "lithe/stream.hpp"

namespace lithe {

namespace handlers {
class Options;
}

// A route's handler options, as a factory registered with Server::handle sees them. Every key
// the factory does not read is a config error (FILE:LINE:COL), like any unknown key.
class RouteOptions {
 public:
  explicit RouteOptions(handlers::Options& options) : options_(options) {}
  // The option's value (any TOML value), or nullptr when absent.
  const Value* get(std::string_view key);
  std::string string(std::string_view key, std::string fallback);
  int64_t integer(std::string_view key, int64_t fallback);
  bool boolean(std::string_view key, bool fallback);
  // Records a config error at the route's handler key; the config is then refused.
  void error(std::string message);
  // The config being loaded, e.g. server.server_header for a PreparedResponse.
  const Config& config() const;

 private:
  handlers::Options& options_;
};

// Where a call was written, for errors that point at the caller's code: std::source_location
// where the library has it, else the compiler's builtins (clang 14 with libstdc++ 12 lacks it;
// the column is then clang's, or 0).
struct CallSite {
#if defined(__cpp_lib_source_location)
  static constexpr CallSite here(std::source_location at = std::source_location::current()) {
    return {at.file_name(), at.line(), at.column()};
  }
#elif defined(__has_builtin) && __has_builtin(__builtin_COLUMN)
  static constexpr CallSite here(const char* file = __builtin_FILE(),
                                 unsigned line = __builtin_LINE(),
                                 unsigned column = __builtin_COLUMN()) {
    return {file, line, column};
  }
#else
  static constexpr CallSite here(const char* file = __builtin_FILE(),
                                 unsigned line = __builtin_LINE()) {
    return {file, line, 0};
  }
#endif
  const char* file;
  unsigned line;
  unsigned column;
};

class Server {
 public:
  using HandlerFn = std::function<void(const Request&, Response&)>;
  // Answers later: fill responder.response() and call responder.send() from the same loop
  // (responder.io()), after a timer or other I/O.
  using AsyncHandlerFn = std::function<void(const Request&, Responder)>;
  // A coroutine: it co_awaits timers and I/O on the worker's loop, and its answer goes out
  // when it returns.
  using CoHandlerFn = std::function<boost::asio::awaitable<void>(const Request&, Response&)>;
  // Builds a route's handler from its options table, once per route at load.
  using HandlerFactory = std::function<HandlerFn(RouteOptions&)>;

  explicit Server(Config config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Makes `handler = "name"` in a [[route]] call fn. A handler that throws yields a 500.
  void handle(std::string name, HandlerFn fn);
  // The factory form: a TOML route configures the C++ handler through its own options.
  void handle_factory(std::string name, HandlerFactory factory);
  // The asynchronous form. A throw before send() yields a 500, as for handle().
  void handle_async(std::string name, AsyncHandlerFn fn);
  // The coroutine form (lithe/coro.hpp for streaming). req and res stay valid until it returns
  // or is cancelled: Asio's cancellation slot is emitted when the client goes away, the
  // handler deadline passes or the server stops, and the co_await in progress then throws.
  // A throw out of it yields a 500, as for handle().
  void handle_co(std::string name, CoHandlerFn fn);

  // Middleware (lithe/middleware.hpp) around every request, routed or not (404, 405...), in
  // the order of these calls.
  void use(Middleware hooks);
  // Middleware for the routes that list name (`middleware = ["name"]`), after the hooks for
  // every request. A route naming an unknown one is a config error.
  void use(std::string name, Middleware hooks);

  // Adds a route from code beside the config file's: methods (e.g. {"GET", "POST"}; GET
  // implies HEAD; {"*"} for any) on path (the file's pattern syntax) go to the handler
  // registered as name. It follows the same precedence as the file's routes and is kept across
  // reloads; a clash with another route is a config error at check() or run(), at the call's
  // FILE:LINE:COL. Throws std::invalid_argument for an unknown method.
  void route(std::vector<std::string> methods, std::string path, std::string name,
             CallSite where = CallSite::here());
  // Validates routes, handler names and options against the registered handlers.
  // Throws ConfigErrors (FILE:LINE:COL: message).
  void check();

  // Binds every listen address, serves until stop() or SIGTERM/SIGINT, and returns the exit
  // status: 0 after a clean stop, 1 for a bad config, 2 when an address cannot be bound.
  int run();

  // Serves from the program's own event loops instead of threads of lithe's: binds every
  // listen address, then serves from each io_context in loops (a worker each, so handlers run
  // on the program's threads; server.workers is not used). The program runs the loops, each
  // from one thread at a time, before or after this call. No signal handler is installed, as
  // with handle_signals(false). Returns 0 once bound, 1 for a bad config, 2 when an address
  // cannot be bound. After stop() or shutdown(), once lithe has let go of every loop (one with
  // no other work then returns from run()), `stopped` runs on one of them; destroy the Server
  // after that, and before the loops. Throws std::invalid_argument for no loop or a null one.
  int start(std::vector<boost::asio::io_context*> loops, std::function<void()> stopped = {});
  int start(boost::asio::io_context& loop, std::function<void()> stopped = {}) {
    return start(std::vector<boost::asio::io_context*>{&loop}, std::move(stopped));
  }
  // For a program that owns what run() otherwise takes over in the process. Call before run().
  //  - handle_signals(false): no handler for SIGINT, SIGTERM, SIGHUP or SIGUSR1, and SIGPIPE's
  //    disposition left alone (ignore it yourself: a peer that resets during a sendfile raises
  //    it); the program calls shutdown(), reload() and reopen_logs() itself.
  //  - configure_logging(false): spdlog's default logger stays the program's, and [log] level
  //    and error are not applied (the access log, lithe's own, is still written).
  // The daemon keeps both on.
  void handle_signals(bool on);
  void configure_logging(bool on);
  // Reopens the log files by name, as SIGUSR1 does (logrotate). Thread-safe.
  void reopen_logs();

  // Thread-safe immediate stop: connections close, run() returns soon after (after start():
  // `stopped` runs once the loops are let go).
  void stop();
  // Thread-safe graceful stop, as SIGTERM: listeners close, `health` answers 503, requests in
  // flight finish (their responses say Connection: close), idle connections close; run()
  // returns 0 once drained or after timeouts.shutdown (after start(): `stopped` runs then).
  void shutdown();
  // Re-reads the config file (as SIGHUP). An invalid file is logged and changes nothing;
  // a valid one applies to new requests: routes, handlers, limits, timeouts, logs and
  // listeners. Returns whether it was applied. Not from a handler.
  bool reload();

  // Command-line overrides (-l, -w): they replace the file's values now and on every reload.
  void override_listen(std::vector<ListenAddress> listen);
  void override_workers(unsigned workers);

  // The bound addresses ("127.0.0.1:41234"), once run() has bound them; waits until then
  // (or until run() has failed, returning an empty list).
  std::vector<std::string> wait_bound();

 private:
  void begin_graceful_stop();

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lithe
