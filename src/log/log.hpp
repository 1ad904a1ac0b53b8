// The error log: spdlog's default logger, to stderr or a file, at log.level. Also the file sink
// that the error and access logs write through, which can reopen its file for logrotate.
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "lithe/config.hpp"

namespace lithe::log {

// Replaces the default logger according to cfg. Throws std::runtime_error if a file cannot be
// opened.
void init(const LogConfig& cfg);

// A reload's log settings: the level changes in place; a new error destination gets a new
// logger (the old one is kept alive, never destroyed under a logging thread). Throws
// std::runtime_error if a file cannot be opened, leaving the running log as it was.
void reconfigure(const LogConfig& cfg);

// Writes out the error log.
void flush();

// Closes and opens again, at the same path, every log file still in use (the error log and the
// access logs), so that after logrotate renames one new lines go to a new file (SIGUSR1). A file
// that cannot be reopened keeps its old one, and the failure goes to the error log. Takes locks:
// call it from a thread (the signal-handling one), not from inside a signal handler.
void reopen();

// Appends formatted lines to a file it can reopen, or to a stream it does not own (stdout).
class FileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // Opens path for append and lists it for log::reopen(). Throws std::system_error.
  static std::shared_ptr<FileSink> open(const std::string& path);
  // Writes to stream, which is never closed nor reopened.
  static std::shared_ptr<FileSink> borrow(std::FILE* stream);
  ~FileSink() override;

  // Opens the path again and swaps the new file in; a no-op for a borrowed stream. Throws
  // std::system_error and keeps the old file if the path cannot be opened.
  void reopen();

  // Bytes already formatted (the access log's lines, newlines included), handed to the OS
  // before it returns. Throws spdlog::spdlog_ex when the write fails.
  void write_out(const char* data, std::size_t size);

 private:
  FileSink(std::string path, std::FILE* file) : path_(std::move(path)), file_(file) {}
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;
  void write_locked(const char* data, std::size_t size);
  std::string name() const { return path_.empty() ? "stdout" : path_; }

  std::string path_;  // empty for a borrowed stream
  std::FILE* file_;
  spdlog::memory_buf_t line_;  // reused, so long lines do not allocate each time
};

}  // namespace lithe::log
