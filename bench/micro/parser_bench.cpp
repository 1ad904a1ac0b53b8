// Measures RequestParser throughput over an Exchange: wrk-style, browser-like, 100-header requests.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "fixtures.hpp"
#include "http/exchange.hpp"

namespace lithe::bench {
namespace {

// One request per iteration on one keep-alive stream: feed it whole, then ready the next one.
void parse_repeatedly(benchmark::State& state, std::string_view request) {
  http::Exchange ex(100);
  start_stream(ex);
  for (auto _ : state) {
    auto r = ex.parser.feed(request.data(), request.size());
    if (r.status != http::RequestParser::Status::complete || r.consumed != request.size()) {
      state.SkipWithError("request did not parse as one complete request");
      break;
    }
    benchmark::DoNotOptimize(ex.request.path().data());
    benchmark::DoNotOptimize(ex.request.headers().size());
    ex.next();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * request.size()));
  state.counters["bytes/req"] = static_cast<double>(request.size());
}

void BM_ParseWrk(benchmark::State& state) { parse_repeatedly(state, wrk_request); }
BENCHMARK(BM_ParseWrk);

void BM_ParseBrowser(benchmark::State& state) { parse_repeatedly(state, browser_request); }
BENCHMARK(BM_ParseBrowser);

void BM_Parse100Headers(benchmark::State& state) {
  const std::string request = large_request();
  parse_repeatedly(state, request);
}
BENCHMARK(BM_Parse100Headers);

// 16 wrk requests in one buffer, as a pipelining client sends them (items = requests).
void BM_ParseWrkPipelined16(benchmark::State& state) {
  std::string batch;
  for (int i = 0; i < 16; ++i) batch += wrk_request;
  http::Exchange ex(100);
  start_stream(ex);
  bool ok = true;
  for (auto _ : state) {
    std::size_t pos = 0;
    while (ok && pos < batch.size()) {
      auto r = ex.parser.feed(batch.data() + pos, batch.size() - pos);
      ok = r.status == http::RequestParser::Status::complete;
      pos += r.consumed;
      benchmark::DoNotOptimize(ex.request.path().data());
      ex.next();
    }
    if (!ok) {
      state.SkipWithError("pipelined request did not parse");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * 16));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * batch.size()));
}
BENCHMARK(BM_ParseWrkPipelined16);

}  // namespace
}  // namespace lithe::bench
