#include "metrics/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace lithe::metrics {

void RouteStats::record(uint16_t status, std::chrono::nanoseconds elapsed) {
  auto it = std::find(counted_statuses.begin(), counted_statuses.end(), status);
  by_status[static_cast<std::size_t>(it - counted_statuses.begin())].add();
  const double seconds = std::chrono::duration<double>(elapsed).count();
  auto b = std::lower_bound(duration_bounds.begin(), duration_bounds.end(), seconds);
  duration[static_cast<std::size_t>(b - duration_bounds.begin())].add();
  duration_ns.add(static_cast<uint64_t>(elapsed.count()));
}

RouteTable::~RouteTable() {
  for (auto& c : chunks_) delete c.load(std::memory_order_relaxed);
}

void RouteTable::ensure(std::size_t slot) {
  auto& c = chunks_.at(slot / chunk_size);
  if (!c.load(std::memory_order_relaxed)) c.store(new Chunk, std::memory_order_release);
}

const RouteStats* RouteTable::find(std::size_t slot) const {
  if (slot / chunk_size >= max_chunks) return nullptr;
  const Chunk* c = chunks_[slot / chunk_size].load(std::memory_order_acquire);
  return c ? &c->stats[slot % chunk_size] : nullptr;
}

uint32_t MetricsRegistry::slot_for(std::string_view label) {
  std::lock_guard lock(mutex_);
  for (std::size_t i = 1; i < labels_.size(); ++i)
    if (labels_[i] == label) return static_cast<uint32_t>(i);
  if (labels_.size() >= RouteTable::chunk_size * RouteTable::max_chunks)
    throw std::length_error("too many distinct route paths over the server's life");
  labels_.emplace_back(label);
  return static_cast<uint32_t>(labels_.size() - 1);
}

std::vector<std::string> MetricsRegistry::labels() const {
  std::lock_guard lock(mutex_);
  return labels_;
}

ParseError parse_error_kind(uint16_t status) {
  switch (status) {
    case 400:
      return ParseError::bad_request;
    case 408:
      return ParseError::timeout;
    case 413:
      return ParseError::body_too_large;
    case 414:
      return ParseError::uri_too_long;
    case 431:
      return ParseError::header_too_large;
    default:
      return ParseError::other;
  }
}

const char* parse_error_name(ParseError kind) {
  switch (kind) {
    case ParseError::bad_request:
      return "bad_request";
    case ParseError::timeout:
      return "timeout";
    case ParseError::body_too_large:
      return "body_too_large";
    case ParseError::uri_too_long:
      return "uri_too_long";
    case ParseError::header_too_large:
      return "header_too_large";
    default:
      return "other";
  }
}

namespace {
// Label values escape backslash, double quote and newline.
std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out.append("\\n");
      continue;
    }
    out.push_back(c);
  }
  return out;
}

template <class F>
uint64_t sum(const MetricsRegistry& r, F f) {
  uint64_t total = 0;
  for (const auto& w : r.workers) total += f(*w);
  return total;
}
}  // namespace

std::string render_prometheus(const MetricsRegistry& r) {
  std::string out;
  auto it = std::back_inserter(out);
  const std::vector<std::string> names = r.labels();
  const std::size_t route_count = names.size();
  auto route_label = [&](std::size_t i) { return label(names[i]); };

  out.append(
      "# HELP lithe_requests_total Requests answered, by route and status code.\n"
      "# TYPE lithe_requests_total counter\n");
  for (std::size_t i = 0; i < route_count; ++i) {
    for (std::size_t s = 0; s <= counted_statuses.size(); ++s) {
      uint64_t n = sum(r, [&](const WorkerMetrics& w) {
        const RouteStats* st = w.routes.find(i);
        return st ? st->by_status[s].get() : 0;
      });
      if (n == 0) continue;
      std::string code =
          s < counted_statuses.size() ? std::to_string(counted_statuses[s]) : "other";
      fmt::format_to(it, "lithe_requests_total{{route=\"{}\",code=\"{}\"}} {}\n", route_label(i),
                     code, n);
    }
  }

  out.append(
      "# HELP lithe_request_duration_seconds Time from a request's first byte to its "
      "response being ready.\n# TYPE lithe_request_duration_seconds histogram\n");
  for (std::size_t i = 0; i < route_count; ++i) {
    uint64_t count = 0;
    std::array<uint64_t, duration_bounds.size() + 1> buckets{};
    for (const auto& w : r.workers) {
      const RouteStats* st = w->routes.find(i);
      if (!st) continue;
      for (std::size_t b = 0; b < buckets.size(); ++b) buckets[b] += st->duration[b].get();
    }
    for (uint64_t b : buckets) count += b;
    if (count == 0) continue;
    const std::string rl = route_label(i);
    uint64_t cumulative = 0;
    for (std::size_t b = 0; b < duration_bounds.size(); ++b) {
      cumulative += buckets[b];
      fmt::format_to(it, "lithe_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {}\n", rl,
                     duration_bounds[b], cumulative);
    }
    fmt::format_to(it, "lithe_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}\n", rl,
                   count);
    uint64_t ns = sum(r, [&](const WorkerMetrics& w) {
      const RouteStats* st = w.routes.find(i);
      return st ? st->duration_ns.get() : 0;
    });
    fmt::format_to(it, "lithe_request_duration_seconds_sum{{route=\"{}\"}} {}\n", rl,
                   static_cast<double>(ns) / 1e9);
    fmt::format_to(it, "lithe_request_duration_seconds_count{{route=\"{}\"}} {}\n", rl, count);
  }

  out.append(
      "# HELP lithe_handler_timeouts_total Deferred answers not begun within the route's "
      "timeout (answered 504).\n# TYPE lithe_handler_timeouts_total counter\n");
  for (std::size_t i = 0; i < route_count; ++i) {
    const uint64_t n = sum(r, [&](const WorkerMetrics& w) {
      const RouteStats* st = w.routes.find(i);
      return st ? st->handler_timeouts.get() : 0;
    });
    if (n != 0)
      fmt::format_to(it, "lithe_handler_timeouts_total{{route=\"{}\"}} {}\n", route_label(i), n);
  }

  const uint64_t opened =
      sum(r, [](const WorkerMetrics& w) { return w.connections_accepted.get(); });
  const uint64_t closed = sum(r, [](const WorkerMetrics& w) { return w.connections_closed.get(); });
  fmt::format_to(it,
                 "# HELP lithe_connections_open Client connections open now.\n"
                 "# TYPE lithe_connections_open gauge\nlithe_connections_open {}\n"
                 "# HELP lithe_connections_total Client connections accepted.\n"
                 "# TYPE lithe_connections_total counter\nlithe_connections_total {}\n",
                 opened >= closed ? opened - closed : 0, opened);
  fmt::format_to(it,
                 "# HELP lithe_received_bytes_total Bytes read from clients.\n"
                 "# TYPE lithe_received_bytes_total counter\nlithe_received_bytes_total {}\n"
                 "# HELP lithe_sent_bytes_total Bytes written to clients.\n"
                 "# TYPE lithe_sent_bytes_total counter\nlithe_sent_bytes_total {}\n",
                 sum(r, [](const WorkerMetrics& w) { return w.bytes_in.get(); }),
                 sum(r, [](const WorkerMetrics& w) { return w.bytes_out.get(); }));
  const uint64_t streams_opened =
      sum(r, [](const WorkerMetrics& w) { return w.streams_opened.get(); });
  const uint64_t streams_closed =
      sum(r, [](const WorkerMetrics& w) { return w.streams_closed.get(); });
  fmt::format_to(
      it,
      "# HELP lithe_streams_open Streamed responses being written now.\n"
      "# TYPE lithe_streams_open gauge\nlithe_streams_open {}\n"
      "# HELP lithe_stream_bytes_total Body bytes of streamed requests (in) and responses "
      "(out).\n# TYPE lithe_stream_bytes_total counter\n"
      "lithe_stream_bytes_total{{direction=\"in\"}} {}\n"
      "lithe_stream_bytes_total{{direction=\"out\"}} {}\n",
      streams_opened >= streams_closed ? streams_opened - streams_closed : 0,
      sum(r, [](const WorkerMetrics& w) { return w.stream_bytes_in.get(); }),
      sum(r, [](const WorkerMetrics& w) { return w.stream_bytes_out.get(); }));
  out.append(
      "# HELP lithe_parse_errors_total Requests rejected by the parser, a limit or a "
      "timeout, by kind.\n# TYPE lithe_parse_errors_total counter\n");
  for (std::size_t k = 0; k < static_cast<std::size_t>(ParseError::count); ++k) {
    fmt::format_to(it, "lithe_parse_errors_total{{kind=\"{}\"}} {}\n",
                   parse_error_name(static_cast<ParseError>(k)),
                   sum(r, [&](const WorkerMetrics& w) { return w.parse_errors[k].get(); }));
  }
  out.append(
      "# HELP lithe_responses_by_encoding_total Responses by the content coding of their "
      "body.\n# TYPE lithe_responses_by_encoding_total counter\n");
  static constexpr const char* coding_names[] = {"identity", "gzip", "br", "zstd"};
  for (std::size_t k = 0; k < std::size(coding_names); ++k) {
    fmt::format_to(it, "lithe_responses_by_encoding_total{{encoding=\"{}\"}} {}\n", coding_names[k],
                   sum(r, [&](const WorkerMetrics& w) { return w.responses_by_coding[k].get(); }));
  }
  fmt::format_to(it,
                 "# HELP lithe_reloads_total Successful configuration reloads.\n"
                 "# TYPE lithe_reloads_total counter\nlithe_reloads_total {}\n",
                 r.reloads.get());
  return out;
}

}  // namespace lithe::metrics
