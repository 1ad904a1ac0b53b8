// `metrics`: Prometheus text exposition of every worker's counters, summed at scrape time.
#include "handlers/handler.hpp"

namespace lithe::handlers {

namespace {
class MetricsHandler final : public Handler {
 public:
  MetricsHandler(const ServerState& state, std::vector<std::string> routes)
      : state_(state), routes_(std::move(routes)) {}

  void handle(const lithe::Request&, http::ResponseImpl& res) override {
    // Scrapes are rare: building the text allocates, unlike the request path.
    res.text(metrics::render_prometheus(state_.metrics, routes_), "text/plain; version=0.0.4; charset=utf-8");
  }

 private:
  const ServerState& state_;
  std::vector<std::string> routes_;  // route labels by route id
};
}  // namespace

std::unique_ptr<Handler> make_metrics(BuildContext& ctx) {
  ctx.options.finish();
  std::vector<std::string> routes;
  for (const RouteConfig& r : ctx.options.config().routes) routes.push_back(r.path);
  return std::make_unique<MetricsHandler>(ctx.state, std::move(routes));
}

}  // namespace lithe::handlers
