// The handler runtime interface and the build-time context a factory gets from a [[route]].
// Config parsing (options → state) happens once in the factory; handle() only answers.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lithe/config.hpp"
#include "lithe/middleware.hpp"
#include "lithe/prepared.hpp"
#include "lithe/request.hpp"
#include "lithe/responder.hpp"
#include "lithe/response.hpp"
#include "metrics/metrics.hpp"

namespace lithe::handlers {

// The one handler interface: the built-ins, and the functions a program registers with
// lithe::Server, answer through the public Request and Response alone, with the same powers
// (a prepared response, closing the connection, answering later through a Responder).
class Handler {
 public:
  virtual ~Handler() = default;
  // Fills res. May throw: the dispatcher turns that into a 500.
  virtual void handle(const lithe::Request& req, lithe::Response& res) = 0;
};

// Process-wide state some handlers read (health's draining switch).
struct ServerState {
  std::atomic<bool> draining{false};
  metrics::MetricsRegistry metrics;
};

// Reads a route's handler options, recording typed errors at the value's position and,
// on finish(), every key no getter asked for.
class Options {
 public:
  Options(const Config& config, const RouteConfig& route, std::vector<ConfigError>& errors);

  const Value* get(std::string_view key);
  std::optional<std::string> string(std::string_view key);
  std::optional<int64_t> integer(std::string_view key);
  std::optional<bool> boolean(std::string_view key);
  // A table of string values (e.g. headers), in file order.
  std::vector<std::pair<std::string, std::string>> string_table(std::string_view key);
  // A required directory (relative to the config file's), opened O_PATH: the descriptor, or -1
  // with the error recorded. purpose completes "handler 'files' needs the option 'root' (...)".
  int directory(std::string_view key, std::string_view purpose);
  // The route's path must end in a `*name` segment, the file's path below the directory option
  // dir_key; example is such a route path. Records the error otherwise.
  void require_file_path(std::string_view dir_key, std::string_view example);

  void error(SourcePos pos, std::string message);
  void error(std::string message) { error(route_.handler_pos, std::move(message)); }
  // Reports every option key that was not read.
  void finish();

  const Config& config() const { return config_; }
  const RouteConfig& route() const { return route_; }

 private:
  const Config& config_;
  const RouteConfig& route_;
  std::vector<ConfigError>& errors_;
  std::vector<std::string_view> used_;
};

struct BuildContext {
  Options& options;
  ServerState& state;
};

using Factory = std::function<std::unique_ptr<Handler>(BuildContext&)>;

// What routes name: handler names → factories (the built-ins plus whatever an embedding
// program registers), and the middleware registered with Server::use.
class Registry {
 public:
  Registry();  // with the built-in handlers
  void add(std::string name, Factory factory);
  const Factory* find(std::string_view name) const;

  // Middleware for every request (name ""), or for the routes that list name.
  void add_middleware(std::string name, Middleware hooks);
  const std::vector<std::shared_ptr<const Middleware>>& global_middleware() const {
    return global_;
  }
  const std::shared_ptr<const Middleware>* find_middleware(std::string_view name) const;

 private:
  std::vector<std::pair<std::string, Factory>> factories_;
  std::vector<std::shared_ptr<const Middleware>> global_;
  std::vector<std::pair<std::string, std::shared_ptr<const Middleware>>> named_;
};

// Built-in factories (one file each).
std::unique_ptr<Handler> make_static(BuildContext& ctx);
std::unique_ptr<Handler> make_json(BuildContext& ctx);
std::unique_ptr<Handler> make_health(BuildContext& ctx);
std::unique_ptr<Handler> make_redirect(BuildContext& ctx);
std::unique_ptr<Handler> make_echo(BuildContext& ctx);
std::unique_ptr<Handler> make_files(BuildContext& ctx);
std::unique_ptr<Handler> make_metrics(BuildContext& ctx);
std::unique_ptr<Handler> make_upload(BuildContext& ctx);

// A short plain-text answer: the status and its reason phrase (the refusals of files, upload).
void plain_status(lithe::Response& res, int status);

// Reads the status option (default 200) and checks its range.
uint16_t read_status(Options& options, uint16_t fallback);
// Header names and values from a `headers` option, checked for bytes that would split a head.
std::vector<std::pair<std::string, std::string>> read_headers(Options& options);

}  // namespace lithe::handlers
