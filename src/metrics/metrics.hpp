// Request metrics: each worker writes only its own counters (relaxed load + store, no locked
// read-modify-write), and a scrape sums every worker's with relaxed loads.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace lithe::metrics {

// A counter written by one thread and read by any: an increment is a plain add on x86.
class Counter {
 public:
  void add(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
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
  std::array<Counter, duration_bounds.size() + 1> duration;    // last: above the top bound
  Counter duration_ns;
  Counter handler_timeouts;  // deferred answers not begun in time (504)
  void record(uint16_t status, std::chrono::nanoseconds elapsed);
};

// Parse errors by kind (the status they were answered with).
enum class ParseError : uint8_t {
  bad_request,
  timeout,
  body_too_large,
  uri_too_long,
  header_too_large,
  other,
  count
};
ParseError parse_error_kind(uint16_t status);
const char* parse_error_name(ParseError kind);

// A worker's per-route stats, by route slot. Chunks are created by the owning worker when a
// config (re)load names new slots, never on the request path, and published to scrapers with
// release/acquire: a scrape may run on any thread while the worker adds chunks.
class RouteTable {
 public:
  static constexpr std::size_t chunk_size = 64;
  static constexpr std::size_t max_chunks = 256;  // 16384 distinct route labels
  RouteTable() = default;
  ~RouteTable();
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;

  // Owner thread: makes sure slot exists (allocates at most one chunk).
  void ensure(std::size_t slot);
  // Owner thread, after ensure(slot).
  RouteStats& get(std::size_t slot) {
    return chunks_[slot / chunk_size].load(std::memory_order_relaxed)->stats[slot % chunk_size];
  }
  // Any thread: nullptr when the slot was never ensured.
  const RouteStats* find(std::size_t slot) const;

 private:
  struct Chunk {
    std::array<RouteStats, chunk_size> stats;
  };
  std::array<std::atomic<Chunk*>, max_chunks> chunks_{};
};

struct WorkerMetrics {
  WorkerMetrics() { routes.ensure(0); }
  RouteTable routes;  // by route slot; slot 0 counts unrouted requests
  Counter connections_accepted;
  Counter connections_closed;
  Counter bytes_in;
  Counter bytes_out;
  Counter streams_opened;    // streamed responses begun (open = opened - closed)
  Counter streams_closed;    // ... and over (ended, aborted or cancelled)
  Counter stream_bytes_in;   // request body bytes handed to streaming handlers
  Counter stream_bytes_out;  // body bytes streaming handlers wrote
  std::array<Counter, static_cast<std::size_t>(ParseError::count)> parse_errors;
  std::array<Counter, 4> responses_by_coding;  // identity, gzip, br, zstd (encoding::Coding)
};

// What a scrape reads: every worker's metrics, the route labels and the reload count.
// Route labels get stable slots, so a reload that renumbers routes keeps each label's counters,
// and routes that share a path share a label.
struct MetricsRegistry {
  std::vector<std::shared_ptr<WorkerMetrics>> workers;  // fixed once the workers run
  Counter reloads;

  // The slot of a route label (the route's path), created on first use. Config load only.
  uint32_t slot_for(std::string_view label);
  std::vector<std::string> labels() const;  // by slot; slot 0 is "<unmatched>"

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> labels_{"<unmatched>"};
};

// Prometheus text exposition (version 0.0.4) of the sum over workers.
std::string render_prometheus(const MetricsRegistry& registry);

}  // namespace lithe::metrics
