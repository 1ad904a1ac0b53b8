#include "app/dispatch.hpp"

#include <spdlog/spdlog.h>

#include "http/status.hpp"

namespace lithe::app {

namespace {

void plain_error(http::ResponseImpl& res, int status) {
  res.status(status);
  std::string_view reason = http::reason_phrase(static_cast<uint16_t>(status));
  res.body_view(reason, "text/plain; charset=utf-8");
}

void allow(http::ResponseImpl& res, http::RequestImpl& req, base::MethodMask mask) {
  res.header("Allow", allow_value(mask));
  (void)req;
}

}  // namespace

std::size_t dispatch(const Snapshot& snap, http::RequestImpl& req, http::ResponseImpl& res) {
  const std::size_t unrouted = snap.routes.size();
  const base::Method method = req.method_id();
  if (method == base::Method::OPTIONS && req.target() == "*") {
    res.status(204);
    res.header("Allow", snap.allow_all);
    return unrouted;
  }
  router::Param params[router::max_params];
  router::Match m = snap.router.match(method, req.path(), params);
  switch (m.status) {
    case router::Match::Status::found: {
      req.set_params(params, m.param_count);
      const Route& route = snap.routes[m.route];
      try {
        route.handler->handle(req, res);
      } catch (const std::exception& e) {
        spdlog::error("handler '{}' for {} threw: {}", route.handler_name, route.path, e.what());
        res.reset();
        plain_error(res, 500);
      } catch (...) {
        spdlog::error("handler '{}' for {} threw a non-exception", route.handler_name, route.path);
        res.reset();
        plain_error(res, 500);
      }
      return m.route;
    }
    case router::Match::Status::method_not_allowed:
      if (method == base::Method::OPTIONS) {
        res.status(204);
        allow(res, req, m.allowed | base::mask_of(base::Method::OPTIONS));
      } else {
        plain_error(res, 405);
        allow(res, req, m.allowed);
      }
      return unrouted;
    case router::Match::Status::not_found:
      plain_error(res, 404);
      return unrouted;
  }
  return unrouted;
}

}  // namespace lithe::app
