// `health`: 200 ok while serving, 503 draining once a graceful stop has begun, so a proxy takes
// the instance out of rotation before it goes away.
#include "handlers/handler.hpp"

namespace lithe::handlers {

namespace {
class HealthHandler final : public Handler {
 public:
  HealthHandler(const ServerState& state, std::string_view server)
      : state_(state),
        ok_(PreparedResponse(200, "text/plain; charset=utf-8", "ok", {}, server)),
        draining_(PreparedResponse(503, "text/plain; charset=utf-8", "draining", {}, server)) {}

  void handle(const lithe::Request&, lithe::Response& res) override {
    res.prepared(state_.draining.load(std::memory_order_relaxed) ? draining_ : ok_);
  }

 private:
  const ServerState& state_;
  PreparedResponse ok_;
  PreparedResponse draining_;
};
}  // namespace

std::unique_ptr<Handler> make_health(BuildContext& ctx) {
  ctx.options.finish();
  return std::make_unique<HealthHandler>(ctx.state, ctx.options.config().server.server_header);
}

}  // namespace lithe::handlers
