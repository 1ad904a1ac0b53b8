#include "app/dispatch.hpp"

#include <spdlog/spdlog.h>

#include "http/status.hpp"

namespace lithe::app {

namespace {

using Hooks = std::vector<std::shared_ptr<const Middleware>>;

void plain_error(http::ResponseImpl& res, int status) {
  res.status(status);
  std::string_view reason = http::reason_phrase(static_cast<uint16_t>(status));
  res.body_view(reason, "text/plain; charset=utf-8");
}

// Runs fn, turning an exception into a logged 500 in res. Returns whether fn returned.
// what and name say who threw ("handler", its name).
template <class Fn>
bool guarded(std::string_view what, std::string_view name, std::string_view path,
             http::ResponseImpl& res, Fn&& fn) {
  try {
    fn();
    return true;
  } catch (const std::exception& e) {
    spdlog::error("{} '{}' for {} threw: {}", what, name, path, e.what());
  } catch (...) {
    spdlog::error("{} '{}' for {} threw a non-exception", what, name, path);
  }
  res.reset();
  plain_error(res, 500);
  return false;
}

// The before hooks, in order; true when one answered (or failed: a 500).
bool before(const Hooks& hooks, std::string_view path, http::RequestImpl& req,
            http::ResponseImpl& res) {
  for (const auto& hook : hooks) {
    if (!hook->before) continue;
    bool answered = false;
    if (!guarded("middleware", "before", path, res, [&] { answered = hook->before(req, res); }))
      return true;
    if (answered) return true;
  }
  return false;
}

// OPTIONS with Access-Control-Request-Method: the route that would serve the method asked for
// answers it, when its cors allows the origin.
const Route* preflight(const Snapshot& snap, http::RequestImpl& req, http::ResponseImpl& res) {
  const auto asked = base::method_from_name(req.header("access-control-request-method"));
  if (!asked) return nullptr;
  router::Param params[router::max_params];
  const router::Match m = snap.router.match(*asked, req.path(), params);
  if (m.status != router::Match::Status::found) return nullptr;
  const Route& route = snap.routes[m.route];
  if (!route.cors || !route.cors->answer_preflight(req, res)) return nullptr;
  req.set_params(params, m.param_count);
  return &route;
}

}  // namespace

const Route* dispatch(const Snapshot& snap, http::Exchange& ex) {
  http::RequestImpl& req = ex.request;
  http::ResponseImpl& res = ex.response;
  ex.route = nullptr;
  const base::Method method = req.method_id();
  if (method == base::Method::OPTIONS) {
    if (req.target() == "*") {
      res.status(204);
      res.header("Allow", snap.allow_all);
      return nullptr;
    }
    if (Cors::is_preflight(req)) {
      if (const Route* route = preflight(snap, req, res)) {
        ex.route = route;
        return route;
      }
    }
  }
  router::Param params[router::max_params];
  router::Match m = snap.router.match(method, req.path(), params);
  if (m.status == router::Match::Status::found) {
    req.set_params(params, m.param_count);
    const Route& route = snap.routes[m.route];
    ex.route = &route;
    if (!route.middleware.empty() && before(route.middleware, route.path, req, res)) return &route;
    guarded("handler", route.handler_name, route.path, res,
            [&] { route.handler->handle(req, res); });
    return &route;
  }
  if (!snap.middleware.empty() && before(snap.middleware, req.path(), req, res)) return nullptr;
  if (m.status == router::Match::Status::method_not_allowed) {
    if (method == base::Method::OPTIONS) {
      res.status(204);
      res.header("Allow", allow_value(m.allowed | base::mask_of(base::Method::OPTIONS)));
    } else {
      plain_error(res, 405);
      res.header("Allow", allow_value(m.allowed));
    }
    return nullptr;
  }
  plain_error(res, 404);
  return nullptr;
}

void run_after_hooks(const Snapshot& snap, http::Exchange& ex) {
  const auto* route = static_cast<const Route*>(ex.route);
  if (route && route->cors) route->cors->mark(ex.request, ex.response);
  const Hooks& hooks = route ? route->middleware : snap.middleware;
  for (auto hook = hooks.rbegin(); hook != hooks.rend(); ++hook) {
    if (!(*hook)->after) continue;
    try {
      (*hook)->after(ex.request, ex.response);
    } catch (const std::exception& e) {
      spdlog::error("a middleware's after hook threw: {} (ignored)", e.what());
    } catch (...) {
      spdlog::error("a middleware's after hook threw a non-exception (ignored)");
    }
  }
}

}  // namespace lithe::app
