#include "app/snapshot.hpp"

#include <algorithm>
#include <stdexcept>

namespace lithe::app {

std::string allow_value(base::MethodMask mask) {
  std::string out;
  for (unsigned i = 0; i < base::method_count; ++i) {
    if (!(mask & (base::MethodMask{1} << i))) continue;
    if (!out.empty()) out.append(", ");
    out.append(base::method_name(static_cast<base::Method>(i)));
  }
  return out;
}

namespace {
base::MethodMask methods_mask(const RouteConfig& route) {
  base::MethodMask mask = 0;
  for (const auto& m : route.methods) {
    if (m == "*") return base::all_methods;
    if (auto method = base::method_from_name(m)) mask |= base::mask_of(*method);
  }
  return mask;
}
}  // namespace

std::shared_ptr<Snapshot> build_snapshot(Config config, const handlers::Registry& registry,
                                         handlers::ServerState& state) {
  auto snap = std::make_shared<Snapshot>();
  snap->config = std::move(config);
  const Config& cfg = snap->config;
  snap->codings = encoding::parse_codings(cfg.compression.encodings);
  std::vector<ConfigError> errors;
  for (const RouteConfig& route : cfg.routes) {
    const std::string& source = route.source.empty() ? cfg.source : route.source;
    const handlers::Factory* factory = registry.find(route.handler);
    std::unique_ptr<handlers::Handler> handler;
    if (!factory) {
      errors.push_back({source, route.handler_pos, "unknown handler '" + route.handler + "'"});
    } else {
      handlers::Options options(cfg, route, errors);
      handlers::BuildContext ctx{options, state};
      try {
        handler = (*factory)(ctx);
      } catch (const std::exception& e) {
        errors.push_back({source, route.handler_pos,
                          "handler '" + route.handler + "' refused its options: " + e.what()});
      }
    }
    auto id = static_cast<uint32_t>(snap->routes.size());
    std::string refused = snap->router.add(route.path, methods_mask(route), id);
    if (!refused.empty()) errors.push_back({source, route.path_pos, refused});
    snap->routes.push_back({route.path, route.handler, std::move(handler),
                            route.timeout.value_or(snap->config.timeouts.handler), route.heartbeat,
                            route.max_body.value_or(cfg.limits.body), route.stream_body,
                            registry.global_middleware(), nullptr});
    Route& added = snap->routes.back();
    added.compress = route.compress;
    for (std::size_t i = 0; i < route.middleware.size(); ++i) {
      if (const auto* hooks = registry.find_middleware(route.middleware[i]))
        added.middleware.push_back(*hooks);
      else
        errors.push_back(
            {source, route.middleware_pos[i],
             "unknown middleware '" + route.middleware[i] + "' (register it with Server::use)"});
    }
    if (route.cors) added.cors = std::make_unique<const Cors>(*route.cors, methods_mask(route));
    try {
      snap->route_slot.push_back(state.metrics.slot_for(route.path));
    } catch (const std::length_error& e) {  // a config error, never an escape from a reload
      errors.push_back({source, route.path_pos, e.what()});
      snap->route_slot.push_back(0);
    }
  }
  snap->route_slot.push_back(0);
  snap->middleware = registry.global_middleware();
  if (!errors.empty()) {
    std::stable_sort(errors.begin(), errors.end(), [](const ConfigError& a, const ConfigError& b) {
      return a.pos.line != b.pos.line ? a.pos.line < b.pos.line : a.pos.column < b.pos.column;
    });
    throw ConfigErrors(std::move(errors));
  }
  if (!cfg.server.server_header.empty())
    snap->server_line = "Server: " + cfg.server.server_header + "\r\n";
  snap->allow_all = allow_value(snap->router.all_allowed() | base::mask_of(base::Method::OPTIONS));
  return snap;
}

}  // namespace lithe::app
