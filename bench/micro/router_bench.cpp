// Measures Router::match on a 200-route API table: exact, {param}, *rest and 404 lookups.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "fixtures.hpp"
#include "router/router.hpp"

namespace lithe::bench {
namespace {

void match_repeatedly(benchmark::State& state, base::Method method, std::string_view path,
                      router::Match::Status expected) {
  router::Router r;
  std::string error;
  const auto specs = api_routes();
  if (specs.size() != 200 || !build_router(specs, r, error)) {
    state.SkipWithError(error.empty() ? "route table is not 200 routes" : error.c_str());
    return;
  }
  router::Param params[router::max_params];
  for (auto _ : state) {
    benchmark::DoNotOptimize(path.data());
    router::Match m = r.match(method, path, params);
    if (m.status != expected) {
      state.SkipWithError("unexpected match status");
      break;
    }
    benchmark::DoNotOptimize(m);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// An exact path under the 24-way /api/v1 node (binary search) and one level deeper.
void BM_RouterExact(benchmark::State& state) {
  match_repeatedly(state, base::Method::GET, "/api/v1/products/search",
                   router::Match::Status::found);
}
BENCHMARK(BM_RouterExact);

// The wrk path: a top-level exact route.
void BM_RouterExactTop(benchmark::State& state) {
  match_repeatedly(state, base::Method::GET, "/plaintext", router::Match::Status::found);
}
BENCHMARK(BM_RouterExactTop);

// Two params: /api/v1/users/{id}/tags/{tag}.
void BM_RouterParam(benchmark::State& state) {
  match_repeatedly(state, base::Method::GET, "/api/v1/users/12345/tags/featured",
                   router::Match::Status::found);
}
BENCHMARK(BM_RouterParam);

// A *rest route: /static/*path with a four-segment remainder.
void BM_RouterWildcard(benchmark::State& state) {
  match_repeatedly(state, base::Method::GET, "/static/css/site/v2/main.min.css",
                   router::Match::Status::found);
}
BENCHMARK(BM_RouterWildcard);

// A 404 that walks deep (literal, literal, literal, {id}) before failing on the last segment.
void BM_RouterNotFound(benchmark::State& state) {
  match_repeatedly(state, base::Method::GET, "/api/v1/users/12345/unknown",
                   router::Match::Status::not_found);
}
BENCHMARK(BM_RouterNotFound);

// A 404 at the root (a scanner's probe).
void BM_RouterNotFoundTop(benchmark::State& state) {
  match_repeatedly(state, base::Method::GET, "/wp-login.php", router::Match::Status::not_found);
}
BENCHMARK(BM_RouterNotFoundTop);

}  // namespace
}  // namespace lithe::bench
