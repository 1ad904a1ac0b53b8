// Integration test harness: an in-process lithe::Server on loopback, a raw blocking HTTP/1.1
// client, and a runner for the real `lithe` daemon. Every wait has a deadline and waits for a
// condition (a socket event, a line in a file, a process exit), never a fixed sleep; a hang
// becomes a thrown std::runtime_error, which gtest reports as a failure of the test.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "lithe/server.hpp"

namespace lithe::test {

using namespace std::chrono_literals;

// How long any single blocking wait may take before the test fails instead of hanging.
inline constexpr std::chrono::milliseconds io_timeout = 5s;

// ---------------------------------------------------------------------------------------------
// In-process server

// Runs lithe::Server, built from TOML text with listen forced to 127.0.0.1:0, on a background
// thread. setup (optional) runs before the server starts, to register C++ handlers. The
// destructor calls stop(); if run() has not returned within stop_timeout, it prints why and
// aborts the test binary (a hung server must not turn into a silent ctest timeout).
class TestServer {
 public:
  explicit TestServer(std::string_view toml_text,
                      const std::function<void(lithe::Server&)>& setup = {});
  // A config as given, listen included: one loaded from a file, which server().reload() reads
  // again.
  explicit TestServer(lithe::Config config, const std::function<void(lithe::Server&)>& setup = {});
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }  // "127.0.0.1:41234"
  lithe::Server& server() { return *server_; }

  static constexpr std::chrono::seconds stop_timeout{15};

 private:
  std::unique_ptr<lithe::Server> server_;
  std::thread thread_;
  std::string address_;
  uint16_t port_ = 0;
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  int exit_code_ = -1;
};

// The text of lithe's built-in default config.
std::string default_config();

// ---------------------------------------------------------------------------------------------
// Raw HTTP client

struct HttpResponse {
  std::string version;  // "HTTP/1.1"
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;  // in order, as received
  std::string body;
  std::string raw;  // every byte of this response, head and body

  // The first header with this name (ASCII case-insensitive), or nullopt.
  std::optional<std::string> header(std::string_view name) const;
  bool has_header(std::string_view name) const { return header(name).has_value(); }
  std::size_t header_count(std::string_view name) const;
  // Everything up to and including the blank line ending the head.
  std::string head() const;
};

// A blocking TCP client on 127.0.0.1:port. Receive and send timeouts (io_timeout) make a
// stalled server fail the test instead of blocking it forever.
class RawClient {
 public:
  explicit RawClient(uint16_t port);
  // A TCP client on 127.0.0.1:port whose own end is bound to source_ip first (e.g. "127.0.0.2":
  // a proxy in between then sees a client address that is not its own).
  RawClient(uint16_t port, const std::string& source_ip);
  // A client on a unix stream socket.
  explicit RawClient(const std::filesystem::path& unix_path);
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  // Sends every byte (throws on error).
  void send(std::string_view data);
  // Half-closes the sending direction (the server sees EOF).
  void shutdown_write();
  // Closes with a reset (SO_LINGER 0): the server sees ECONNRESET, not EOF.
  void reset();

  // Reads exactly one response. no_body: the response has no body whatever its headers say
  // (the answer to a HEAD). 1xx, 204 and 304 never have one. Throws on EOF or timeout.
  HttpResponse read_response(bool no_body = false);
  // Every byte until the server closes (throws on timeout).
  std::string read_until_close();
  // Receives until the unconsumed bytes contain needle; they stay buffered for the next read.
  // Throws on EOF or timeout.
  const std::string& peek_until(std::string_view needle);
  // Waits up to timeout for the server to close (EOF or reset). False when the timeout passes
  // or bytes arrive instead (they stay buffered for the next read).
  bool is_closed(std::chrono::milliseconds timeout = io_timeout);

  // Bytes received but not consumed by a read yet.
  const std::string& buffered() const { return buf_; }
  int fd() const { return fd_; }

 private:
  // Receives more bytes into buf_; false on EOF. Throws on timeout or error.
  bool fill();

  int fd_ = -1;
  std::string buf_;
};

// "GET /path HTTP/1.1\r\nHost: test\r\n" + extra_headers + "\r\n".
std::string get(std::string_view path, std::string_view extra_headers = "");
// A request with a Content-Length body.
std::string with_body(std::string_view method, std::string_view path, std::string_view body,
                      std::string_view extra_headers = "");
std::string post(std::string_view path, std::string_view body, std::string_view extra_headers = "");
std::string put(std::string_view path, std::string_view body, std::string_view extra_headers = "");
std::string request(std::string_view method, std::string_view path,
                    std::string_view extra_headers = "");

// One request on a connection of its own, and its response.
HttpResponse fetch(uint16_t port, const std::string& req);
HttpResponse fetch(const std::filesystem::path& unix_path, const std::string& req);

// True when v is an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT", RFC 9110 §5.6.7).
bool is_imf_fixdate(std::string_view v);

// ---------------------------------------------------------------------------------------------
// Files and processes

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // Writes a file in the directory and returns its path.
  std::filesystem::path write(const std::string& name, std::string_view content) const;

 private:
  std::filesystem::path path_;
};

std::string read_file(const std::filesystem::path& p);

// n bytes of a pattern that does not repeat at any power-of-two period, so a byte moved, lost
// or doubled anywhere changes the text.
std::string pattern(std::size_t n);
// body in chunks of `size` bytes (the last shorter), with the terminating chunk.
std::string chunked(std::string_view body, std::size_t size);

// A process's resident memory (VmRSS), in bytes; 0 if it cannot be read.
std::size_t resident_bytes(pid_t pid);

// The body of GET /metrics on port, sent after preamble (a PROXY protocol header, say); throws
// unless the answer is 200.
std::string scrape(uint16_t port, std::string_view preamble = "");
// The sum of every sample of a metric in a scrape: `name` alone, or `name{...}` whose labels
// contain filter. 0 when there is none.
uint64_t metric(std::string_view text, std::string_view name, std::string_view filter = "");

// FNV-1a (64 bit), continued from h: the checksum the tests and the stream example compute
// over bodies that arrive in pieces.
inline constexpr uint64_t fnv1a_start = 14695981039346656037ULL;
inline uint64_t fnv1a(std::string_view bytes, uint64_t h = fnv1a_start) {
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ULL;
  return h;
}

struct ExitResult {
  int exit_code = -1;  // the exit status, or 128 + signal number when killed by a signal
  std::string out;
  std::string err;
};

// Runs the binary with args to completion (stdin /dev/null); kills it and throws if it has not
// exited within timeout.
ExitResult run_to_exit(const std::string& binary, const std::vector<std::string>& args,
                       std::chrono::milliseconds timeout = 30s);

// The real daemon, serving: spawned with args, its stderr captured in a file; the constructor
// waits for its "listening on HOST:PORT" line and throws if the process exits first.
class Daemon {
 public:
  Daemon(const std::string& binary, const std::vector<std::string>& args);
  ~Daemon();  // SIGKILL if still running
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }
  std::string stderr_text() const;

  // Sends SIGTERM and waits for the exit; returns the exit code (128 + signal if killed).
  int terminate(std::chrono::milliseconds timeout = 30s);
  // Waits for an exit something else caused (a signal the test sent, which a second one from
  // terminate() would turn into an immediate stop, or race with the exit); fails after timeout.
  int wait(std::chrono::milliseconds timeout = 30s);

 private:
  TempDir dir_;
  std::filesystem::path stderr_path_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string address_;
};

// ---------------------------------------------------------------------------------------------
// Other programs (reverse proxies in front of the daemon) and loopback ports

// Any program, spawned with stdin from /dev/null, stdout and stderr in files, in a process group
// of its own so that its children (nginx's workers) are stopped with it. The destructor sends
// SIGTERM to the group, waits a little, then SIGKILLs whatever is left of it.
class ChildProcess {
 public:
  ChildProcess(const std::string& binary, const std::vector<std::string>& args);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // The exit code (128 + signal when killed) once the process has exited within timeout; nullopt
  // while it runs (0ms: just look).
  std::optional<int> wait_exit(std::chrono::milliseconds timeout = 0ms);
  // Sends sig to the group and waits for the exit; SIGKILLs the group after timeout. Returns the
  // exit code as wait_exit does.
  int stop(int sig, std::chrono::milliseconds timeout = 10s);
  std::string stdout_text() const;
  std::string stderr_text() const;

 private:
  TempDir dir_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed). Another
// process may take it before the caller binds it: callers retry on EADDRINUSE.
uint16_t free_tcp_port();

// One connection attempt: true when something accepts on 127.0.0.1:port / the unix socket.
bool can_connect(uint16_t port);
bool can_connect(const std::filesystem::path& unix_path);

// Checks condition until it holds or timeout passes (every few ms); returns its last value.
bool wait_until(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = io_timeout);

}  // namespace lithe::test
