// Measures response rendering into an OutputBuffer (prepared and generic) and DateCache::refresh.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <ctime>

#include "http/date_cache.hpp"
#include "http/exchange.hpp"
#include "http/output.hpp"
#include "http/response.hpp"
#include "http/response_writer.hpp"

namespace lithe::bench {
namespace {

constexpr std::string_view server_line = "Server: lithe\r\n";

// The /plaintext answer: a static handler's pre-rendered head, plus Date per response.
void BM_RenderPrepared(benchmark::State& state) {
  const PreparedResponse prepared(200, "text/plain; charset=utf-8", "Hello, World!", {}, "lithe");
  http::Exchange ex(100);
  ex.response.prepared(prepared);
  http::DateCache date;
  const http::RenderContext ctx{date.line(), server_line, true, false, false, {}, {}};
  http::OutputBuffer out;
  for (auto _ : state) {
    out.clear();
    http::render(ex.response, ctx, out);
    benchmark::DoNotOptimize(out);
  }
  out.seal();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * out.pending_bytes()));
}
BENCHMARK(BM_RenderPrepared);

// A handler-built response (status, 2 headers, text body), filled once and rendered per iteration.
void BM_RenderGeneric(benchmark::State& state) {
  http::Exchange ex(100);
  ex.response.status(201);
  ex.response.header("X-Request-Id", "8f14e45f-ceea-467f-a0e6-7d9c1b2a3f4e");
  ex.response.header("Cache-Control", "no-store");
  ex.response.text("Hello, World!");
  http::DateCache date;
  const http::RenderContext ctx{date.line(), server_line, true, false, false, {}, {}};
  http::OutputBuffer out;
  for (auto _ : state) {
    out.clear();
    http::render(ex.response, ctx, out);
    benchmark::DoNotOptimize(out);
  }
  out.seal();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * out.pending_bytes()));
}
BENCHMARK(BM_RenderGeneric);

// The same response built by the "handler" every iteration too (arena copies, then render).
void BM_BuildAndRenderGeneric(benchmark::State& state) {
  http::Exchange ex(100);
  http::DateCache date;
  const http::RenderContext ctx{date.line(), server_line, true, false, false, {}, {}};
  http::OutputBuffer out;
  for (auto _ : state) {
    ex.next();
    out.clear();
    ex.response.status(201);
    ex.response.header("X-Request-Id", "8f14e45f-ceea-467f-a0e6-7d9c1b2a3f4e");
    ex.response.header("Cache-Control", "no-store");
    ex.response.text("Hello, World!");
    http::render(ex.response, ctx, out);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_BuildAndRenderGeneric);

// Re-rendering the Date line: the second changes on every call, so it never short-circuits.
void BM_DateCacheRefresh(benchmark::State& state) {
  http::DateCache date;
  std::time_t now = std::time(nullptr);
  for (auto _ : state) {
    date.refresh(++now);
    benchmark::DoNotOptimize(date.line().data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_DateCacheRefresh);

// The common case: the same second, so refresh is a compare.
void BM_DateCacheRefreshSameSecond(benchmark::State& state) {
  http::DateCache date;
  const std::time_t now = std::time(nullptr);
  for (auto _ : state) {
    date.refresh(now);
    benchmark::DoNotOptimize(date.line().data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_DateCacheRefreshSameSecond);

}  // namespace
}  // namespace lithe::bench
