#include "log/access_log.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <stdexcept>

#include "base/text.hpp"
#include "log/log.hpp"

namespace lithe::log {
namespace {

// Bytes queued between the workers and the writing thread: a burst of about 4000 long
// browser lines (8192 typical ones) never waits for the disk.
constexpr std::size_t kRingBytes = 2 * 1024 * 1024;

void append(fmt::memory_buffer& out, std::string_view text) {
  out.append(text.data(), text.data() + text.size());
}

template <typename Integer>
void append_number(fmt::memory_buffer& out, Integer n) {
  const fmt::format_int text(n);
  out.append(text.data(), text.data() + text.size());
}

// The request time in both formats, rendered once per second per thread: localtime_r takes a
// process-wide lock, which the workers would otherwise contend for on every line.
struct TimeText {
  std::time_t second = 0;
  bool valid = false;
  char clf[48];  // 30/Nov/2026:16:05:49 +0000
  std::size_t clf_size = 0;
  char iso[48];  // 2026-11-30T16:05:49+00:00
  std::size_t iso_size = 0;
};

const TimeText& local_time(std::time_t t) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  thread_local TimeText text;
  if (text.valid && text.second == t) return text;
  std::tm tm{};
  if (!::localtime_r(&t, &tm)) {
    tm = std::tm{};  // out of range: shown as 1900-01-01, never as garbage
    tm.tm_mday = 1;
  }
  const char sign = tm.tm_gmtoff < 0 ? '-' : '+';
  const long offset_min = (tm.tm_gmtoff < 0 ? -tm.tm_gmtoff : tm.tm_gmtoff) / 60;
  const long year = 1900L + tm.tm_year;
  text.clf_size =
      fmt::format_to_n(text.clf, sizeof text.clf, "{:02}/{}/{}:{:02}:{:02}:{:02} {}{:02}{:02}",
                       tm.tm_mday, kMonths[tm.tm_mon % 12], year, tm.tm_hour, tm.tm_min, tm.tm_sec,
                       sign, offset_min / 60, offset_min % 60)
          .size;
  text.iso_size =
      fmt::format_to_n(text.iso, sizeof text.iso, "{}-{:02}-{:02}T{:02}:{:02}:{:02}{}{:02}:{:02}",
                       year, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, sign,
                       offset_min / 60, offset_min % 60)
          .size;
  text.second = t;
  text.valid = true;
  return text;
}

constexpr char kHexUpper[] = "0123456789ABCDEF";
constexpr char kHexLower[] = "0123456789abcdef";

// nginx's escape=default: ", \, control bytes and everything from 0x7f up as \xHH.
void append_clf_escaped(fmt::memory_buffer& out, std::string_view text) {
  std::size_t run = 0;  // start of the bytes not yet appended, copied in one go
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') continue;
    append(out, text.substr(run, i - run));
    const char escaped[] = {'\\', 'x', kHexUpper[c >> 4], kHexUpper[c & 0xf]};
    out.append(escaped, escaped + sizeof escaped);
    run = i + 1;
  }
  append(out, text.substr(run));
}

// A JSON string with its quotes. Control bytes and DEL as \u00XX; a byte that is not part of
// well-formed UTF-8 as \u00XX too (its Latin-1 reading), so the output is always valid JSON.
void append_json_string(fmt::memory_buffer& out, std::string_view text) {
  out.push_back('"');
  std::size_t run = 0;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      if (const std::size_t size = base::utf8_sequence_length(text, i); size != 0) {
        i += size;
        continue;
      }
    }
    append(out, text.substr(run, i - run));
    if (c == '"' || c == '\\') {
      const char escaped[] = {'\\', static_cast<char>(c)};
      out.append(escaped, escaped + sizeof escaped);
    } else {
      const char escaped[] = {'\\', 'u', '0', '0', kHexLower[c >> 4], kHexLower[c & 0xf]};
      out.append(escaped, escaped + sizeof escaped);
    }
    run = ++i;
  }
  append(out, text.substr(run));
  out.push_back('"');
}

}  // namespace

void format_combined(const AccessRecord& record, fmt::memory_buffer& out) {
  const TimeText& time = local_time(record.time);
  append_clf_escaped(out, record.client.empty() ? "-" : record.client);
  append(out, " - - [");
  append(out, {time.clf, time.clf_size});
  append(out, "] \"");
  if (record.method.empty()) {
    out.push_back('-');
  } else {
    append_clf_escaped(out, record.method);
    out.push_back(' ');
    append_clf_escaped(out, record.target);
    append(out, " HTTP/1.");
    append_number(out, record.version_minor);
  }
  append(out, "\" ");
  append_number(out, record.status);
  out.push_back(' ');
  append_number(out, record.bytes_sent);
  append(out, " \"");
  append_clf_escaped(out, record.referer.empty() ? "-" : record.referer);
  append(out, "\" \"");
  append_clf_escaped(out, record.user_agent.empty() ? "-" : record.user_agent);
  append(out, "\" ");
  append_number(out, record.duration_us);
  out.push_back(' ');
  append_number(out, record.bytes_received);
  if (!record.request_id.empty()) {
    out.push_back(' ');
    append_clf_escaped(out, record.request_id);
  }
}

void format_json(const AccessRecord& record, fmt::memory_buffer& out) {
  const TimeText& time = local_time(record.time);
  append(out, "{\"client\":");
  append_json_string(out, record.client);
  append(out, ",\"time\":");
  append_json_string(out, {time.iso, time.iso_size});
  append(out, ",\"method\":");
  append_json_string(out, record.method);
  append(out, ",\"target\":");
  append_json_string(out, record.target);
  append(out, ",\"protocol\":\"");
  if (!record.method.empty()) {
    append(out, "HTTP/1.");
    append_number(out, record.version_minor);
  }
  append(out, "\",\"status\":");
  append_number(out, record.status);
  append(out, ",\"bytes\":");
  append_number(out, record.bytes_sent);
  append(out, ",\"bytes_received\":");
  append_number(out, record.bytes_received);
  append(out, ",\"duration_us\":");
  append_number(out, record.duration_us);
  append(out, ",\"referer\":");
  append_json_string(out, record.referer);
  append(out, ",\"user_agent\":");
  append_json_string(out, record.user_agent);
  if (!record.request_id.empty()) {
    append(out, ",\"request_id\":");
    append_json_string(out, record.request_id);
  }
  out.push_back('}');
}

std::unique_ptr<AccessLog> AccessLog::open(const LogConfig& cfg) {
  if (cfg.access == "off") return nullptr;
  AccessFormat format;
  if (cfg.access_format == "combined")
    format = AccessFormat::combined;
  else if (cfg.access_format == "json")
    format = AccessFormat::json;
  else
    throw std::runtime_error("unknown access_format \"" + cfg.access_format + "\"");
  return std::unique_ptr<AccessLog>(new AccessLog(cfg.access, format));
}

// When the ring is full, a worker waits (spdlog's "block" policy, kept). An access log is a
// record (audits, billing, incident reviews), and dropping lines would lose it silently; the
// ring absorbs bursts, so a worker waits only when the disk stays slower than the request rate,
// and then the server slows to what it can record, as nginx does by writing synchronously.
AccessLog::AccessLog(const std::string& destination, AccessFormat format)
    : format_(format),
      sink_(destination == "stdout" ? FileSink::borrow(stdout) : FileSink::open(destination)),
      ring_(std::make_unique_for_overwrite<char[]>(kRingBytes)),
      capacity_(kRingBytes),
      writer_([this] { run_writer(); }) {}

AccessLog::~AccessLog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  queued_.notify_one();
  writer_.join();  // it writes out everything queued first
}

void AccessLog::log(const AccessRecord& record) const {
  // Per thread and reused: after the first long line, formatting allocates nothing.
  thread_local fmt::memory_buffer line;
  line.clear();
  if (format_ == AccessFormat::json)
    format_json(record, line);
  else
    format_combined(record, line);
  line.push_back('\n');
  // A line longer than the whole ring (only with limits raised far past their defaults) is
  // cut to fit, keeping its newline.
  std::size_t size = line.size();
  if (size > capacity_) {
    line[capacity_ - 1] = '\n';
    size = capacity_;
  }
  bool wake = false;
  {
    std::unique_lock lock(mutex_);
    written_.wait(lock, [&] { return capacity_ - (head_ - tail_) >= size; });
    append(line.data(), size);
    wake = std::exchange(writer_waiting_, false);
  }
  if (wake) queued_.notify_one();
}

std::pair<std::span<char>, std::span<char>> AccessLog::pieces(std::uint64_t from,
                                                              std::size_t size) const {
  const std::size_t at = from % capacity_;
  const std::size_t first = std::min(size, capacity_ - at);
  return {{ring_.get() + at, first}, {ring_.get(), size - first}};
}

void AccessLog::append(const char* data, std::size_t size) const {
  const auto [first, second] = pieces(head_, size);
  std::memcpy(first.data(), data, first.size());
  std::memcpy(second.data(), data + first.size(), second.size());
  head_ += size;
}

void AccessLog::run_writer() {
  bool failing = false;  // a write failed: report the next failure only after a success
  std::unique_lock lock(mutex_);
  for (;;) {
    if (head_ == tail_) {
      if (stopping_) return;
      writer_waiting_ = true;
      queued_.wait(lock, [&] { return head_ != tail_ || stopping_; });
      writer_waiting_ = false;
      continue;
    }
    // [tail_, head_) stays untouched by the workers until tail_ moves past it.
    const std::uint64_t from = tail_;
    const std::uint64_t to = head_;
    lock.unlock();
    const auto [first, second] = pieces(from, to - from);
    try {
      sink_->write_out(first.data(), first.size());
      if (!second.empty()) sink_->write_out(second.data(), second.size());
      failing = false;
    } catch (const std::exception& e) {
      if (!failing) spdlog::error("access log: {}", e.what());
      failing = true;
    }
    lock.lock();
    tail_ = to;
    written_.notify_all();
  }
}

void AccessLog::reopen() {
  sink_->reopen();
}

void AccessLog::flush() {
  std::unique_lock lock(mutex_);
  const std::uint64_t mine = head_;
  written_.wait(lock, [&] { return tail_ >= mine; });
}

}  // namespace lithe::log
