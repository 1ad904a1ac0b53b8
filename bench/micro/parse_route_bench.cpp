// Measures the headline path: parse a wrk request, then route its path (and render the answer).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fixtures.hpp"
#include "http/date_cache.hpp"
#include "http/exchange.hpp"
#include "http/output.hpp"
#include "http/response.hpp"
#include "http/response_writer.hpp"
#include "router/router.hpp"

namespace lithe::bench {
namespace {

// Parse + route: feed the request, match (method, path), bind params, ready the next request.
void parse_and_route(benchmark::State& state, const std::vector<RouteSpec>& specs,
                     std::string_view request) {
  router::Router r;
  std::string error;
  if (!build_router(specs, r, error)) {
    state.SkipWithError(error.c_str());
    return;
  }
  http::Exchange ex(100);
  start_stream(ex);
  router::Param params[router::max_params];
  for (auto _ : state) {
    auto res = ex.parser.feed(request.data(), request.size());
    if (res.status != http::RequestParser::Status::complete) {
      state.SkipWithError("request did not parse");
      break;
    }
    router::Match m = r.match(ex.request.method_id(), ex.request.path(), params);
    if (m.status != router::Match::Status::found) {
      state.SkipWithError("request did not route");
      break;
    }
    ex.request.set_params(params, m.param_count);
    benchmark::DoNotOptimize(m);
    ex.next();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * request.size()));
}

// The headline number: wrk's GET /plaintext against the default config's routes.
void BM_ParseRouteWrk(benchmark::State& state) {
  parse_and_route(state, default_routes(), wrk_request);
}
BENCHMARK(BM_ParseRouteWrk);

// The same request against the 200-route API table.
void BM_ParseRouteWrk200Routes(benchmark::State& state) {
  parse_and_route(state, api_routes(), wrk_request);
}
BENCHMARK(BM_ParseRouteWrk200Routes);

// A browser request with a query and two path params against the 200-route table.
void BM_ParseRouteBrowser200Routes(benchmark::State& state) {
  parse_and_route(state, api_routes(), browser_request);
}
BENCHMARK(BM_ParseRouteBrowser200Routes);

// Everything but the socket for /plaintext: parse, route, answer with the prepared response.
void BM_ParseRouteRenderWrk(benchmark::State& state) {
  router::Router r;
  std::string error;
  if (!build_router(default_routes(), r, error)) {
    state.SkipWithError(error.c_str());
    return;
  }
  const PreparedResponse prepared(200, "text/plain; charset=utf-8", "Hello, World!", {}, "lithe");
  http::DateCache date;
  const std::string_view request = wrk_request;
  http::Exchange ex(100);
  start_stream(ex);
  http::OutputBuffer out;
  router::Param params[router::max_params];
  for (auto _ : state) {
    out.clear();
    auto res = ex.parser.feed(request.data(), request.size());
    router::Match m = r.match(ex.request.method_id(), ex.request.path(), params);
    if (res.status != http::RequestParser::Status::complete ||
        m.status != router::Match::Status::found) {
      state.SkipWithError("request did not parse or route");
      break;
    }
    ex.response.prepared(prepared);
    const http::RenderContext ctx{date.line(),
                                  "Server: lithe\r\n",
                                  ex.request.keep_alive(),
                                  ex.request.version_minor() == 0,
                                  ex.request.is_head(),
                                  {},
                                  {}};
    http::render(ex.response, ctx, out);
    benchmark::DoNotOptimize(out);
    ex.next();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ParseRouteRenderWrk);

}  // namespace
}  // namespace lithe::bench
