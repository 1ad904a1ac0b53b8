// `health`: 200 ok while serving, 503 draining once a graceful stop has begun, so a proxy takes
// the instance out of rotation before it goes away.
#include "handlers/handler.hpp"

namespace lithe::handlers {

namespace {
class HealthHandler final : public Handler {
 public:
  HealthHandler(const ServerState& state, std::string_view server)
      : state_(state),
        ok_(http::prepare_response(200, server, "text/plain; charset=utf-8", {}, "ok")),
        draining_(http::prepare_response(503, server, "text/plain; charset=utf-8", {}, "draining")) {}

  void handle(const lithe::Request&, http::ResponseImpl& res) override {
    res.prepared(state_.draining.load(std::memory_order_relaxed) ? &draining_ : &ok_);
  }

 private:
  const ServerState& state_;
  http::PreparedResponse ok_;
  http::PreparedResponse draining_;
};
}  // namespace

std::unique_ptr<Handler> make_health(BuildContext& ctx) {
  ctx.options.finish();
  return std::make_unique<HealthHandler>(ctx.state, ctx.options.config().server.server_header);
}

}  // namespace lithe::handlers
