// The access log: combined and json formatting (escaping, absent fields, time zones), the json
// line parsing as JSON, and the async logger writing to a file, flushing, and reopening after
// logrotate's rename; also the error log's reopen.
#include "log/access_log.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "log/access_record.hpp"
#include "log/log.hpp"

namespace lithe::log {
namespace {

namespace fs = std::filesystem;

// 2026-11-30 16:05:49 UTC.
constexpr std::time_t kTime = 1796054749;

// Fixes the local time zone for a test; POSIX TZ offsets count west, so "IST-5:30" is +05:30.
void set_time_zone(const char* tz) {
  ::setenv("TZ", tz, 1);
  ::tzset();
}

AccessRecord sample() {
  AccessRecord r;
  r.client = "192.0.2.7";
  r.time = kTime;
  r.method = "GET";
  r.target = "/index.html?q=1";
  r.version_minor = 1;
  r.status = 200;
  r.bytes_sent = 612;
  r.duration_us = 1234;
  r.bytes_received = 77;
  r.referer = "https://example.com/";
  r.user_agent = "curl/8.0";
  return r;
}

std::string combined(const AccessRecord& r) {
  fmt::memory_buffer out;
  format_combined(r, out);
  return fmt::to_string(out);
}

std::string json(const AccessRecord& r) {
  fmt::memory_buffer out;
  format_json(r, out);
  return fmt::to_string(out);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class TempDir {
 public:
  TempDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/lithe-access-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  fs::path path;
};

TEST(AccessLogCombined, FormatsLikeNginxWithDuration) {
  set_time_zone("UTC0");
  EXPECT_EQ(combined(sample()),
            "192.0.2.7 - - [30/Nov/2026:16:05:49 +0000] \"GET /index.html?q=1 HTTP/1.1\" 200 612 "
            "\"https://example.com/\" \"curl/8.0\" 1234 77");
}

TEST(AccessLogCombined, AbsentFieldsAndHttp10) {
  set_time_zone("UTC0");
  AccessRecord r = sample();
  r.version_minor = 0;
  r.referer = {};
  r.user_agent = {};
  r.status = 304;
  r.bytes_sent = 0;
  EXPECT_EQ(combined(r),
            "192.0.2.7 - - [30/Nov/2026:16:05:49 +0000] \"GET /index.html?q=1 HTTP/1.0\" 304 0 "
            "\"-\" \"-\" 1234 77");
}

TEST(AccessLogCombined, NoRequestLineShowsDash) {
  set_time_zone("UTC0");
  AccessRecord r = sample();
  r.method = {};
  r.target = {};
  r.status = 408;
  EXPECT_EQ(combined(r),
            "192.0.2.7 - - [30/Nov/2026:16:05:49 +0000] \"-\" 408 612 \"https://example.com/\" "
            "\"curl/8.0\" 1234 77");
}

TEST(AccessLogCombined, EscapesLikeNginxDefault) {
  set_time_zone("UTC0");
  AccessRecord r = sample();
  r.target = "/a\"b\\c";
  r.user_agent = std::string_view("x\x01\t\x1f\x7f\xc3\xa9\xff", 8);
  r.referer = "\"";
  EXPECT_EQ(combined(r),
            "192.0.2.7 - - [30/Nov/2026:16:05:49 +0000] \"GET /a\\x22b\\x5Cc HTTP/1.1\" 200 612 "
            "\"\\x22\" \"x\\x01\\x09\\x1F\\x7F\\xC3\\xA9\\xFF\" 1234 77");
}

TEST(AccessLogCombined, LocalTimeWithNumericOffset) {
  // Distinct seconds per zone: the rendered time is cached per second.
  set_time_zone("IST-5:30");
  AccessRecord r = sample();
  r.time = kTime + 1;
  EXPECT_NE(combined(r).find("[30/Nov/2026:21:35:50 +0530]"), std::string::npos) << combined(r);
  set_time_zone("BRT3");
  r.time = kTime + 2;
  EXPECT_NE(combined(r).find("[30/Nov/2026:13:05:51 -0300]"), std::string::npos) << combined(r);
  set_time_zone("UTC0");
}

TEST(AccessLogJson, FormatsAllFields) {
  set_time_zone("UTC0");
  EXPECT_EQ(json(sample()),
            R"({"client":"192.0.2.7","time":"2026-11-30T16:05:49+00:00","method":"GET",)"
            R"("target":"/index.html?q=1","protocol":"HTTP/1.1","status":200,"bytes":612,)"
            R"("bytes_received":77,"duration_us":1234,"referer":"https://example.com/",)"
            R"("user_agent":"curl/8.0"})");
}

TEST(AccessLogRequestId, AppendedInCombinedAndLastInJson) {
  set_time_zone("UTC0");
  AccessRecord r = sample();
  r.request_id = "4f2a";
  EXPECT_EQ(combined(r),
            "192.0.2.7 - - [30/Nov/2026:16:05:49 +0000] \"GET /index.html?q=1 HTTP/1.1\" 200 612 "
            "\"https://example.com/\" \"curl/8.0\" 1234 77 4f2a");
  EXPECT_TRUE(json(r).ends_with(R"("user_agent":"curl/8.0","request_id":"4f2a"})")) << json(r);
}

TEST(AccessLogRequestId, KeptWithTheRequestPart) {
  AccessRecord r = sample();
  r.request_id = "edge-7";
  const std::string kept = keep_request_part(r);
  const AccessRecord back = kept_request_part(kept);
  EXPECT_EQ(back.request_id, "edge-7");
  EXPECT_EQ(back.user_agent, "curl/8.0");
  EXPECT_EQ(back.target, "/index.html?q=1");
}

TEST(AccessLogJson, AbsentFieldsAndHttp10) {
  set_time_zone("IST-5:30");
  AccessRecord r = sample();
  r.time = kTime + 3;
  r.version_minor = 0;
  r.referer = {};
  r.user_agent = {};
  const std::string line = json(r);
  EXPECT_NE(line.find(R"("time":"2026-11-30T21:35:52+05:30")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("protocol":"HTTP/1.0")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("referer":"","user_agent":""})"), std::string::npos) << line;
  set_time_zone("UTC0");
}

TEST(AccessLogJson, EscapesAndStaysValidUtf8) {
  set_time_zone("UTC0");
  AccessRecord r = sample();
  r.target = "/a\"b\\c";
  // Valid 2-, 3- and 4-byte UTF-8 pass through; control bytes, DEL, a lone continuation byte,
  // an overlong form, a surrogate, a truncated sequence and 0xff do not.
  static constexpr char kAgent[] =
      "\x01\n\x7f"
      "\xc3\xa9"
      "\xe2\x82\xac"
      "\xf0\x9f\x98\x80"
      "\x80"
      "\xc0\xaf"
      "\xed\xa0\x80"
      "\xe2\x82"
      "\xff";
  r.user_agent = std::string_view(kAgent, sizeof kAgent - 1);
  const std::string line = json(r);
  EXPECT_NE(line.find(R"("target":"/a\"b\\c")"), std::string::npos) << line;
  EXPECT_NE(line.find("\"user_agent\":\"\\u0001\\u000a\\u007f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                      "\\u0080\\u00c0\\u00af\\u00ed\\u00a0\\u0080\\u00e2\\u0082\\u00ff\"}"),
            std::string::npos)
      << line;

  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << line;
  std::string_view target, agent;
  ASSERT_EQ(doc["target"].get(target), simdjson::SUCCESS);
  EXPECT_EQ(target, "/a\"b\\c");
  ASSERT_EQ(doc["user_agent"].get(agent), simdjson::SUCCESS);
  // Each invalid byte reads back as its Latin-1 character.
  EXPECT_EQ(agent.substr(0, 12), "\x01\n\x7f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  EXPECT_EQ(agent.substr(12, 4), "\xc2\x80\xc3\x80");
}

TEST(AccessLogJson, ParsesAsJson) {
  set_time_zone("UTC0");
  AccessRecord r = sample();
  r.client = "2001:db8::1";
  r.status = 404;
  r.bytes_sent = 18446744073709551615u;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const std::string line = json(r);
  ASSERT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << line;
  std::string_view client, time, method, target, protocol, referer, agent;
  uint64_t status = 0, bytes = 0, duration = 0;
  ASSERT_EQ(doc["client"].get(client), simdjson::SUCCESS);
  ASSERT_EQ(doc["time"].get(time), simdjson::SUCCESS);
  ASSERT_EQ(doc["method"].get(method), simdjson::SUCCESS);
  ASSERT_EQ(doc["target"].get(target), simdjson::SUCCESS);
  ASSERT_EQ(doc["protocol"].get(protocol), simdjson::SUCCESS);
  ASSERT_EQ(doc["status"].get(status), simdjson::SUCCESS);
  ASSERT_EQ(doc["bytes"].get(bytes), simdjson::SUCCESS);
  ASSERT_EQ(doc["duration_us"].get(duration), simdjson::SUCCESS);
  ASSERT_EQ(doc["referer"].get(referer), simdjson::SUCCESS);
  ASSERT_EQ(doc["user_agent"].get(agent), simdjson::SUCCESS);
  EXPECT_EQ(client, "2001:db8::1");
  EXPECT_EQ(time, "2026-11-30T16:05:49+00:00");
  EXPECT_EQ(method, "GET");
  EXPECT_EQ(target, "/index.html?q=1");
  EXPECT_EQ(protocol, "HTTP/1.1");
  EXPECT_EQ(status, 404u);
  EXPECT_EQ(bytes, 18446744073709551615u);
  EXPECT_EQ(duration, 1234u);
  EXPECT_EQ(referer, "https://example.com/");
  EXPECT_EQ(agent, "curl/8.0");
}

LogConfig access_config(const std::string& access, const std::string& format = "combined") {
  LogConfig cfg;
  cfg.access = access;
  cfg.access_format = format;
  return cfg;
}

TEST(AccessLog, OffIsNull) {
  EXPECT_EQ(AccessLog::open(LogConfig{}), nullptr);
}

TEST(AccessLog, RejectsUnknownFormatAndUnopenableFile) {
  TempDir dir;
  EXPECT_THROW(AccessLog::open(access_config((dir.path / "a.log").string(), "xml")),
               std::runtime_error);
  EXPECT_THROW(AccessLog::open(access_config((dir.path / "missing" / "a.log").string())),
               std::runtime_error);
}

TEST(AccessLog, AppendsLinesToFile) {
  set_time_zone("UTC0");
  TempDir dir;
  const fs::path path = dir.path / "access.log";
  { std::ofstream(path) << "kept\n"; }  // opened for append, never truncated
  auto log = AccessLog::open(access_config(path.string(), "json"));
  ASSERT_NE(log, nullptr);
  log->log(sample());
  AccessRecord second = sample();
  second.target = "/second";
  log->log(second);
  log->flush();
  const auto lines = lines_of(read_file(path));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "kept");
  EXPECT_EQ(lines[1], json(sample()));
  EXPECT_EQ(lines[2], json(second));
}

TEST(AccessLog, DestructorWritesOutQueue) {
  set_time_zone("UTC0");
  TempDir dir;
  const fs::path path = dir.path / "access.log";
  auto log = AccessLog::open(access_config(path.string()));
  for (int i = 0; i < 100; ++i) log->log(sample());
  log.reset();
  const auto lines = lines_of(read_file(path));
  ASSERT_EQ(lines.size(), 100u);
  EXPECT_EQ(lines.back(), combined(sample()));
}

TEST(AccessLog, ConcurrentWritersKeepLinesWhole) {
  set_time_zone("UTC0");
  TempDir dir;
  const fs::path path = dir.path / "access.log";
  auto log = AccessLog::open(access_config(path.string(), "json"));
  constexpr int kThreads = 4, kLines = 3000;  // more than the queue holds: writers wait
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string target = "/thread/" + std::to_string(t);
      AccessRecord r = sample();
      r.target = target;
      for (int i = 0; i < kLines; ++i) log->log(r);
    });
  }
  for (auto& thread : threads) thread.join();
  log->flush();
  const auto lines = lines_of(read_file(path));
  ASSERT_EQ(lines.size(), std::size_t{kThreads * kLines});
  std::vector<int> per_thread(kThreads);
  simdjson::dom::parser parser;
  for (const auto& line : lines) {
    simdjson::dom::element doc;
    std::string_view target;
    ASSERT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << line;
    ASSERT_EQ(doc["target"].get(target), simdjson::SUCCESS);
    ++per_thread.at(std::stoul(std::string(target.substr(8))));
  }
  for (int count : per_thread) EXPECT_EQ(count, kLines);
}

TEST(AccessLog, ReopenAfterRenameStartsNewFile) {
  set_time_zone("UTC0");
  TempDir dir;
  const fs::path path = dir.path / "access.log", rotated = dir.path / "access.log.1";
  auto log = AccessLog::open(access_config(path.string()));
  AccessRecord old_record = sample(), new_record = sample();
  old_record.target = "/old";
  new_record.target = "/new";
  log->log(old_record);
  log->flush();
  fs::rename(path, rotated);
  log->log(old_record);  // still the renamed file: logrotate signals after renaming
  log->flush();
  log->reopen();
  log->log(new_record);
  log->flush();
  EXPECT_EQ(read_file(rotated), combined(old_record) + "\n" + combined(old_record) + "\n");
  EXPECT_EQ(read_file(path), combined(new_record) + "\n");
}

TEST(AccessLog, FailedReopenKeepsOldFile) {
  set_time_zone("UTC0");
  TempDir dir;
  const fs::path sub = dir.path / "sub", path = sub / "access.log";
  fs::create_directory(sub);
  auto log = AccessLog::open(access_config(path.string()));
  const fs::path moved = dir.path / "moved";
  fs::rename(sub, moved);  // the path's directory is gone: it cannot be opened again
  EXPECT_THROW(log->reopen(), std::system_error);
  log->log(sample());
  log->flush();
  EXPECT_EQ(read_file(moved / "access.log"), combined(sample()) + "\n");
}

TEST(Log, ReopenReachesErrorLogAndAccessLogs) {
  set_time_zone("UTC0");
  TempDir dir;
  const fs::path error_path = dir.path / "error.log", access_path = dir.path / "access.log";
  LogConfig cfg = access_config(access_path.string());
  cfg.error = error_path.string();
  init(cfg);
  auto access = AccessLog::open(cfg);
  AccessRecord old_record = sample(), new_record = sample();
  old_record.target = "/old";
  new_record.target = "/new";

  spdlog::info("before rotation");
  access->log(old_record);
  access->flush();
  fs::rename(error_path, dir.path / "error.log.1");
  fs::rename(access_path, dir.path / "access.log.1");
  reopen();
  spdlog::info("after rotation");  // the error log flushes every info line
  access->log(new_record);
  access->flush();

  const std::string old_errors = read_file(dir.path / "error.log.1");
  const std::string new_errors = read_file(error_path);
  EXPECT_NE(old_errors.find("[info] before rotation\n"), std::string::npos) << old_errors;
  EXPECT_EQ(old_errors.find("after rotation"), std::string::npos) << old_errors;
  EXPECT_NE(new_errors.find("[info] after rotation\n"), std::string::npos) << new_errors;
  EXPECT_EQ(new_errors.find("before rotation"), std::string::npos) << new_errors;
  EXPECT_EQ(read_file(dir.path / "access.log.1"), combined(old_record) + "\n");
  EXPECT_EQ(read_file(access_path), combined(new_record) + "\n");

  init(LogConfig{});  // back to stderr before the directory goes
}

TEST(Log, ReopenReportsFailureAndKeepsGoing) {
  TempDir dir;
  const fs::path sub = dir.path / "sub", error_path = dir.path / "error.log";
  fs::create_directory(sub);
  LogConfig cfg = access_config((sub / "access.log").string());
  cfg.error = error_path.string();
  auto access =
      AccessLog::open(cfg);  // listed first: its failure comes before the error log reopens
  init(cfg);
  fs::rename(sub, dir.path / "moved");
  fs::rename(error_path, dir.path / "error.log.1");
  reopen();  // the access log fails, the error log still reopens and records the failure
  const std::string errors = read_file(error_path);
  EXPECT_NE(errors.find("[error] log reopen: cannot open"), std::string::npos) << errors;
  init(LogConfig{});
}

}  // namespace
}  // namespace lithe::log
