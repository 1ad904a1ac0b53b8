// `metrics`: Prometheus text exposition of every worker's counters, summed at scrape time.
#include "handlers/handler.hpp"

namespace lithe::handlers {

namespace {
class MetricsHandler final : public Handler {
 public:
  explicit MetricsHandler(const ServerState& state) : state_(state) {}

  void handle(const lithe::Request&, lithe::Response& res) override {
    // Scrapes are rare: building the text allocates, unlike the request path.
    res.text(metrics::render_prometheus(state_.metrics),
             "text/plain; version=0.0.4; charset=utf-8");
  }

 private:
  const ServerState& state_;
};
}  // namespace

std::unique_ptr<Handler> make_metrics(BuildContext& ctx) {
  ctx.options.finish();
  return std::make_unique<MetricsHandler>(ctx.state);
}

}  // namespace lithe::handlers
