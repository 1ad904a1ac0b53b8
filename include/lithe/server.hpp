// The embeddable server: the same daemon `lithe` runs, with handlers a program registers.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lithe/config.hpp"
#include "lithe/request.hpp"
#include "lithe/response.hpp"

namespace lithe {

class Server {
 public:
  using HandlerFn = std::function<void(const Request&, Response&)>;

  explicit Server(Config config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Makes `handler = "name"` in a [[route]] call fn. A handler that throws yields a 500.
  void handle(std::string name, HandlerFn fn);

  // Validates routes, handler names and options against the registered handlers.
  // Throws ConfigErrors (FILE:LINE:COL: message).
  void check();

  // Binds every listen address, serves until stop() or SIGTERM/SIGINT, and returns the exit
  // status: 0 after a clean stop, 1 for a bad config, 2 when an address cannot be bound.
  int run();

  // Thread-safe; run() returns soon after.
  void stop();

  // The bound addresses ("127.0.0.1:41234"), once run() has bound them; waits until then
  // (or until run() has failed, returning an empty list).
  std::vector<std::string> wait_bound();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lithe
