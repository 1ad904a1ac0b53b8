// One loaded configuration, ready to serve: the router, each route's handler runtime and the
// pre-rendered bits every response shares. Immutable once built; a reload builds a new one.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "app/cors.hpp"
#include "base/method.hpp"
#include "encoding/coding.hpp"
#include "handlers/handler.hpp"
#include "lithe/config.hpp"
#include "router/router.hpp"

namespace lithe::log {
class AccessLog;
}

namespace lithe::app {

struct Route {
  std::string path;
  std::string handler_name;
  std::unique_ptr<handlers::Handler> handler;
  std::chrono::milliseconds timeout{0};    // for a deferred answer (timeouts.handler); 0 = none
  std::chrono::milliseconds heartbeat{0};  // an idle event stream's comment interval; 0 = none
  uint64_t max_body = 0;                   // the route's max_body, or limits.body
  bool stream_body = false;                // body = "stream": the handler pulls the body
  // The hooks around the handler: those for every request, then the route's `middleware`.
  std::vector<std::shared_ptr<const Middleware>> middleware;
  std::unique_ptr<const Cors> cors;  // the route's `cors`, if any
  bool compress = true;              // the route's `compress`: compressed streams allowed
};

struct Snapshot {
  Config config;
  router::Router router;
  std::vector<Route> routes;         // indexed by the router's route id
  std::vector<uint32_t> route_slot;  // route id → metrics slot; [routes.size()] = unmatched (0)
  std::string server_line;           // "Server: lithe\r\n" or ""
  std::string allow_all;             // Allow value for OPTIONS *
  std::vector<encoding::Coding> codings;       // compression.encodings, for compressed streams
  std::shared_ptr<log::AccessLog> access_log;  // null when log.access = "off"
  // The hooks for every request, which also run around the answers no route gives (404...).
  std::vector<std::shared_ptr<const Middleware>> middleware;
};

// Builds every route's handler and the router. Throws ConfigErrors (unknown handler, bad
// options, duplicate route) with positions in the config file.
std::shared_ptr<Snapshot> build_snapshot(Config config, const handlers::Registry& registry,
                                         handlers::ServerState& state);

// "GET, HEAD, POST" for a mask, in method-number order.
std::string allow_value(base::MethodMask mask);

}  // namespace lithe::app
