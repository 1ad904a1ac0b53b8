#include "log/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <exception>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

namespace lithe::log {
namespace {

// Every file sink opened by path, for reopen(); a sink drops out when its logger is gone.
struct OpenFiles {
  std::mutex mutex;
  std::vector<std::weak_ptr<FileSink>> sinks;
};

OpenFiles& open_files() {
  static OpenFiles files;
  return files;
}

std::FILE* open_append(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "ae");  // e: O_CLOEXEC, children never hold it
  if (!file) throw std::system_error(errno, std::generic_category(), "cannot open " + path);
  return file;
}

}  // namespace

namespace {
// The error log's destination now, and the loggers a reload replaced: spdlog's free functions
// use a raw pointer to the default logger, so a replaced one is kept rather than destroyed
// under a thread that is logging through it.
struct ErrorLogState {
  std::mutex mutex;
  std::string destination;
  std::vector<std::shared_ptr<spdlog::logger>> retired;
};
ErrorLogState& error_log_state() {
  static ErrorLogState state;
  return state;
}
}  // namespace

void reconfigure(const LogConfig& cfg) {
  ErrorLogState& st = error_log_state();
  std::unique_lock lock(st.mutex);
  if (cfg.error == st.destination) {
    spdlog::default_logger_raw()->set_level(spdlog::level::from_str(cfg.level));
    return;
  }
  st.retired.push_back(spdlog::default_logger());
  lock.unlock();
  init(cfg);
}

void flush() {
  spdlog::default_logger_raw()->flush();
}

void init(const LogConfig& cfg) {
  std::shared_ptr<spdlog::logger> logger;
  if (cfg.error == "stderr")
    logger = std::make_shared<spdlog::logger>("lithe",
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
  else
    logger = std::make_shared<spdlog::logger>("lithe", FileSink::open(cfg.error));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z [%l] %v");
  logger->set_level(spdlog::level::from_str(cfg.level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
  ErrorLogState& st = error_log_state();
  std::lock_guard lock(st.mutex);
  st.destination = cfg.error;
}

void reopen() {
  std::vector<std::shared_ptr<FileSink>> sinks;
  {
    OpenFiles& files = open_files();
    std::lock_guard lock(files.mutex);
    std::erase_if(files.sinks, [](const auto& sink) { return sink.expired(); });
    for (const auto& weak : files.sinks)
      if (auto sink = weak.lock()) sinks.push_back(std::move(sink));
  }
  std::vector<std::string> failures;
  for (const auto& sink : sinks) {
    try {
      sink->reopen();
    } catch (const std::exception& e) {
      failures.emplace_back(e.what());
    }
  }
  // Reported once every file is reopened, so that the error log's own report lands in its new
  // file, and outside the list's lock, since logging goes through one of these sinks.
  for (const auto& failure : failures) spdlog::error("log reopen: {}", failure);
}

std::shared_ptr<FileSink> FileSink::open(const std::string& path) {
  std::shared_ptr<FileSink> sink(new FileSink(path, open_append(path)));
  OpenFiles& files = open_files();
  std::lock_guard lock(files.mutex);
  std::erase_if(files.sinks, [](const auto& weak) { return weak.expired(); });
  files.sinks.push_back(sink);
  return sink;
}

std::shared_ptr<FileSink> FileSink::borrow(std::FILE* stream) {
  return std::shared_ptr<FileSink>(new FileSink({}, stream));
}

FileSink::~FileSink() {
  if (path_.empty())
    std::fflush(file_);
  else
    std::fclose(file_);
}

void FileSink::reopen() {
  if (path_.empty()) return;
  std::FILE* fresh = open_append(path_);  // before locking: writers need not wait for the open
  std::lock_guard lock(mutex_);
  std::fclose(file_);  // writes out what is buffered, into the old (renamed) file
  file_ = fresh;
}

void FileSink::write_out(const char* data, std::size_t size) {
  std::lock_guard lock(mutex_);
  write_locked(data, size);
}

void FileSink::write_locked(const char* data, std::size_t size) {
  if (std::fwrite(data, 1, size, file_) != size || std::fflush(file_) != 0)
    spdlog::throw_spdlog_ex("cannot write to " + name(), errno);
}

void FileSink::sink_it_(const spdlog::details::log_msg& msg) {
  line_.clear();
  formatter_->format(msg, line_);
  write_locked(line_.data(), line_.size());  // base_sink holds mutex_ here
}

void FileSink::flush_() {
  if (std::fflush(file_) != 0) spdlog::throw_spdlog_ex("cannot write to " + name(), errno);
}

}  // namespace lithe::log
