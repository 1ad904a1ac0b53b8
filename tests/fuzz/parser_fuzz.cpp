// libFuzzer target: the RequestParser on an arbitrary byte stream.
// Input: two bytes choosing a split point, then the stream. The stream is fed as two separately
// allocated pieces (so ASan sees any read past a piece), looping over pipelined requests, and
// again whole to a second parser: both must reach the same verdicts. A third parser streams
// every body (pause before the body, pieces de-chunked in place, as a `body = "stream"` route
// reads them) from the split pieces: its pieces must add up to the same requests.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/exchange.hpp"

namespace {

using lithe::http::Exchange;
using lithe::http::ParserLimits;
using lithe::http::RequestParser;

// The conformance suite's limits, so its cases (the seeds) sit right at the boundaries.
constexpr ParserLimits limits{1024, 2048, 1024};
constexpr std::size_t max_headers = 20;

[[noreturn]] void violated(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "parser_fuzz invariant violated: %s %s\n", what, detail.c_str());
  std::abort();
}

bool allowed_error(uint16_t s) {
  return s == 400 || s == 413 || s == 414 || s == 417 || s == 431 || s == 501 || s == 505;
}

// Everything a complete request exposes, read in full so ASan checks every view.
std::string describe(const lithe::http::RequestImpl& r, std::string_view body) {
  std::string d;
  d.append(r.method()).append(" ").append(r.target()).append(" ");
  d.append(std::to_string(r.version_major())).append(".").append(std::to_string(r.version_minor()));
  d.append(r.keep_alive() ? " ka" : " close");
  for (const auto& h : r.headers()) d.append("\n").append(h.name).append(": ").append(h.value);
  d.append("\n\n").append(body);
  return d;
}

// Feeds the pieces in order; returns the verdicts ("complete ...", "continue", "error N").
// streaming: pause at each head and take the body piece by piece, as lithe's session does for a
// streaming route (the pieces must then be writable memory).
std::vector<std::string> run(const std::vector<std::string_view>& pieces, bool streaming = false) {
  Exchange ex(max_headers);
  ParserLimits l = limits;
  l.pause_before_body = streaming;
  ex.parser.start(ex.request, l);
  std::string streamed;  // the body pieces of the current request
  std::vector<std::string> verdicts;
  std::size_t total = 0;
  for (std::string_view piece : pieces) total += piece.size();
  std::size_t steps = 0;
  for (std::string_view piece : pieces) {
    std::size_t pos = 0;
    while (pos < piece.size()) {
      // Each verdict but need_more either consumes a byte or moves the parser on; a stream of
      // n bytes can never need more than a few steps per byte.
      if (++steps > 4 * total + 16) violated("no progress");
      auto r = ex.parser.feed(piece.data() + pos, piece.size() - pos);
      if (r.consumed > piece.size() - pos) violated("consumed past the end");
      pos += r.consumed;
      streamed.append(ex.parser.body_piece());
      using S = RequestParser::Status;
      if (r.status == S::error) {
        if (!allowed_error(r.error_status))
          violated("unexpected error status", std::to_string(r.error_status));
        verdicts.push_back("error " + std::to_string(r.error_status));
        return verdicts;
      }
      if (r.status == S::need_more) {
        if (pos != piece.size()) violated("need_more left bytes unconsumed");
        break;
      }
      if (r.status == S::head) {
        if (!streaming) violated("head without pause_before_body");
        if (ex.request.declared_length() > limits.body) {  // what the session checks
          verdicts.push_back("error 413");
          return verdicts;
        }
        ex.parser.set_body_limit(limits.body);
        ex.parser.stream_body();
        if (ex.request.expects_continue()) verdicts.push_back("continue");
        continue;
      }
      if (r.status == S::expect_continue) {
        if (!ex.request.expects_continue()) violated("expect_continue without the flag");
        verdicts.push_back("continue");
        continue;
      }
      const auto& req = ex.request;
      if (req.method().empty() || req.target().empty()) violated("complete without method/target");
      if (streaming && !req.body().empty()) violated("a streamed body also kept in the request");
      const std::string_view body = streaming ? std::string_view(streamed) : req.body();
      if (body.size() > limits.body) violated("body over the limit");
      if (!req.chunked() && body.size() != req.declared_length())
        violated("body length differs from Content-Length");
      verdicts.push_back("complete " + describe(req, body));
      streamed.clear();
      ex.next();
    }
  }
  verdicts.push_back(ex.parser.in_request() ? "partial" : "idle");
  return verdicts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t n = size - 2;
  const std::size_t cut = ((std::size_t{data[0]} << 8) | data[1]) % (n + 1);
  const char* stream = reinterpret_cast<const char*>(data + 2);

  // Exact-size copies: a view read past its piece is a heap overflow ASan reports.
  auto first = std::make_unique<char[]>(cut + 1);
  auto second = std::make_unique<char[]>(n - cut + 1);
  std::memcpy(first.get(), stream, cut);
  std::memcpy(second.get(), stream + cut, n - cut);
  auto split = run({{first.get(), cut}, {second.get(), n - cut}});
  auto whole = run({{stream, n}});
  if (split != whole) {
    std::string detail = "split at " + std::to_string(cut) + "\n";
    for (std::size_t i = 0; i < std::max(split.size(), whole.size()); ++i) {
      detail += "split: " + (i < split.size() ? split[i] : "-") + "\n";
      detail += "whole: " + (i < whole.size() ? whole[i] : "-") + "\n";
    }
    violated("split and whole disagree", detail);
  }
  // Streamed bodies are de-chunked in place: fresh writable copies of the same two pieces.
  std::memcpy(first.get(), stream, cut);
  std::memcpy(second.get(), stream + cut, n - cut);
  auto streamed = run({{first.get(), cut}, {second.get(), n - cut}}, true);
  if (streamed != whole) {
    std::string detail = "split at " + std::to_string(cut) + "\n";
    for (std::size_t i = 0; i < std::max(streamed.size(), whole.size()); ++i) {
      detail += "streamed: " + (i < streamed.size() ? streamed[i] : "-") + "\n";
      detail += "whole:    " + (i < whole.size() ? whole[i] : "-") + "\n";
    }
    violated("streamed and whole disagree", detail);
  }
  return 0;
}
