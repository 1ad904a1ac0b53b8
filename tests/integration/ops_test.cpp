// Operating the real `lithe` daemon (SPEC §2, §3, §5, §6): graceful stop on SIGTERM (in flight,
// idle, under load, a second signal, the shutdown limit), SIGHUP reloads (routes, limits,
// listeners, -l kept, invalid files, under load), SIGUSR1 log reopening, the access log's
// content (combined, json, forwarded client addresses), the PROXY protocol, the pid file, unix
// socket listeners and several workers. Every wait is for a condition with a deadline: a line in
// a log file, a process exit, a socket event, a counter in /metrics.
#include <gtest/gtest.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "harness.hpp"

#ifndef LITHE_BINARY
#error "LITHE_BINARY must name the built lithe daemon"
#endif

namespace lithe::test {
namespace {

namespace fs = std::filesystem;

const std::string kBinary = LITHE_BINARY;

// How long a daemon gets to log a line, write a file or exit after being asked to.
constexpr std::chrono::milliseconds kAwait = 15s;

// ---------------------------------------------------------------------------------------------
// Text helpers

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::size_t count_of(std::string_view haystack, std::string_view needle) {
  std::size_t n = 0;
  for (std::size_t at = haystack.find(needle); at != std::string_view::npos;
       at = haystack.find(needle, at + needle.size()))
    ++n;
  return n;
}

// Every complete line (a line still being written, without its newline, is left out).
std::vector<std::string> complete_lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < text.size()) {
    auto eol = text.find('\n', at);
    if (eol == std::string::npos) break;
    out.push_back(text.substr(at, eol - at));
    at = eol + 1;
  }
  return out;
}

std::vector<std::string> lines_containing(const fs::path& file, std::string_view needle) {
  std::vector<std::string> out;
  for (auto& line : complete_lines(read_file(file)))
    if (contains(line, needle)) out.push_back(std::move(line));
  return out;
}

// Waits until file has at least n complete lines containing needle; returns those lines (fewer
// when the deadline passed first, which the caller's assertion on the count reports).
std::vector<std::string> await_lines(const fs::path& file, std::string_view needle, std::size_t n,
                                     std::chrono::milliseconds timeout = kAwait) {
  std::vector<std::string> found;
  wait_until(
      [&] {
        found = lines_containing(file, needle);
        return found.size() >= n;
      },
      timeout);
  return found;
}

// Writes a config file whole: a temporary file renamed over it, so that a reload never reads
// a half-written file.
fs::path write_config(const TempDir& dir, const std::string& name, std::string_view text) {
  dir.write(name + ".tmp", text);
  fs::rename(dir.path() / (name + ".tmp"), dir.path() / name);
  return dir.path() / name;
}

// The routes most tests serve: /v (a fixed body), /health, /metrics and POST /echo.
std::string routes(std::string_view body) {
  return "[[route]]\npath = \"/v\"\nhandler = \"static\"\nbody = \"" + std::string(body) +
         "\"\n\n"
         "[[route]]\npath = \"/health\"\nhandler = \"health\"\n\n"
         "[[route]]\npath = \"/metrics\"\nhandler = \"metrics\"\n\n"
         "[[route]]\npath = \"/echo\"\nmethods = [\"POST\"]\nhandler = \"echo\"\n";
}

std::string listen_line(const std::vector<std::string>& addresses) {
  std::string out = "listen = [";
  for (std::size_t i = 0; i < addresses.size(); ++i)
    out += (i ? ", \"" : "\"") + addresses[i] + "\"";
  return out + "]\n";
}

uint16_t port_of(std::string_view address) {
  auto colon = address.rfind(':');
  unsigned port = 0;
  auto tail = address.substr(colon + 1);
  std::from_chars(tail.data(), tail.data() + tail.size(), port);
  return static_cast<uint16_t>(port);
}

// ---------------------------------------------------------------------------------------------
// The daemon

// The real daemon as a child process, with the operations these tests need: signals, its error
// log (stderr or a file), waiting for log lines and for the exit.
class Lithe {
 public:
  struct Options {
    fs::path error_log;         // where log.error points; empty: stderr
    std::size_t listeners = 1;  // "listening on" lines to wait for before serving
  };

  Lithe(const std::vector<std::string>& args, Options options)
      : options_(std::move(options)), process_(kBinary, args) {
    bool ready = wait_until(
        [&] {
          return listening().size() >= options_.listeners || process_.wait_exit().has_value();
        },
        20s);
    if (auto code = process_.wait_exit())
      throw std::runtime_error("lithe exited with " + std::to_string(*code) +
                               " before listening; log: " + log());
    if (!ready) throw std::runtime_error("lithe did not report listening in time; log: " + log());
    for (const auto& a : listening())
      if (a.rfind("unix:", 0) != 0) {
        port_ = port_of(a);
        break;
      }
  }
  explicit Lithe(const std::vector<std::string>& args) : Lithe(args, Options{}) {}

  pid_t pid() const { return process_.pid(); }
  // The first TCP listener's port.
  uint16_t port() const { return port_; }

  std::string log() const {
    return options_.error_log.empty() ? process_.stderr_text() : read_file(options_.error_log);
  }
  std::string out() const { return process_.stdout_text(); }

  // Every address of a "listening on ADDRESS" line so far, in order.
  std::vector<std::string> listening() const {
    std::vector<std::string> out;
    static constexpr std::string_view marker = "listening on ";
    for (const auto& line : complete_lines(log())) {
      auto at = line.find(marker);
      if (at == std::string::npos || contains(line, "no longer listening")) continue;
      out.push_back(line.substr(at + marker.size()));
    }
    return out;
  }

  std::size_t log_count(std::string_view needle) const { return count_of(log(), needle); }
  // Waits until the error log holds needle at least n times.
  bool await_log(std::string_view needle, std::size_t n = 1,
                 std::chrono::milliseconds timeout = kAwait) const {
    return wait_until([&] { return log_count(needle) >= n; }, timeout);
  }

  void signal(int sig) {
    if (::kill(process_.pid(), sig) != 0) throw std::runtime_error("kill failed");
  }
  std::optional<int> wait_exit(std::chrono::milliseconds timeout = 0ms) {
    return process_.wait_exit(timeout);
  }
  bool running() { return !process_.wait_exit().has_value(); }
  // Sends sig and waits for the exit: the exit code, or 137 after a SIGKILL at the deadline.
  int stop(int sig = SIGTERM, std::chrono::milliseconds timeout = kAwait) {
    signal(sig);
    if (auto code = process_.wait_exit(timeout)) return *code;
    return process_.stop(SIGKILL);
  }

 private:
  Options options_;
  ChildProcess process_;
  uint16_t port_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Clients

// A connection the server has accepted (it answered a request on it), ready for more.
std::unique_ptr<RawClient> accepted(uint16_t port) {
  auto c = std::make_unique<RawClient>(port);
  c->send(get("/health"));
  HttpResponse r = c->read_response();
  if (r.status != 200) throw std::runtime_error("/health answered " + std::to_string(r.status));
  return c;
}

// Bytes queued for reading on fd.
int readable_bytes(int fd) {
  int n = 0;
  ::ioctl(fd, FIONREAD, &n);
  return n;
}

// ---------------------------------------------------------------------------------------------
// 1. SIGTERM: graceful stop

constexpr std::string_view kStopConfig = R"([server]
listen = ["127.0.0.1:0"]

[timeouts]
shutdown = "30s"
header = "60s"
body = "60s"

)";

TEST(OpsStop, SigtermFinishesTheRequestInFlightAndClosesIdleConnections) {
  TempDir dir;
  auto cfg = write_config(dir, "app.toml", std::string(kStopConfig) + routes("A"));
  Lithe d({"-c", cfg.string()});

  RawClient idle(d.port());
  idle.send(get("/health"));
  HttpResponse health = idle.read_response();  // served just before the stop
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok");

  // A request in flight: the head and half of the body.
  auto busy_connection = accepted(d.port());
  RawClient& busy = *busy_connection;
  busy.send(request("POST", "/echo", "Content-Length: 11\r\n") + "hello");

  d.signal(SIGTERM);
  ASSERT_TRUE(idle.is_closed()) << d.log();  // closed without a response
  EXPECT_EQ(idle.buffered(), "");
  // The listener was closed before the idle connections were.
  EXPECT_FALSE(can_connect(d.port()));
  EXPECT_TRUE(d.running()) << "exited with a request in flight; log: " << d.log();

  busy.send(" world");
  HttpResponse r = busy.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello world");
  EXPECT_EQ(r.header("Connection"), "close");
  EXPECT_TRUE(busy.is_closed());
  busy_connection.reset();  // our FIN ends the server's lingering close

  auto code = d.wait_exit(kAwait);
  ASSERT_TRUE(code.has_value()) << d.log();
  EXPECT_EQ(*code, 0) << d.log();
  EXPECT_TRUE(contains(d.log(), "graceful stop")) << d.log();
  EXPECT_TRUE(contains(d.log(), "drained")) << d.log();
}

TEST(OpsStop, SigintIsAGracefulStopToo) {
  TempDir dir;
  auto cfg = write_config(dir, "app.toml", std::string(kStopConfig) + routes("A"));
  Lithe d({"-c", cfg.string()});
  auto busy = accepted(d.port());
  busy->send(request("POST", "/echo", "Content-Length: 2\r\n") + "h");
  d.signal(SIGINT);
  ASSERT_TRUE(wait_until([&] { return !can_connect(d.port()); }, kAwait));
  busy->send("i");
  HttpResponse r = busy->read_response();
  EXPECT_EQ(r.body, "hi");
  EXPECT_EQ(r.header("Connection"), "close");
  busy.reset();
  auto code = d.wait_exit(kAwait);
  ASSERT_TRUE(code.has_value()) << d.log();
  EXPECT_EQ(*code, 0) << d.log();
}

TEST(OpsStop, HealthSaysDrainingWhileARequestIsInFlight) {
  // In process: Server::shutdown() is what SIGTERM calls.
  TestServer server(std::string(kStopConfig) + routes("A"));
  RawClient idle(server.port());
  idle.send(get("/health"));
  EXPECT_EQ(idle.read_response().body, "ok");
  // A health check whose head is still arriving, and a request whose body is.
  auto check_connection = accepted(server.port());
  RawClient& check = *check_connection;
  check.send("GET /health HTTP/1.1\r\nHost: test\r\n");
  auto busy_connection = accepted(server.port());
  RawClient& busy = *busy_connection;
  busy.send(request("POST", "/echo", "Content-Length: 4\r\n") + "ab");

  server.server().shutdown();
  ASSERT_TRUE(idle.is_closed());  // the drain has begun

  check.send("\r\n");
  HttpResponse h = check.read_response();
  EXPECT_EQ(h.status, 503);
  EXPECT_EQ(h.body, "draining");
  EXPECT_EQ(h.header("Connection"), "close");
  EXPECT_TRUE(check.is_closed());

  busy.send("cd");
  HttpResponse r = busy.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "abcd");
  EXPECT_EQ(r.header("Connection"), "close");
  EXPECT_TRUE(busy.is_closed());
}

TEST(OpsStop, ASecondSigtermStopsAtOnce) {
  TempDir dir;
  auto cfg = write_config(dir, "app.toml", std::string(kStopConfig) + routes("A"));
  Lithe d({"-c", cfg.string()});
  auto stuck = accepted(d.port());
  stuck->send("GET /v HTTP/1.1\r\nHost: test\r\n");  // never finished

  d.signal(SIGTERM);
  ASSERT_TRUE(d.await_log("graceful stop")) << d.log();
  ASSERT_TRUE(wait_until([&] { return !can_connect(d.port()); }, kAwait));
  EXPECT_TRUE(d.running());  // the stuck connection holds the drain (30 s limit)

  d.signal(SIGTERM);
  auto code = d.wait_exit(5s);  // far below timeouts.shutdown
  ASSERT_TRUE(code.has_value()) << "still draining after a second SIGTERM; log: " << d.log();
  EXPECT_EQ(*code, 0) << d.log();
  EXPECT_TRUE(contains(d.log(), "again: stopping now")) << d.log();
  EXPECT_TRUE(stuck->is_closed());
}

TEST(OpsStop, ShutdownTimeoutEndsAStuckDrain) {
  TempDir dir;
  auto cfg = write_config(dir, "app.toml",
                          "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[timeouts]\nshutdown = "
                          "\"300ms\"\nheader = \"60s\"\n\n" +
                              routes("A"));
  Lithe d({"-c", cfg.string()});
  auto stuck = accepted(d.port());
  stuck->send("GET /v HTTP/1.1\r\nHost: test\r\n");
  d.signal(SIGTERM);
  auto code = d.wait_exit(kAwait);
  ASSERT_TRUE(code.has_value()) << d.log();
  EXPECT_EQ(*code, 0) << d.log();
  EXPECT_TRUE(contains(d.log(), "shutdown timeout")) << d.log();
  EXPECT_TRUE(stuck->is_closed());
}

// A response being written when the stop begins was rendered for keep-alive; once it is out,
// the connection is idle and must be closed like any other, not kept until the shutdown limit.
TEST(OpsStop, ConnectionWhoseResponseWasBeingWrittenClosesAfterIt) {
  TempDir dir;
  const std::string big(32u << 20, 'x');
  auto body = dir.write("big.txt", big);
  auto cfg = write_config(dir, "app.toml",
                          std::string(kStopConfig) +
                              "[[route]]\npath = \"/big\"\nhandler = \"static\"\nbody_file = \"" +
                              body.string() + "\"\n");
  Lithe d({"-c", cfg.string()});
  RawClient c(d.port());
  // A fixed receive buffer (no autotuning up to tcp_rmem's maximum), still larger than the
  // loopback MSS so that the transfer does not crawl.
  int fixed = 256 * 1024;
  ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &fixed, sizeof(fixed));
  c.send(get("/big"));
  // The server has started writing and cannot finish: 32 MiB do not fit the socket buffers.
  ASSERT_TRUE(wait_until([&] { return readable_bytes(c.fd()) > 0; }, kAwait));

  d.signal(SIGTERM);
  ASSERT_TRUE(wait_until([&] { return !can_connect(d.port()); }, kAwait));  // draining

  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), big.size());
  EXPECT_TRUE(c.is_closed()) << "an idle connection outlived the drain";
  auto code = d.wait_exit(kAwait);
  ASSERT_TRUE(code.has_value()) << d.log();
  EXPECT_EQ(*code, 0) << d.log();
  EXPECT_FALSE(contains(d.log(), "shutdown timeout")) << d.log();
}

// A reload that comes while the server drains must not open listeners again: the stop closed
// them, and a proxy would send new connections to an instance that is going away.
TEST(OpsStop, ReloadDuringTheDrainOpensNoListener) {
  TempDir dir;
  auto cfg = write_config(dir, "app.toml", std::string(kStopConfig) + routes("A"));
  Lithe d({"-c", cfg.string()});
  auto busy = accepted(d.port());
  busy->send(request("POST", "/echo", "Content-Length: 2\r\n") + "h");  // holds the drain
  d.signal(SIGTERM);
  ASSERT_TRUE(d.await_log("graceful stop")) << d.log();

  const uint16_t added = free_tcp_port();
  const std::string added_addr = "127.0.0.1:" + std::to_string(added);
  write_config(dir, "app.toml",
               "[server]\n" + listen_line({"127.0.0.1:0", added_addr}) +
                   "\n[timeouts]\nshutdown = \"30s\"\n\n" + routes("B"));
  d.signal(SIGHUP);
  ASSERT_TRUE(d.await_log("SIGHUP")) << d.log();
  // The reload is handled (or refused) before the next signal: SIGUSR1's line follows it.
  d.signal(SIGUSR1);
  ASSERT_TRUE(d.await_log("log files reopened")) << d.log();
  EXPECT_FALSE(can_connect(added));
  EXPECT_FALSE(contains(d.log(), "listening on " + added_addr)) << d.log();

  busy->send("i");
  HttpResponse r = busy->read_response();
  EXPECT_EQ(r.body, "hi");
  EXPECT_EQ(r.header("Connection"), "close");
  busy.reset();
  auto code = d.wait_exit(kAwait);
  ASSERT_TRUE(code.has_value()) << d.log();
  EXPECT_EQ(*code, 0) << d.log();
}

// ---------------------------------------------------------------------------------------------
// 2. Graceful stop under load

struct LoadResult {
  std::atomic<uint64_t> ok{0};
  std::atomic<uint64_t> retried{0};  // closed between requests without an answer: retried
  std::mutex mutex;
  std::vector<std::string> failures;
  std::set<std::string> bodies;

  void fail(std::string what) {
    std::lock_guard lock(mutex);
    if (failures.size() < 20) failures.push_back(std::move(what));
  }
};

// One keep-alive client: up to `count` GETs of path. A request that the server closed the
// connection on without answering any byte of is retried on a fresh connection, as an HTTP
// client does; a refused connection ends the client (the server has stopped listening).
void keepalive_client(uint16_t port, const std::string& path, int count, LoadResult& result,
                      const std::atomic<bool>* stop = nullptr) {
  std::unique_ptr<RawClient> c;
  for (int i = 0; i < count && !(stop && stop->load());) {
    if (!c) {
      try {
        c = std::make_unique<RawClient>(port);
      } catch (const std::runtime_error&) {
        return;  // refused: the listener is closed
      }
    }
    try {
      c->send(get(path));
      HttpResponse r = c->read_response();
      ++i;
      if (r.status / 100 != 2) {
        result.fail("status " + std::to_string(r.status) + ": " + r.body);
      } else {
        ++result.ok;
        std::lock_guard lock(result.mutex);
        result.bodies.insert(r.body);
      }
      if (r.header("Connection") == "close") c.reset();
    } catch (const std::runtime_error& e) {
      if (c->buffered().empty() && c->is_closed(0ms)) {
        ++result.retried;  // never answered: retry on a new connection
      } else {
        result.fail(std::string("broken response: ") + e.what());
        ++i;
      }
      c.reset();
    }
  }
}

TEST(OpsLoad, GracefulStopUnderLoadAnswersEveryRequestOrNone) {
  TempDir dir;
  auto cfg = write_config(dir, "app.toml", std::string(kStopConfig) + routes("A"));
  Lithe d({"-c", cfg.string(), "-w", "2"});
  constexpr int kClients = 4;
  constexpr int kPerClient = 3000;
  LoadResult result;
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i)
    clients.emplace_back([&] { keepalive_client(d.port(), "/v", kPerClient, result); });
  // Stop in the middle of the load.
  bool loaded = wait_until([&] { return result.ok.load() >= 400; }, kAwait);
  d.signal(SIGTERM);
  for (auto& t : clients) t.join();
  ASSERT_TRUE(loaded);
  auto code = d.wait_exit(kAwait);
  ASSERT_TRUE(code.has_value()) << d.log();
  EXPECT_EQ(*code, 0) << d.log();
  RecordProperty("answered", std::to_string(result.ok.load()));
  RecordProperty("retried", std::to_string(result.retried.load()));
  EXPECT_TRUE(result.failures.empty()) << result.failures.front();
  EXPECT_LT(result.ok.load(), static_cast<uint64_t>(kClients * kPerClient))
      << "the load ended before the stop: nothing was tested";
  EXPECT_EQ(result.bodies, std::set<std::string>{"A"});
}

// ---------------------------------------------------------------------------------------------
// 3. SIGHUP: reload

TEST(OpsReload, NewRoutesForNewAndOpenConnections) {
  TempDir dir;
  const std::string head = "[server]\nlisten = [\"127.0.0.1:0\"]\n\n";
  auto cfg = write_config(dir, "app.toml", head + routes("A"));
  Lithe d({"-c", cfg.string()});
  RawClient open(d.port());
  open.send(get("/v"));
  EXPECT_EQ(open.read_response().body, "A");
  EXPECT_EQ(metric(scrape(d.port()), "lithe_reloads_total"), 0u);

  write_config(
      dir, "app.toml",
      head + routes("B") + "\n[[route]]\npath = \"/new\"\nhandler = \"static\"\nbody = \"n\"\n");
  d.signal(SIGHUP);
  ASSERT_TRUE(d.await_log("reloaded")) << d.log();
  EXPECT_TRUE(contains(d.log(), "+GET /new")) << d.log();
  EXPECT_TRUE(contains(d.log(), "~GET /v")) << d.log();

  EXPECT_EQ(fetch(d.port(), get("/v")).body, "B");
  EXPECT_EQ(fetch(d.port(), get("/new")).body, "n");
  open.send(get("/v"));
  HttpResponse r = open.read_response();
  EXPECT_EQ(r.body, "B");
  EXPECT_FALSE(r.header("Connection").has_value());
  EXPECT_EQ(metric(scrape(d.port()), "lithe_reloads_total"), 1u);

  // A second reload back: counted again.
  write_config(dir, "app.toml", head + routes("A"));
  d.signal(SIGHUP);
  ASSERT_TRUE(d.await_log("reloaded", 2)) << d.log();
  EXPECT_EQ(fetch(d.port(), get("/v")).body, "A");
  EXPECT_EQ(fetch(d.port(), get("/new")).status, 404);
  EXPECT_EQ(metric(scrape(d.port()), "lithe_reloads_total"), 2u);
  EXPECT_EQ(d.stop(), 0) << d.log();
}

// A large static body is sent from a sealed memory file that the loaded config owns. A reload that
// replaces the body while a client is still reading the old one neither cuts nor changes it: the
// response in flight keeps the old config, and its file, until it is written.
TEST(OpsReload, ALargeStaticBodyInFlightSurvivesTheReloadThatReplacesIt) {
  TempDir dir;
  const std::string old_body(8 * 1024 * 1024, 'o');
  dir.write("old.bin", old_body);
  dir.write("new.bin", std::string(8 * 1024 * 1024, 'n'));
  auto config = [](const char* file) {
    return std::string("[server]\nlisten = [\"127.0.0.1:0\"]\n\n[[route]]\npath = \"/big\"\n") +
           "handler = \"static\"\nbody_file = \"" + file + "\"\n";
  };
  auto cfg = write_config(dir, "app.toml", config("old.bin"));
  Lithe d({"-c", cfg.string()});
  RawClient c(d.port());
  c.send(get("/big"));
  ASSERT_FALSE(c.is_closed(5s));  // the first bytes are here; the rest waits for this client

  write_config(dir, "app.toml", config("new.bin"));
  d.signal(SIGHUP);
  ASSERT_TRUE(d.await_log("reloaded")) << d.log();
  EXPECT_EQ(fetch(d.port(), get("/big")).body[0], 'n');
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body == old_body) << r.body.size() << " bytes";
  EXPECT_EQ(d.stop(), 0) << d.log();
}

// The descriptors of /proc/PID/fd whose link starts with `prefix`.
std::size_t open_files(pid_t pid, std::string_view prefix) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    std::error_code ec;
    if (fs::read_symlink(e.path(), ec).string().starts_with(prefix)) ++n;
  }
  return n;
}

// A reload retires the config it replaces, the one loaded at start included: its bodies, its
// files roots and its handlers are freed once no response needs them (the stress tier found the
// first config kept for the life of the process).
TEST(OpsReload, TheReplacedConfigIsFreed) {
  TempDir dir;
  auto config = [](char c) {
    return "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[[route]]\npath = \"/big\"\n"
           "handler = \"static\"\nbody = \"" +
           std::string(64 * 1024, c) + "\"\n";
  };
  auto cfg = write_config(dir, "app.toml", config('a'));
  Lithe d({"-c", cfg.string()});
  EXPECT_EQ(open_files(d.pid(), "/memfd:lithe-body"), 1u);  // the 64 KiB body
  for (int i = 1; i <= 3; ++i) {
    write_config(dir, "app.toml", config(i % 2 ? 'b' : 'a'));
    d.signal(SIGHUP);
    ASSERT_TRUE(d.await_log("reloaded", i)) << d.log();
    EXPECT_EQ(fetch(d.port(), get("/big")).body[0], i % 2 ? 'b' : 'a');
    EXPECT_TRUE(wait_until([&] { return open_files(d.pid(), "/memfd:lithe-body") == 1; }))
        << open_files(d.pid(), "/memfd:lithe-body") << " bodies open after reload " << i;
  }
  EXPECT_EQ(d.stop(), 0) << d.log();
}

TEST(OpsReload, InvalidFileIsRefusedAndTheRunningConfigStays) {
  TempDir dir;
  const std::string head = "[server]\nlisten = [\"127.0.0.1:0\"]\n";
  auto cfg = write_config(dir, "app.toml", head + "\n" + routes("A"));
  Lithe d({"-c", cfg.string()});
  // Line 3, column 1: a misspelt key; line 6, column 11: an unknown handler.
  write_config(dir, "app.toml",
               head + "wrokers = 2\n\n[[route]]\nhandler = \"nope\"\npath = \"/x\"\n");
  d.signal(SIGHUP);
  ASSERT_TRUE(d.await_log("reload refused")) << d.log();
  const std::string log = d.log();
  EXPECT_TRUE(contains(log, cfg.string() + ":3:1:")) << log;
  EXPECT_TRUE(contains(log, "wrokers")) << log;
  EXPECT_FALSE(contains(log, "reloaded")) << log;
  EXPECT_EQ(fetch(d.port(), get("/v")).body, "A");
  EXPECT_EQ(metric(scrape(d.port()), "lithe_reloads_total"), 0u);

  // A config that parses but cannot be built (a handler that does not exist).
  write_config(dir, "app.toml", head + "\n[[route]]\npath = \"/x\"\nhandler = \"nope\"\n");
  d.signal(SIGHUP);
  ASSERT_TRUE(d.await_log("reload refused", 2)) << d.log();
  EXPECT_TRUE(contains(d.log(), cfg.string() + ":6:11:")) << d.log();
  EXPECT_EQ(fetch(d.port(), get("/v")).body, "A");

  // A file that is gone.
  fs::remove(cfg);
  d.signal(SIGHUP);
  ASSERT_TRUE(d.await_log("reload refused", 3)) << d.log();
  EXPECT_EQ(fetch(d.port(), get("/v")).body, "A");
  EXPECT_EQ(d.stop(), 0) << d.log();
}

TEST(OpsReload, ListenersAddedAndRemoved) {
  TempDir dir;
  const uint16_t second = free_tcp_port();
  const fs::path sock = dir.path() / "s.sock";
  auto cfg = write_config(dir, "app.toml",
                          "[server]\n" + listen_line({"127.0.0.1:0"}) + "\n" + routes("A"));
  Lithe d({"-c", cfg.string()});
  const uint16_t first = d.port();
  RawClient open(first);
  open.send(get("/v"));
  EXPECT_EQ(open.read_response().body, "A");

  const std::string second_addr = "127.0.0.1:" + std::to_string(second);
  write_config(dir, "app.toml",
               "[server]\n" + listen_line({"127.0.0.1:0", second_addr, "unix:" + sock.string()}) +
                   "\n" + routes("B"));
  d.signal(SIGHUP);
  ASSERT_TRUE(d.await_log("reloaded")) << d.log();
  EXPECT_TRUE(contains(d.log(), "listening on " + second_addr)) << d.log();
  EXPECT_TRUE(contains(d.log(), "listening on unix:" + sock.string())) << d.log();
  EXPECT_EQ(fetch(first, get("/v")).body, "B");
  EXPECT_EQ(fetch(second, get("/v")).body, "B");
  EXPECT_EQ(fetch(sock, get("/v")).body, "B");

  // Both TCP listeners go; the connection accepted on the first one stays.
  write_config(dir, "app.toml",
               "[server]\n" + listen_line({"unix:" + sock.string()}) + "\n" + routes("C"));
  d.signal(SIGHUP);
  ASSERT_TRUE(d.await_log("reloaded", 2)) << d.log();
  EXPECT_TRUE(contains(d.log(), "no longer listening on 127.0.0.1:" + std::to_string(first)))
      << d.log();
  EXPECT_TRUE(wait_until([&] { return !can_connect(first) && !can_connect(second); }, kAwait));
  EXPECT_EQ(fetch(sock, get("/v")).body, "C");
  open.send(get("/v"));
  EXPECT_EQ(open.read_response().body, "C");

  EXPECT_EQ(d.stop(), 0) << d.log();
  EXPECT_FALSE(fs::exists(sock));
}

TEST(OpsReload, ListenAndWorkersFromTheCommandLineStay) {
  TempDir dir;
  const uint16_t file_port = free_tcp_port();
  auto file = [&](std::string_view body, uint16_t port) {
    return "[server]\nlisten = [\"127.0.0.1:" + std::to_string(port) + "\"]\nworkers = 3\n\n" +
           routes(body);
  };
  auto cfg = write_config(dir, "app.toml", file("A", file_port));
  Lithe d({"-c", cfg.string(), "-l", "127.0.0.1:0", "-w", "1"});
  EXPECT_EQ(d.listening(), std::vector<std::string>{"127.0.0.1:" + std::to_string(d.port())});
  EXPECT_FALSE(can_connect(file_port));

  const uint16_t other_port = free_tcp_port();
  write_config(dir, "app.toml", file("B", other_port));
  d.signal(SIGHUP);
  ASSERT_TRUE(d.await_log("reloaded")) << d.log();
  EXPECT_EQ(fetch(d.port(), get("/v")).body, "B");
  EXPECT_FALSE(can_connect(other_port));
  EXPECT_FALSE(contains(d.log(), "listening on 127.0.0.1:" + std::to_string(other_port)));
  EXPECT_FALSE(contains(d.log(), "workers changes on restart")) << d.log();
  EXPECT_EQ(d.stop(), 0) << d.log();
}

TEST(OpsReload, LoweredBodyLimitAppliesToNewAndOpenConnections) {
  TempDir dir;
  auto file = [&](std::string_view limit) {
    return "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[limits]\nbody = " + std::string(limit) +
           "\n\n" + routes("A");
  };
  auto cfg = write_config(dir, "app.toml", file("\"1MiB\""));
  Lithe d({"-c", cfg.string()});
  const std::string hundred(100, 'b');
  RawClient open(d.port());
  open.send(post("/echo", hundred));
  HttpResponse r = open.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, hundred);

  write_config(dir, "app.toml", file("64"));
  d.signal(SIGHUP);
  ASSERT_TRUE(d.await_log("reloaded")) << d.log();
  EXPECT_EQ(fetch(d.port(), post("/echo", hundred)).status, 413);
  EXPECT_EQ(fetch(d.port(), post("/echo", "small")).body, "small");
  open.send(post("/echo", hundred));
  r = open.read_response();
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.header("Connection"), "close");
  EXPECT_TRUE(open.is_closed());
  ::shutdown(open.fd(), SHUT_WR);  // our FIN ends the server's lingering close
  EXPECT_EQ(d.stop(), 0) << d.log();
}

TEST(OpsReload, ListenAddressInUseRefusesTheWholeReload) {
  TempDir dir;
  // A port someone else listens on.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string taken = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  const fs::path sock = dir.path() / "s.sock";

  auto cfg =
      write_config(dir, "app.toml", "[server]\nlisten = [\"127.0.0.1:0\"]\n\n" + routes("A"));
  Lithe d({"-c", cfg.string()});
  write_config(dir, "app.toml",
               "[server]\n" + listen_line({"127.0.0.1:0", "unix:" + sock.string(), taken}) + "\n" +
                   routes("B"));
  d.signal(SIGHUP);
  ASSERT_TRUE(d.await_log("reload refused")) << d.log();
  EXPECT_TRUE(contains(d.log(), taken)) << d.log();
  EXPECT_EQ(fetch(d.port(), get("/v")).body, "A");
  EXPECT_FALSE(fs::exists(sock));  // bound first, then given up with the rest of the reload
  EXPECT_EQ(metric(scrape(d.port()), "lithe_reloads_total"), 0u);
  ::close(fd);
  EXPECT_EQ(d.stop(), 0) << d.log();
}

// log.error moved from stderr to a file by a reload: the daemon's lines go there from then on.
TEST(OpsReload, ErrorLogMovedToAFile) {
  TempDir dir;
  const fs::path error_log = dir.path() / "error.log";
  auto cfg =
      write_config(dir, "app.toml", "[server]\nlisten = [\"127.0.0.1:0\"]\n\n" + routes("A"));
  Lithe d({"-c", cfg.string()});
  write_config(dir, "app.toml",
               "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[log]\nerror = \"" + error_log.string() +
                   "\"\n\n" + routes("B"));
  d.signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return contains(read_file(error_log), "reloaded"); }, kAwait))
      << d.log();
  EXPECT_EQ(fetch(d.port(), get("/v")).body, "B");
  d.signal(SIGUSR1);
  EXPECT_TRUE(wait_until([&] { return contains(read_file(error_log), "reopened"); }, kAwait));
  EXPECT_FALSE(contains(d.log(), "reopened")) << d.log();
  EXPECT_EQ(d.stop(), 0);
  EXPECT_TRUE(contains(read_file(error_log), "stopped"));
}

// A reload refused because one of its logs cannot be opened changes nothing, not even the other
// log's destination.
TEST(OpsReload, RefusedReloadLeavesTheLogsAlone) {
  TempDir dir;
  const fs::path error_log = dir.path() / "error.log";
  const fs::path bad_access = dir.path() / "no-such-dir" / "access.log";
  auto cfg =
      write_config(dir, "app.toml", "[server]\nlisten = [\"127.0.0.1:0\"]\n\n" + routes("A"));
  Lithe d({"-c", cfg.string()});
  write_config(dir, "app.toml",
               "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[log]\nerror = \"" + error_log.string() +
                   "\"\naccess = \"" + bad_access.string() + "\"\n\n" + routes("B"));
  d.signal(SIGHUP);
  ASSERT_TRUE(wait_until(
      [&] {
        return contains(d.log(), "reload refused") ||
               contains(read_file(error_log), "reload refused");
      },
      kAwait))
      << d.log();
  EXPECT_TRUE(contains(d.log(), "reload refused")) << "logged to " << read_file(error_log);
  EXPECT_EQ(fetch(d.port(), get("/v")).body, "A");
  d.signal(SIGUSR1);
  EXPECT_TRUE(d.await_log("reopened")) << "the error log moved: " << read_file(error_log);
  EXPECT_EQ(d.stop(), 0);
}

// ---------------------------------------------------------------------------------------------
// 4. Reload under load

TEST(OpsLoad, ReloadsUnderLoadDropNothing) {
  TempDir dir;
  const std::string head = "[server]\nlisten = [\"127.0.0.1:0\"]\n\n";
  auto cfg = write_config(dir, "app.toml", head + routes("A"));
  Lithe d({"-c", cfg.string(), "-w", "2"});
  constexpr int kClients = 3;
  LoadResult result;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i)
    clients.emplace_back([&] { keepalive_client(d.port(), "/v", 200000, result, &stop); });

  RawClient mine(d.port());
  for (int i = 0; i < 10; ++i) {
    const std::string body = i % 2 == 0 ? "B" : "A";
    write_config(dir, "app.toml", head + routes(body));
    const uint64_t before = result.ok.load();
    d.signal(SIGHUP);
    ASSERT_TRUE(d.await_log("reloaded", static_cast<std::size_t>(i + 1))) << d.log();
    mine.send(get("/v"));
    EXPECT_EQ(mine.read_response().body, body);
    // The load runs across every reload.
    EXPECT_TRUE(wait_until([&] { return result.ok.load() > before + 50; }, kAwait));
  }
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_TRUE(result.failures.empty()) << result.failures.front();
  EXPECT_EQ(result.retried.load(), 0u);  // no connection was dropped
  EXPECT_EQ(result.bodies, (std::set<std::string>{"A", "B"}));
  EXPECT_EQ(metric(scrape(d.port()), "lithe_reloads_total"), 10u);
  EXPECT_EQ(d.stop(), 0) << d.log();
}

// ---------------------------------------------------------------------------------------------
// 5. SIGUSR1: reopen log files

TEST(OpsLogs, Sigusr1ReopensRenamedLogFiles) {
  TempDir dir;
  const fs::path error_log = dir.path() / "error.log";
  const fs::path access_log = dir.path() / "access.log";
  auto cfg = write_config(dir, "app.toml",
                          "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[log]\nerror = \"" +
                              error_log.string() + "\"\naccess = \"" + access_log.string() +
                              "\"\n\n" + routes("A"));
  Lithe d({"-c", cfg.string()}, {.error_log = error_log, .listeners = 1});
  EXPECT_EQ(d.out(), "");
  for (int i = 1; i <= 3; ++i)
    EXPECT_EQ(fetch(d.port(), get("/v?old=" + std::to_string(i))).status, 200);
  ASSERT_EQ(await_lines(access_log, "/v?old=", 3).size(), 3u);

  fs::rename(error_log, dir.path() / "error.log.1");
  fs::rename(access_log, dir.path() / "access.log.1");
  d.signal(SIGUSR1);
  ASSERT_TRUE(
      wait_until([&] { return contains(read_file(error_log), "log files reopened"); }, kAwait))
      << read_file(dir.path() / "error.log.1");

  for (int i = 1; i <= 2; ++i)
    EXPECT_EQ(fetch(d.port(), get("/v?new=" + std::to_string(i))).status, 200);
  ASSERT_EQ(await_lines(access_log, "/v?new=", 2).size(), 2u);
  EXPECT_EQ(lines_containing(access_log, "/v?old=").size(), 0u);
  EXPECT_EQ(lines_containing(dir.path() / "access.log.1", "/v?old=").size(), 3u);
  EXPECT_EQ(lines_containing(dir.path() / "access.log.1", "/v?new=").size(), 0u);
  EXPECT_TRUE(contains(read_file(dir.path() / "error.log.1"), "listening on"));
  EXPECT_FALSE(contains(read_file(dir.path() / "error.log.1"), "reopened"));

  EXPECT_EQ(d.stop(), 0) << d.log();
  EXPECT_TRUE(contains(read_file(error_log), "stopped"));
  EXPECT_FALSE(contains(read_file(dir.path() / "error.log.1"), "stopped"));
}

// ---------------------------------------------------------------------------------------------
// 6. Access log content

std::string access_config(const fs::path& access_log, std::string_view format,
                          std::string_view proxy = "") {
  return "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[log]\naccess = \"" + access_log.string() +
         "\"\naccess_format = \"" + std::string(format) + "\"\n\n" + std::string(proxy) + "\n" +
         routes("A");
}

TEST(OpsAccessLog, CombinedFormat) {
  TempDir dir;
  const fs::path log = dir.path() / "access.log";
  auto cfg = write_config(dir, "app.toml", access_config(log, "combined"));
  Lithe d({"-c", cfg.string()});
  RawClient c(d.port());
  c.send(get("/v?q=1", "Referer: http://ref.example/page\r\nUser-Agent: OpsTest/1.0 (x)\r\n"));
  EXPECT_EQ(c.read_response().status, 200);
  c.send(request("HEAD", "/v"));
  EXPECT_EQ(c.read_response(true).status, 200);
  c.send(get("/missing"));
  EXPECT_EQ(c.read_response().status, 404);
  c.send("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");  // rejected by the parser
  EXPECT_EQ(c.read_response().status, 400);
  c.shutdown_write();

  auto lines = await_lines(log, "", 4);
  ASSERT_EQ(lines.size(), 4u) << read_file(log);
  const std::string time = R"(\[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\])";
  EXPECT_TRUE(std::regex_match(
      lines[0],
      std::regex(
          "127\\.0\\.0\\.1 - - " + time +
          R"re( "GET /v\?q=1 HTTP/1\.1" 200 1 "http://ref\.example/page" "OpsTest/1\.0 \(x\)" \d+ 0)re")))
      << lines[0];
  EXPECT_TRUE(std::regex_match(lines[1], std::regex("127\\.0\\.0\\.1 - - " + time +
                                                    R"( "HEAD /v HTTP/1\.1" 200 0 "-" "-" \d+ 0)")))
      << lines[1];
  EXPECT_TRUE(
      std::regex_match(lines[2], std::regex("127\\.0\\.0\\.1 - - " + time +
                                            R"( "GET /missing HTTP/1\.1" 404 \d+ "-" "-" \d+ 0)")))
      << lines[2];
  EXPECT_TRUE(std::regex_match(lines[3], std::regex("127\\.0\\.0\\.1 - - " + time +
                                                    R"( "[^"]*" 400 \d+ "[^"]*" "[^"]*" \d+ 0)")))
      << lines[3];
  EXPECT_EQ(d.stop(), 0);
}

TEST(OpsAccessLog, JsonFormatOneObjectALine) {
  TempDir dir;
  const fs::path log = dir.path() / "access.log";
  auto cfg = write_config(dir, "app.toml", access_config(log, "json"));
  Lithe d({"-c", cfg.string()});
  RawClient c(d.port());
  c.send(get("/v?a=\"q\"", "Referer: http://r.example/\r\nUser-Agent: Agent \"quoted\" \\ x\r\n"));
  EXPECT_EQ(c.read_response().status, 200);
  c.send(post("/echo", "12345"));
  EXPECT_EQ(c.read_response().body, "12345");

  auto lines = await_lines(log, "", 2);
  ASSERT_EQ(lines.size(), 2u) << read_file(log);
  simdjson::dom::parser parser;
  for (const auto& line : lines) {
    simdjson::dom::element e;
    ASSERT_EQ(parser.parse(line).get(e), simdjson::SUCCESS) << line;
    ASSERT_TRUE(e.is_object()) << line;
  }
  simdjson::dom::element first = parser.parse(lines[0]);
  EXPECT_EQ(std::string_view(first["client"]), "127.0.0.1");
  EXPECT_EQ(std::string_view(first["method"]), "GET");
  EXPECT_EQ(std::string_view(first["target"]), "/v?a=\"q\"");
  EXPECT_EQ(std::string_view(first["protocol"]), "HTTP/1.1");
  EXPECT_EQ(int64_t(first["status"]), 200);
  EXPECT_EQ(int64_t(first["bytes"]), 1);
  EXPECT_EQ(int64_t(first["bytes_received"]), 0);
  EXPECT_GE(int64_t(first["duration_us"]), 0);
  EXPECT_EQ(std::string_view(first["referer"]), "http://r.example/");
  EXPECT_EQ(std::string_view(first["user_agent"]), "Agent \"quoted\" \\ x");
  EXPECT_TRUE(
      std::regex_match(std::string(std::string_view(first["time"])),
                       std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2})")));
  simdjson::dom::element second = parser.parse(lines[1]);
  EXPECT_EQ(std::string_view(second["method"]), "POST");
  EXPECT_EQ(int64_t(second["bytes"]), 5);
  EXPECT_EQ(int64_t(second["bytes_received"]), 5);  // the buffered request body
  EXPECT_EQ(std::string_view(second["referer"]), "");
  EXPECT_EQ(d.stop(), 0);
}

// Lines still queued when the stop comes are written before the exit.
TEST(OpsAccessLog, WrittenOutOnStop) {
  TempDir dir;
  const fs::path log = dir.path() / "access.log";
  auto cfg = write_config(dir, "app.toml", access_config(log, "json"));
  Lithe d({"-c", cfg.string()});
  {
    RawClient c(d.port());
    for (int i = 0; i < 200; ++i) {
      c.send(get("/v?n=" + std::to_string(i)));
      EXPECT_EQ(c.read_response().status, 200);
    }
  }
  EXPECT_EQ(d.stop(), 0) << d.log();
  const auto lines = lines_containing(log, "/v?n=");
  ASSERT_EQ(lines.size(), 200u);
  EXPECT_TRUE(contains(lines.back(), "/v?n=199")) << lines.back();
}

// The client field of the one access log line a GET with extra_headers produces.
std::string logged_client(std::string_view proxy_section, std::string_view extra_headers) {
  TempDir dir;
  const fs::path log = dir.path() / "access.log";
  auto cfg = write_config(dir, "app.toml", access_config(log, "combined", proxy_section));
  Lithe d({"-c", cfg.string()});
  EXPECT_EQ(fetch(d.port(), get("/v", extra_headers)).status, 200);
  auto lines = await_lines(log, "GET /v", 1);
  EXPECT_EQ(d.stop(), 0) << d.log();
  if (lines.empty()) return "<no line>";
  return lines[0].substr(0, lines[0].find(' '));
}

TEST(OpsAccessLog, TrustedProxyForwardedForNamesTheClient) {
  EXPECT_EQ(logged_client("[proxy]\ntrusted = [\"127.0.0.1/32\"]\n",
                          "X-Forwarded-For: 203.0.113.7, 127.0.0.1\r\n"),
            "203.0.113.7");
}

TEST(OpsAccessLog, UntrustedPeerForwardedForIsIgnored) {
  EXPECT_EQ(logged_client("[proxy]\ntrusted = []\n", "X-Forwarded-For: 203.0.113.7\r\n"),
            "127.0.0.1");
  // Trusted proxies that do not include the peer.
  EXPECT_EQ(
      logged_client("[proxy]\ntrusted = [\"10.0.0.0/8\"]\n", "X-Forwarded-For: 203.0.113.7\r\n"),
      "127.0.0.1");
}

TEST(OpsAccessLog, XRealIpAndForwardedVariants) {
  EXPECT_EQ(logged_client("[proxy]\ntrusted = [\"127.0.0.1/32\"]\nclient_header = \"X-Real-IP\"\n",
                          "X-Real-IP: 203.0.113.8\r\nX-Forwarded-For: 198.51.100.1\r\n"),
            "203.0.113.8");
  EXPECT_EQ(logged_client("[proxy]\ntrusted = [\"127.0.0.1/32\"]\nclient_header = \"Forwarded\"\n",
                          "Forwarded: for=203.0.113.9;proto=http, for=127.0.0.1\r\n"
                          "X-Forwarded-For: 198.51.100.1\r\n"),
            "203.0.113.9");
  EXPECT_EQ(logged_client("[proxy]\ntrusted = [\"127.0.0.1/32\"]\nclient_header = \"Forwarded\"\n",
                          "Forwarded: for=\"[2001:db8::1]:4711\"\r\n"),
            "2001:db8::1");
}

// Access logging switched on by a reload: a keep-alive connection accepted before it still logs
// its client's address, and trusted proxy headers count for it.
TEST(OpsAccessLog, EnabledByReloadForAnOpenConnection) {
  TempDir dir;
  const fs::path log = dir.path() / "access.log";
  auto cfg =
      write_config(dir, "app.toml", "[server]\nlisten = [\"127.0.0.1:0\"]\n\n" + routes("A"));
  Lithe d({"-c", cfg.string()});
  RawClient open(d.port());
  open.send(get("/v"));
  EXPECT_EQ(open.read_response().status, 200);

  write_config(dir, "app.toml",
               access_config(log, "combined", "[proxy]\ntrusted = [\"127.0.0.1/32\"]\n"));
  d.signal(SIGHUP);
  ASSERT_TRUE(d.await_log("reloaded")) << d.log();
  open.send(get("/v?plain"));
  EXPECT_EQ(open.read_response().status, 200);
  open.send(get("/v?xff", "X-Forwarded-For: 203.0.113.7\r\n"));
  EXPECT_EQ(open.read_response().status, 200);
  auto plain = await_lines(log, "/v?plain", 1);
  auto xff = await_lines(log, "/v?xff", 1);
  ASSERT_EQ(plain.size(), 1u);
  ASSERT_EQ(xff.size(), 1u);
  EXPECT_EQ(plain[0].substr(0, plain[0].find(' ')), "127.0.0.1") << plain[0];
  EXPECT_EQ(xff[0].substr(0, xff[0].find(' ')), "203.0.113.7") << xff[0];
  EXPECT_EQ(d.stop(), 0) << d.log();
}

// ---------------------------------------------------------------------------------------------
// 7. PROXY protocol

std::string proxy_v2_tcp4(const uint8_t (&src)[4], const uint8_t (&dst)[4], uint16_t sport,
                          uint16_t dport) {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h += '\x21';  // version 2, PROXY
  h += '\x11';  // TCP over IPv4
  h += '\x00';
  h += '\x0c';  // 12 address bytes
  h.append(reinterpret_cast<const char*>(src), 4);
  h.append(reinterpret_cast<const char*>(dst), 4);
  h += static_cast<char>(sport >> 8);
  h += static_cast<char>(sport & 0xff);
  h += static_cast<char>(dport >> 8);
  h += static_cast<char>(dport & 0xff);
  return h;
}

class OpsProxyProtocol : public ::testing::Test {
 protected:
  void SetUp() override {
    log_ = dir_.path() / "access.log";
    auto cfg = write_config(dir_, "app.toml",
                            access_config(log_, "combined", "[proxy]\nproxy_protocol = true\n"));
    d_ = std::make_unique<Lithe>(std::vector<std::string>{"-c", cfg.string()});
  }
  void TearDown() override { EXPECT_EQ(d_->stop(), 0) << d_->log(); }

  // The client of the access log line for target.
  std::string client_of(const std::string& target) {
    auto lines = await_lines(log_, "GET " + target + " ", 1);
    if (lines.empty()) return "<no line>";
    return lines[0].substr(0, lines[0].find(' '));
  }

  // Bytes the server has read so far, from /metrics (each scrape adds its own kScrapeBytes).
  static constexpr std::string_view kScrapePreamble = "PROXY UNKNOWN\r\n";
  const uint64_t kScrapeBytes = kScrapePreamble.size() + get("/metrics").size();
  uint64_t received() {
    return metric(scrape(d_->port(), kScrapePreamble), "lithe_received_bytes_total");
  }

  TempDir dir_;
  fs::path log_;
  std::unique_ptr<Lithe> d_;
};

TEST_F(OpsProxyProtocol, V1SourceAddressIsTheClient) {
  RawClient c(d_->port());
  c.send("PROXY TCP4 198.51.100.9 127.0.0.1 5555 80\r\n" + get("/v?v1"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "A");
  c.send(get("/v?again"));  // the preamble comes once; keep-alive goes on
  EXPECT_EQ(c.read_response().body, "A");
  EXPECT_EQ(client_of("/v?v1"), "198.51.100.9");
  EXPECT_EQ(client_of("/v?again"), "198.51.100.9");
}

TEST_F(OpsProxyProtocol, V2SourceAddressIsTheClient) {
  RawClient c(d_->port());
  c.send(proxy_v2_tcp4({203, 0, 113, 20}, {127, 0, 0, 1}, 40000, 80) + get("/v?v2"));
  EXPECT_EQ(c.read_response().status, 200);
  EXPECT_EQ(client_of("/v?v2"), "203.0.113.20");
}

TEST_F(OpsProxyProtocol, UnknownAndLocalKeepThePeer) {
  RawClient c(d_->port());
  c.send("PROXY UNKNOWN\r\n" + get("/v?unknown"));
  EXPECT_EQ(c.read_response().status, 200);
  EXPECT_EQ(client_of("/v?unknown"), "127.0.0.1");
  // v2 LOCAL (a health check from the proxy itself): no address.
  RawClient local(d_->port());
  local.send(std::string("\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00", 16) + get("/v?local"));
  EXPECT_EQ(local.read_response().status, 200);
  EXPECT_EQ(client_of("/v?local"), "127.0.0.1");
}

TEST_F(OpsProxyProtocol, ConnectionWithoutAPreambleIsClosedUnanswered) {
  RawClient c(d_->port());
  c.send(get("/v?plain"));
  EXPECT_EQ(c.read_until_close(), "");
  RawClient garbage(d_->port());
  garbage.send("PROXY TCP4 not-an-address 127.0.0.1 1 2\r\n" + get("/v?garbage"));
  EXPECT_EQ(garbage.read_until_close(), "");
  EXPECT_EQ(lines_containing(log_, "/v?plain").size(), 0u);
}

TEST(OpsProxyProtocolTimeout, UnfinishedPreambleIsClosedSilently) {
  // Not HTTP yet: the header deadline closes it without an HTTP 408.
  TempDir dir;
  const fs::path log = dir.path() / "access.log";
  auto cfg = write_config(
      dir, "app.toml",
      access_config(log, "combined",
                    "[proxy]\nproxy_protocol = true\n\n[timeouts]\nheader = \"200ms\"\n"));
  Lithe d({"-c", cfg.string()});
  RawClient c(d.port());
  c.send("PROXY TCP4 198.51.100.1");
  EXPECT_EQ(c.read_until_close(), "");
  EXPECT_EQ(d.stop(), 0) << d.log();
}

TEST_F(OpsProxyProtocol, PreambleSplitAcrossReads) {
  // Each piece is sent once the server has read the one before: it sees every split.
  const std::string v1 = "PROXY TCP4 198.51.100.10 127.0.0.1 5555 80\r\n";
  const std::string v2 = proxy_v2_tcp4({203, 0, 113, 21}, {127, 0, 0, 1}, 40001, 80);
  struct Case {
    std::string preamble;
    std::vector<std::size_t> cuts;
    std::string target;
    std::string client;
  };
  for (const Case& k : {Case{v1, {3, 10, 30, v1.size() - 1}, "/v?split1", "198.51.100.10"},
                        Case{v2, {5, 12, 14, 20}, "/v?split2", "203.0.113.21"}}) {
    RawClient c(d_->port());
    std::size_t from = 0;
    for (std::size_t cut : k.cuts) {
      const uint64_t before = received();
      c.send(k.preamble.substr(from, cut - from));
      // Every scrape adds its own bytes: the piece is read once the k-th scrape shows it too.
      const uint64_t piece = cut - from;
      uint64_t scrapes = 0;
      ASSERT_TRUE(wait_until(
          [&] {
            const uint64_t now = received();
            ++scrapes;
            return now >= before + scrapes * kScrapeBytes + piece;
          },
          kAwait))
          << k.target;
      from = cut;
    }
    c.send(k.preamble.substr(from) + get(k.target));
    EXPECT_EQ(c.read_response().status, 200) << k.target;
    EXPECT_EQ(client_of(k.target), k.client);
  }
}

// A restarted daemon makes IDs of its own: its random bits are drawn anew, so its IDs cannot
// repeat the last run's, although both count from zero.
TEST(OpsRequestId, ARestartedDaemonMakesOtherIds) {
  TempDir dir;
  auto cfg = write_config(dir, "app.toml",
                          "[server]\nlisten = [\"127.0.0.1:0\"]\nrequest_id_header = "
                          "\"X-Request-Id\"\n\n" +
                              routes("A"));
  std::vector<std::string> first_ids;
  for (int run = 0; run < 2; ++run) {
    Lithe d({"-c", cfg.string()});
    first_ids.push_back(fetch(d.port(), get("/v")).header("X-Request-Id").value_or(""));
    EXPECT_EQ(d.stop(), 0) << d.log();
  }
  ASSERT_EQ(first_ids[0].size(), 32u);
  ASSERT_EQ(first_ids[1].size(), 32u);
  EXPECT_EQ(first_ids[0].substr(16), first_ids[1].substr(16));  // both the first of a worker
  EXPECT_NE(first_ids[0], first_ids[1]);
}

// ---------------------------------------------------------------------------------------------
// 8. pid file

TEST(OpsPidFile, WrittenAfterBindingAndRemovedOnExit) {
  TempDir dir;
  const fs::path pid_file = dir.path() / "lithe.pid";
  auto cfg = write_config(dir, "app.toml",
                          "[server]\nlisten = [\"127.0.0.1:0\"]\npid_file = \"" +
                              pid_file.string() + "\"\n\n" + routes("A"));
  Lithe d({"-c", cfg.string()});
  const std::string expected = std::to_string(d.pid()) + "\n";
  ASSERT_TRUE(wait_until([&] { return read_file(pid_file) == expected; }, kAwait))
      << "'" << read_file(pid_file) << "'";
  EXPECT_TRUE(can_connect(d.port()));  // bound when the file names the pid
  EXPECT_EQ(d.stop(), 0) << d.log();
  EXPECT_FALSE(fs::exists(pid_file));
}

// A reload that names another pid file moves it, as nginx does: the new one is written, the old
// one removed. One that cannot be written refuses the reload and the old file stays.
TEST(OpsPidFile, AReloadMovesItAndAnUnwritableOneIsRefused) {
  TempDir dir;
  const fs::path first = dir.path() / "first.pid";
  const fs::path second = dir.path() / "second.pid";
  const fs::path unwritable = dir.path() / "no-such-dir" / "third.pid";
  auto config = [&](const fs::path& pid) {
    return "[server]\nlisten = [\"127.0.0.1:0\"]\npid_file = \"" + pid.string() + "\"\n\n" +
           routes("A");
  };
  auto cfg = write_config(dir, "app.toml", config(first));
  Lithe d({"-c", cfg.string()});
  const std::string expected = std::to_string(d.pid()) + "\n";
  ASSERT_TRUE(wait_until([&] { return read_file(first) == expected; }, kAwait)) << d.log();

  write_config(dir, "app.toml", config(second));
  d.signal(SIGHUP);
  ASSERT_TRUE(d.await_log("reloaded")) << d.log();
  EXPECT_EQ(read_file(second), expected);
  EXPECT_FALSE(fs::exists(first));

  write_config(dir, "app.toml", config(unwritable));
  d.signal(SIGHUP);
  ASSERT_TRUE(d.await_log("reload refused")) << d.log();
  EXPECT_TRUE(contains(d.log(), "no-such-dir/third.pid")) << d.log();
  EXPECT_EQ(read_file(second), expected);

  EXPECT_EQ(d.stop(), 0) << d.log();
  EXPECT_FALSE(fs::exists(second));
}

// A supervisor reads the pid file and signals at once (a reload right after a start): the
// daemon must handle the signal, not die of its default action.
TEST(OpsPidFile, SignalSentAsSoonAsThePidFileExistsIsHandled) {
  for (int round = 0; round < 10; ++round) {
    TempDir dir;
    const fs::path pid_file = dir.path() / "lithe.pid";
    auto cfg = write_config(dir, "app.toml",
                            "[server]\nlisten = [\"127.0.0.1:0\"]\npid_file = \"" +
                                pid_file.string() + "\"\n\n" + routes("A"));
    const int in = ::inotify_init1(IN_CLOEXEC);
    ASSERT_GE(in, 0);
    ASSERT_GE(::inotify_add_watch(in, dir.path().c_str(), IN_CLOSE_WRITE), 0);
    ChildProcess p(kBinary, {"-c", cfg.string()});
    // Woken by the close of the written pid file, and signal at once.
    bool signalled = false;
    const auto deadline = std::chrono::steady_clock::now() + kAwait;
    while (!signalled && std::chrono::steady_clock::now() < deadline) {
      pollfd pf{in, POLLIN, 0};
      if (::poll(&pf, 1, 100) <= 0) {
        if (p.wait_exit()) break;
        continue;
      }
      alignas(inotify_event) char buf[4096];
      const ssize_t n = ::read(in, buf, sizeof buf);
      for (ssize_t at = 0; at < n;) {
        const auto* ev = reinterpret_cast<const inotify_event*>(buf + at);
        if (ev->len > 0 && std::string_view(ev->name) == "lithe.pid") {
          ::kill(p.pid(), SIGHUP);
          signalled = true;
        }
        at += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      }
    }
    ::close(in);
    ASSERT_TRUE(signalled) << p.stderr_text();
    ASSERT_TRUE(wait_until(
        [&] { return contains(p.stderr_text(), "reloaded") || p.wait_exit().has_value(); },
        kAwait));
    ASSERT_FALSE(p.wait_exit().has_value())
        << "round " << round << ": died of the SIGHUP with " << *p.wait_exit();
    EXPECT_EQ(p.stop(SIGTERM), 0) << p.stderr_text();
  }
}

// ---------------------------------------------------------------------------------------------
// 9. Unix socket listeners

TEST(OpsUnix, ServesWithMode0660AndRemovesTheFileOnExit) {
  TempDir dir;
  const fs::path sock = dir.path() / "s.sock";
  Lithe d({"-l", "unix:" + sock.string()});
  EXPECT_EQ(d.listening(), std::vector<std::string>{"unix:" + sock.string()});
  struct stat st {};
  ASSERT_EQ(::lstat(sock.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  RawClient c(sock);
  c.send(get("/plaintext"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "Hello, World!");
  c.send(get("/json"));
  EXPECT_EQ(c.read_response().body, R"({"message":"Hello, World!"})");
  EXPECT_EQ(d.stop(), 0) << d.log();
  EXPECT_FALSE(fs::exists(sock));
}

TEST(OpsUnix, StaleSocketFileIsReplaced) {
  TempDir dir;
  const fs::path sock = dir.path() / "s.sock";
  {  // A socket file left by a process that is gone.
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, sock.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ::close(fd);
  }
  ASSERT_TRUE(fs::exists(sock));
  Lithe d({"-l", "unix:" + sock.string()});
  EXPECT_EQ(fetch(sock, get("/plaintext")).body, "Hello, World!");
  EXPECT_EQ(d.stop(), 0) << d.log();
  EXPECT_FALSE(fs::exists(sock));
}

TEST(OpsUnix, LiveSocketOrOtherFileIsNotTaken) {
  TempDir dir;
  const fs::path sock = dir.path() / "s.sock";
  Lithe first({"-l", "unix:" + sock.string()});
  ExitResult second = run_to_exit(kBinary, {"-l", "unix:" + sock.string()});
  EXPECT_EQ(second.exit_code, 2) << second.err;
  EXPECT_TRUE(contains(second.err, sock.string())) << second.err;
  EXPECT_EQ(fetch(sock, get("/plaintext")).status, 200);  // the first one still serves
  EXPECT_EQ(first.stop(), 0);

  const fs::path file = dir.write("plain-file", "data");
  ExitResult third = run_to_exit(kBinary, {"-l", "unix:" + file.string()});
  EXPECT_EQ(third.exit_code, 2) << third.err;
  EXPECT_EQ(read_file(file), "data");
}

TEST(OpsUnix, TcpAndUnixTogetherWithTwoWorkers) {
  TempDir dir;
  const fs::path sock = dir.path() / "s.sock";
  Lithe d({"-l", "127.0.0.1:0", "-l", "unix:" + sock.string(), "-w", "2"},
          {.error_log = {}, .listeners = 2});
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(fetch(d.port(), get("/plaintext")).body, "Hello, World!");
    EXPECT_EQ(fetch(sock, get("/plaintext")).body, "Hello, World!");
  }
  EXPECT_EQ(d.stop(), 0) << d.log();
  EXPECT_FALSE(fs::exists(sock));
}

// ---------------------------------------------------------------------------------------------
// 10. Several workers

TEST(OpsWorkers, TwoWorkersCountEveryConnectionAndRequest) {
  Lithe d({"-l", "127.0.0.1:0", "-w", "2"});
  constexpr int kThreads = 4;
  constexpr int kConnections = 15;  // per thread
  constexpr int kRequests = 5;      // per connection
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kConnections; ++i) {
        RawClient c(d.port());
        for (int j = 0; j < kRequests; ++j) {
          c.send(get("/plaintext"));
          HttpResponse r = c.read_response();
          if (r.status == 200 && r.body == "Hello, World!") ++ok;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kConnections * kRequests);
  const std::string m = scrape(d.port());
  EXPECT_EQ(metric(m, "lithe_connections_total"),
            static_cast<uint64_t>(kThreads * kConnections + 1));
  EXPECT_EQ(metric(m, "lithe_requests_total", "route=\"/plaintext\""),
            static_cast<uint64_t>(kThreads * kConnections * kRequests));
  EXPECT_EQ(metric(m, "lithe_requests_total", "code=\"200\""),
            static_cast<uint64_t>(kThreads * kConnections * kRequests));
  EXPECT_EQ(d.stop(), 0) << d.log();
}

// ---------------------------------------------------------------------------------------------
// 10. Event interface: server.io, overridden by LITHE_IO (ctest runs the "epoll." copy of every
// integration test with LITHE_IO=epoll)

// Whether this kernel gives lithe what its io_uring loop needs: a ring and a provided-buffer
// ring (Linux 5.19). Raw system calls, so the answer does not go through lithe's own code.
bool kernel_has_io_uring() {
  io_uring_params p{};
  const int fd = static_cast<int>(::syscall(__NR_io_uring_setup, 4, &p));
  if (fd < 0) return false;
  void* mem = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uintptr_t>(mem);
  reg.ring_entries = 4;
  const bool ok = mem != MAP_FAILED &&
                  ::syscall(__NR_io_uring_register, fd, IORING_REGISTER_PBUF_RING, &reg, 1) == 0;
  ::close(fd);
  if (mem != MAP_FAILED) ::munmap(mem, 4096);
  return ok;
}

TEST(OpsIo, TheLogNamesTheEventInterfaceInUse) {
  const char* env = std::getenv("LITHE_IO");
  const bool epoll = (env && std::string_view(env) == "epoll") || !kernel_has_io_uring();
  Lithe d({"-l", "127.0.0.1:0"});
  EXPECT_TRUE(contains(d.log(), epoll ? "connections use epoll" : "connections use io_uring"))
      << d.log();
  EXPECT_EQ(fetch(d.port(), get("/plaintext")).body, "Hello, World!");
  EXPECT_EQ(d.stop(), 0) << d.log();
}

TEST(OpsIo, ServerIoEpollIsHonouredAndAReloadCannotChangeIt) {
  TempDir dir;
  const std::string head = "[server]\nlisten = [\"127.0.0.1:0\"]\n";
  auto cfg = write_config(dir, "app.toml", head + "io = \"epoll\"\n\n" + routes("A"));
  Lithe d({"-c", cfg.string()});
  EXPECT_TRUE(contains(d.log(), "connections use epoll")) << d.log();
  EXPECT_EQ(fetch(d.port(), get("/v")).body, "A");
  write_config(dir, "app.toml", head + "io = \"io_uring\"\n\n" + routes("B"));
  d.signal(SIGHUP);
  ASSERT_TRUE(d.await_log("reloaded")) << d.log();
  EXPECT_TRUE(contains(d.log(), "server.io changes on restart only")) << d.log();
  EXPECT_EQ(fetch(d.port(), get("/v")).body, "B");
  EXPECT_EQ(d.stop(), 0) << d.log();
}

}  // namespace
}  // namespace lithe::test
