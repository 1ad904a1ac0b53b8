// Request metrics: each worker writes only its own counters (relaxed load + store, no locked
// read-modify-write), and a scrape sums every worker's with relaxed loads.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lithe::metrics {

// A counter written by one thread and read by any: an increment is a plain add on x86.
class Counter {
 public:
  void add(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Status codes counted exactly; anything else is counted as "other".
inline constexpr std::array<uint16_t, 36> counted_statuses = {
    100, 101, 200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405,
    408, 409, 410, 412, 413, 414, 415, 416, 417, 422, 429, 431, 500, 501, 502, 503, 504, 505};

// Request-duration histogram bounds, in seconds (Prometheus `le` labels).
inline constexpr std::array<double, 17> duration_bounds = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};

struct RouteStats {
  std::array<Counter, counted_statuses.size() + 1> by_status;  // last: other codes
  std::array<Counter, duration_bounds.size() + 1> duration;     // last: above the top bound
  Counter duration_ns;
  void record(uint16_t status, std::chrono::nanoseconds elapsed);
};

// Parse errors by kind (the status they were answered with).
enum class ParseError : uint8_t { bad_request, timeout, body_too_large, uri_too_long, header_too_large, other, count };
ParseError parse_error_kind(uint16_t status);
const char* parse_error_name(ParseError kind);

struct WorkerMetrics {
  explicit WorkerMetrics(std::size_t route_count) : routes(route_count + 1) {}
  std::vector<RouteStats> routes;  // by route id; the last one counts unrouted requests
  Counter connections_accepted;
  Counter connections_closed;
  Counter bytes_in;
  Counter bytes_out;
  std::array<Counter, static_cast<std::size_t>(ParseError::count)> parse_errors;
};

// What a scrape reads: every worker's metrics and the process-wide reload count.
struct MetricsRegistry {
  std::vector<std::shared_ptr<WorkerMetrics>> workers;  // fixed once the workers run
  Counter reloads;
};

// Prometheus text exposition (version 0.0.4) of the sum over workers.
std::string render_prometheus(const MetricsRegistry& registry, const std::vector<std::string>& route_names);

}  // namespace lithe::metrics
