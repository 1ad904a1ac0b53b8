// The access log: one line per response, formatted on the worker thread that served it and
// written out on a thread of its own.
#pragma once

#include <fmt/format.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "lithe/config.hpp"

namespace lithe::log {

class FileSink;

// What a connection knows of one response; views into its buffers, valid during log().
struct AccessRecord {
  std::string_view client;  // address text, already resolved from trusted proxy headers
  std::time_t time = 0;     // request start, wall clock
  std::string_view method;  // empty when no request line was read: the request shows as "-"
  std::string_view target;
  int version_minor = 1;  // HTTP/1.x
  std::uint16_t status = 0;
  std::size_t bytes_sent = 0;  // body bytes, as nginx's $body_bytes_sent
  std::uint64_t duration_us = 0;
  std::uint64_t bytes_received = 0;  // request body bytes read, without chunk framing
  std::string_view referer;          // empty = absent
  std::string_view user_agent;
  std::string_view request_id;  // empty = none (server.request_id_header unset)
};

// nginx's combined format, the duration in µs, the request body bytes and the request ID when
// there is one, without the newline:
// 127.0.0.1 - - [30/Nov/2026:16:05:49 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8.0" 250 0 4f2a...
// Fields are escaped as nginx's escape=default does: ", \, bytes < 0x20 and >= 0x7f as \xHH.
void format_combined(const AccessRecord& record, fmt::memory_buffer& out);

// One JSON object without the newline; bytes that are not valid UTF-8 become \u00XX, so the
// line is always valid JSON. Absent referer and user agent are ""; without a request line,
// method, target and protocol are "". "request_id" comes last, when there is one.
void format_json(const AccessRecord& record, fmt::memory_buffer& out);

enum class AccessFormat { combined, json };

class AccessLog {
 public:
  // nullptr when cfg.access is "off"; otherwise a log to stdout, or appending to the file
  // cfg.access, in cfg.access_format. Throws std::runtime_error (unknown format, or a file
  // that cannot be opened).
  static std::unique_ptr<AccessLog> open(const LogConfig& cfg);
  ~AccessLog();  // writes out everything queued

  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Thread-safe. Waits only while the queue is full (the disk is slower than the requests).
  void log(const AccessRecord& record) const;

  // Closes the file and opens it again at its path (logrotate); a no-op for stdout. Throws
  // std::system_error and keeps writing to the old file if the path cannot be opened.
  // log::reopen() does this for every access log too.
  void reopen();

  // Returns once every line logged before the call has been written to the OS.
  void flush();

 private:
  AccessLog(const std::string& destination, AccessFormat format);
  // [from, from + size) of the ring: up to its end, then from its start (maybe empty).
  std::pair<std::span<char>, std::span<char>> pieces(std::uint64_t from, std::size_t size) const;
  void append(const char* data, std::size_t size) const;  // into the ring; mutex_ held
  void run_writer();

  AccessFormat format_;
  std::shared_ptr<FileSink> sink_;
  // Lines travel to the writing thread through one ring of bytes: a worker copies its line in
  // under a short lock, and the writer takes every byte queued since its last pass and writes
  // them at once. Nothing is allocated per line (spdlog's queue allocates for lines longer
  // than 250 bytes, which most browser lines are).
  std::unique_ptr<char[]> ring_;
  std::size_t capacity_;
  // Logging is const (a snapshot shares the log read-only); the queue is what it changes.
  mutable std::mutex mutex_;
  mutable std::condition_variable queued_;   // the writer waits for lines (or the end)
  mutable std::condition_variable written_;  // workers wait for room, flush() for its lines
  mutable std::uint64_t head_ = 0;           // bytes queued since the start
  std::uint64_t tail_ = 0;                   // bytes written out since the start
  mutable bool writer_waiting_ = false;      // the writer sleeps on queued_: the next line wakes it
  bool stopping_ = false;
  std::thread writer_;  // last: started once everything it uses is constructed
};

}  // namespace lithe::log
