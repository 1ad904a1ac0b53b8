#include "harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "config/units.hpp"

extern char** environ;

namespace lithe::test {

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what);
}

[[noreturn]] void fail_errno(const std::string& what) {
  fail(what + ": " + std::strerror(errno));
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

uint16_t port_of(std::string_view address) {
  auto colon = address.rfind(':');
  if (colon == std::string_view::npos) fail("no port in address '" + std::string(address) + "'");
  unsigned port = 0;
  auto tail = address.substr(colon + 1);
  auto [end, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), port);
  if (ec != std::errc() || end != tail.data() + tail.size() || port == 0 || port > 65535)
    fail("bad port in address '" + std::string(address) + "'");
  return static_cast<uint16_t>(port);
}

// The config with its listen addresses replaced by 127.0.0.1 on a port the kernel picks.
lithe::Config on_any_loopback_port(lithe::Config config) {
  std::string error;
  auto listen = lithe::config::parse_listen_address("127.0.0.1:0", &error);
  if (!listen) fail("cannot parse 127.0.0.1:0: " + error);
  config.server.listen = {*listen};
  return config;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// TestServer

std::string default_config() {
  return std::string(lithe::default_config_text());
}

TestServer::TestServer(std::string_view toml_text, const std::function<void(lithe::Server&)>& setup)
    : TestServer(on_any_loopback_port(lithe::parse_config(toml_text, "test.toml")), setup) {}

TestServer::TestServer(lithe::Config config, const std::function<void(lithe::Server&)>& setup) {
  server_ = std::make_unique<lithe::Server>(std::move(config));
  if (setup) setup(*server_);
  thread_ = std::thread([this] {
    int code = server_->run();
    std::lock_guard lock(mutex_);
    exit_code_ = code;
    done_ = true;
    done_cv_.notify_all();
  });
  std::vector<std::string> bound = server_->wait_bound();
  if (bound.empty()) {
    thread_.join();
    fail("the test server did not bind (run() returned " + std::to_string(exit_code_) + ")");
  }
  address_ = bound.front();
  port_ = port_of(address_);
}

TestServer::~TestServer() {
  server_->stop();
  {
    std::unique_lock lock(mutex_);
    if (!done_cv_.wait_for(lock, stop_timeout, [this] { return done_; })) {
      std::fprintf(stderr,
                   "FATAL: lithe::Server::run() did not return within %llds of stop(); "
                   "aborting (a deadlock in the server's stop path?)\n",
                   static_cast<long long>(stop_timeout.count()));
      std::fflush(stderr);
      std::abort();
    }
  }
  thread_.join();
}

// ---------------------------------------------------------------------------------------------
// HttpResponse

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) return v;
  return std::nullopt;
}

std::size_t HttpResponse::header_count(std::string_view name) const {
  std::size_t count = 0;
  for (const auto& h : headers)
    if (iequals(h.first, name)) ++count;
  return count;
}

std::string HttpResponse::head() const {
  auto end = raw.find("\r\n\r\n");
  return end == std::string::npos ? raw : raw.substr(0, end + 4);
}

// ---------------------------------------------------------------------------------------------
// RawClient

RawClient::RawClient(uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) fail_errno("socket");
  timeval tv{};
  tv.tv_sec =
      static_cast<time_t>(std::chrono::duration_cast<std::chrono::seconds>(io_timeout).count());
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int saved = errno;
    ::close(fd_);
    errno = saved;
    fail_errno("connect to 127.0.0.1:" + std::to_string(port));
  }
}

RawClient::~RawClient() {
  if (fd_ >= 0) ::close(fd_);
}

void RawClient::send(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) fail("send: timed out (server not reading)");
      fail_errno("send");
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void RawClient::shutdown_write() {
  if (::shutdown(fd_, SHUT_WR) != 0) fail_errno("shutdown(SHUT_WR)");
}

void RawClient::reset() {
  const linger hard{1, 0};
  if (::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard)) != 0)
    fail_errno("setsockopt(SO_LINGER)");
  ::close(fd_);
  fd_ = -1;
}

bool RawClient::fill() {
  char chunk[16384];
  for (;;) {
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n > 0) {
      buf_.append(chunk, static_cast<std::size_t>(n));
      return true;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      fail("recv: no data from the server within the timeout; received so far: '" + buf_ + "'");
    if (errno == ECONNRESET) return false;
    fail_errno("recv");
  }
}

HttpResponse RawClient::read_response(bool no_body) {
  std::size_t head_end;
  while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos) {
    if (!fill())
      fail("connection closed before a complete response head; received: '" + buf_ + "'");
  }
  HttpResponse r;
  std::string_view head(buf_.data(), head_end + 2);  // every line with its CRLF
  auto line_end = head.find("\r\n");
  std::string_view status_line = head.substr(0, line_end);
  // HTTP-version SP 3DIGIT SP [reason]
  auto sp1 = status_line.find(' ');
  if (sp1 == std::string_view::npos || status_line.size() < sp1 + 4)
    fail("bad status line '" + std::string(status_line) + "'");
  r.version = std::string(status_line.substr(0, sp1));
  auto code = status_line.substr(sp1 + 1, 3);
  auto [end, ec] = std::from_chars(code.data(), code.data() + code.size(), r.status);
  if (ec != std::errc() || end != code.data() + code.size())
    fail("bad status code in '" + std::string(status_line) + "'");
  if (status_line.size() > sp1 + 4) {
    if (status_line[sp1 + 4] != ' ') fail("bad status line '" + std::string(status_line) + "'");
    r.reason = std::string(status_line.substr(sp1 + 5));
  }
  std::size_t pos = line_end + 2;
  while (pos < head.size()) {
    auto eol = head.find("\r\n", pos);
    std::string_view line = head.substr(pos, eol - pos);
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      fail("bad header line '" + std::string(line) + "'");
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    r.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
    pos = eol + 2;
  }
  std::size_t consumed = head_end + 4;
  const bool bodiless =
      no_body || (r.status >= 100 && r.status < 200) || r.status == 204 || r.status == 304;
  auto te = r.header("Transfer-Encoding");
  auto cl = r.header("Content-Length");
  if (bodiless) {
    // nothing
  } else if (te && iequals(*te, "chunked")) {
    // chunk-size [ext] CRLF data CRLF ... 0 CRLF [trailers] CRLF
    for (;;) {
      std::size_t eol;
      while ((eol = buf_.find("\r\n", consumed)) == std::string::npos)
        if (!fill()) fail("connection closed inside a chunked body");
      std::size_t size = 0;
      std::string_view size_text(buf_.data() + consumed, eol - consumed);
      const char* last = size_text.data() + size_text.size();
      auto [e, c] = std::from_chars(size_text.data(), last, size, 16);
      if (c != std::errc() || e == size_text.data())
        fail("bad chunk size '" + std::string(size_text) + "'");
      consumed = eol + 2;
      if (size == 0) {
        std::size_t trailer_end;
        while (true) {
          if (buf_.compare(consumed, 2, "\r\n") == 0) {
            trailer_end = consumed + 2;
            break;
          }
          auto t = buf_.find("\r\n\r\n", consumed);
          if (t != std::string::npos) {
            trailer_end = t + 4;
            break;
          }
          if (!fill()) fail("connection closed inside chunked trailers");
        }
        consumed = trailer_end;
        break;
      }
      while (buf_.size() < consumed + size + 2)
        if (!fill()) fail("connection closed inside a chunk");
      r.body.append(buf_, consumed, size);
      if (buf_.compare(consumed + size, 2, "\r\n") != 0) fail("chunk data not followed by CRLF");
      consumed += size + 2;
    }
  } else if (cl) {
    std::size_t length = 0;
    auto [e, c] = std::from_chars(cl->data(), cl->data() + cl->size(), length);
    if (c != std::errc() || e != cl->data() + cl->size()) fail("bad Content-Length '" + *cl + "'");
    while (buf_.size() < consumed + length)
      if (!fill())
        fail("connection closed after " + std::to_string(buf_.size() - consumed) + " of " +
             std::to_string(length) + " body bytes");
    r.body = buf_.substr(consumed, length);
    consumed += length;
  } else {
    // No framing: the body runs to the end of the connection.
    while (fill()) {
    }
    r.body = buf_.substr(consumed);
    consumed = buf_.size();
  }
  r.raw = buf_.substr(0, consumed);
  buf_.erase(0, consumed);
  return r;
}

const std::string& RawClient::peek_until(std::string_view needle) {
  while (buf_.find(needle) == std::string::npos)
    if (!fill()) throw std::runtime_error("closed before '" + std::string(needle) + "' arrived");
  return buf_;
}

std::string RawClient::read_until_close() {
  while (fill()) {
  }
  std::string all = std::move(buf_);
  buf_.clear();
  return all;
}

bool RawClient::is_closed(std::chrono::milliseconds timeout) {
  if (!buf_.empty()) return false;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, remaining_ms(deadline));
    if (rc < 0) {
      if (errno == EINTR) continue;
      fail_errno("poll");
    }
    if (rc == 0) return false;
    char chunk[4096];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), MSG_DONTWAIT);
    if (n == 0) return true;
    if (n > 0) {
      buf_.append(chunk, static_cast<std::size_t>(n));
      return false;
    }
    if (errno == ECONNRESET || errno == EPIPE) return true;
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) fail_errno("recv");
  }
}

std::string request(std::string_view method, std::string_view path,
                    std::string_view extra_headers) {
  std::string r;
  r.append(method).append(" ").append(path).append(" HTTP/1.1\r\nHost: test\r\n");
  r.append(extra_headers).append("\r\n");
  return r;
}

std::string get(std::string_view path, std::string_view extra_headers) {
  return request("GET", path, extra_headers);
}

std::string with_body(std::string_view method, std::string_view path, std::string_view body,
                      std::string_view extra_headers) {
  return request(method, path,
                 std::string(extra_headers) + "Content-Length: " + std::to_string(body.size()) +
                     "\r\n") +
         std::string(body);
}

std::string post(std::string_view path, std::string_view body, std::string_view extra_headers) {
  return with_body("POST", path, body, extra_headers);
}

std::string put(std::string_view path, std::string_view body, std::string_view extra_headers) {
  return with_body("PUT", path, body, extra_headers);
}

HttpResponse fetch(uint16_t port, const std::string& req) {
  RawClient c(port);
  c.send(req);
  return c.read_response();
}

HttpResponse fetch(const std::filesystem::path& unix_path, const std::string& req) {
  RawClient c(unix_path);
  c.send(req);
  return c.read_response();
}

bool is_imf_fixdate(std::string_view v) {
  // "Sun, 06 Nov 1994 08:49:37 GMT"
  static constexpr std::string_view days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  static constexpr std::string_view months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (v.size() != 29) return false;
  auto digits = [&](std::size_t at, std::size_t n) {
    for (std::size_t i = at; i < at + n; ++i)
      if (v[i] < '0' || v[i] > '9') return false;
    return true;
  };
  auto number = [&](std::size_t at, std::size_t n) {
    int x = 0;
    for (std::size_t i = at; i < at + n; ++i) x = x * 10 + (v[i] - '0');
    return x;
  };
  bool day_ok = false, month_ok = false;
  for (auto d : days) day_ok |= v.substr(0, 3) == d;
  for (auto m : months) month_ok |= v.substr(8, 3) == m;
  return day_ok && month_ok && v.substr(3, 2) == ", " && digits(5, 2) && v[7] == ' ' &&
         v[11] == ' ' && digits(12, 4) && v[16] == ' ' && digits(17, 2) && v[19] == ':' &&
         digits(20, 2) && v[22] == ':' && digits(23, 2) && v.substr(25) == " GMT" &&
         number(5, 2) >= 1 && number(5, 2) <= 31 && number(17, 2) <= 23 && number(20, 2) <= 59 &&
         number(23, 2) <= 60;
}

// ---------------------------------------------------------------------------------------------
// Files

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/lithe-test-XXXXXX";
  if (!::mkdtemp(tmpl.data())) fail_errno("mkdtemp");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::filesystem::path TempDir::write(const std::string& name, std::string_view content) const {
  std::filesystem::path p = path_ / name;
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) fail("cannot write " + p.string());
  return p;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('A' + (i * 7 + i / 251) % 61);
  return s;
}

std::string chunked(std::string_view body, std::size_t size) {
  std::string out;
  char line[32];
  for (std::size_t at = 0; at < body.size(); at += size) {
    const std::string_view part = body.substr(at, size);
    std::snprintf(line, sizeof(line), "%zx\r\n", part.size());
    out.append(line).append(part).append("\r\n");
  }
  return out + "0\r\n\r\n";
}

std::size_t resident_bytes(pid_t pid) {
  const std::string status = read_file("/proc/" + std::to_string(pid) + "/status");
  const std::size_t at = status.find("VmRSS:");
  return at == std::string::npos ? 0 : std::stoul(status.substr(at + 6)) * 1024;
}

std::string scrape(uint16_t port, std::string_view preamble) {
  RawClient c(port);
  c.send(std::string(preamble) + get("/metrics"));
  HttpResponse r = c.read_response();
  if (r.status != 200) throw std::runtime_error("/metrics answered " + std::to_string(r.status));
  return r.body;
}

uint64_t metric(std::string_view text, std::string_view name, std::string_view filter) {
  uint64_t total = 0;
  for (std::size_t at = 0, eol; at < text.size(); at = eol + 1) {
    eol = std::min(text.find('\n', at), text.size());
    const std::string_view line = text.substr(at, eol - at);
    if (!line.starts_with(name) || line.size() <= name.size()) continue;
    if (line[name.size()] != ' ' && line[name.size()] != '{') continue;
    if (!filter.empty() && line.find(filter) == std::string_view::npos) continue;
    const std::size_t space = line.rfind(' ');
    uint64_t v = 0;
    std::from_chars(line.data() + space + 1, line.data() + line.size(), v);
    total += v;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// Processes

namespace {

int open_for_child(const std::filesystem::path& p) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) fail_errno("open " + p.string());
  return fd;
}

// Spawns binary args with stdin from /dev/null and stdout/stderr into the given files; with
// own_group, in a process group of its own (so that its children can be signalled with it).
pid_t spawn(const std::string& binary, const std::vector<std::string>& args,
            const std::filesystem::path& out, const std::filesystem::path& err,
            bool own_group = false) {
  int out_fd = open_for_child(out);
  int err_fd = open_for_child(err);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  if (own_group) {
    posix_spawnattr_setpgroup(&attr, 0);  // a group led by the child
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  }
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, binary.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_fd);
  ::close(err_fd);
  if (rc != 0) {
    errno = rc;
    fail_errno("posix_spawn " + binary);
  }
  return pid;
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// The exit code once pid has exited, or nullopt when it has not within timeout. Waits on a
// pidfd when the kernel has them, else checks every few milliseconds until the deadline.
std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
#ifdef SYS_pidfd_open
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  int pidfd = -1;
#endif
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (pidfd >= 0) ::close(pidfd);
      return decode_status(status);
    }
    if (r < 0 && errno != EINTR) {
      if (pidfd >= 0) ::close(pidfd);
      fail_errno("waitpid");
    }
    if (Clock::now() >= deadline) {
      if (pidfd >= 0) ::close(pidfd);
      return std::nullopt;
    }
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      ::poll(&p, 1, remaining_ms(deadline));
    } else {
      ::poll(nullptr, 0, std::min(5, remaining_ms(deadline)));
    }
  }
}

void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

ExitResult run_to_exit(const std::string& binary, const std::vector<std::string>& args,
                       std::chrono::milliseconds timeout) {
  TempDir dir;
  auto out = dir.path() / "stdout";
  auto err = dir.path() / "stderr";
  pid_t pid = spawn(binary, args, out, err);
  std::optional<int> code = wait_exit(pid, timeout);
  if (!code) {
    kill_and_reap(pid);
    fail(binary + " did not exit within the timeout; stderr: " + read_file(err));
  }
  return {*code, read_file(out), read_file(err)};
}

Daemon::Daemon(const std::string& binary, const std::vector<std::string>& args) {
  stderr_path_ = dir_.path() / "stderr";
  pid_ = spawn(binary, args, dir_.path() / "stdout", stderr_path_);
  // Wait for "listening on HOST:PORT\n" in stderr, or for the process to give up.
  const auto deadline = Clock::now() + 20s;
  static constexpr std::string_view marker = "listening on ";
  for (;;) {
    std::string err = read_file(stderr_path_);
    if (auto at = err.find(marker); at != std::string::npos) {
      auto eol = err.find('\n', at);
      if (eol != std::string::npos) {
        address_ = err.substr(at + marker.size(), eol - at - marker.size());
        while (!address_.empty() && (address_.back() == '\r' || address_.back() == ' '))
          address_.pop_back();
        port_ = port_of(address_);
        return;
      }
    }
    if (std::optional<int> code = wait_exit(pid_, 0ms)) {
      pid_ = -1;
      fail("the daemon exited with " + std::to_string(*code) +
           " before listening; stderr: " + read_file(stderr_path_));
    }
    if (Clock::now() >= deadline) {
      kill_and_reap(pid_);
      pid_ = -1;
      fail("the daemon did not report 'listening on' in time; stderr: " + err);
    }
    ::poll(nullptr, 0, 5);  // re-check the file every few ms until the deadline
  }
}

Daemon::~Daemon() {
  if (pid_ > 0) kill_and_reap(pid_);
}

std::string Daemon::stderr_text() const {
  return read_file(stderr_path_);
}

int Daemon::terminate(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) fail("the daemon is not running");
  if (::kill(pid_, SIGTERM) != 0) fail_errno("kill(SIGTERM)");
  std::optional<int> code = wait_exit(pid_, timeout);
  if (!code) {
    kill_and_reap(pid_);
    pid_ = -1;
    fail("the daemon did not exit after SIGTERM; stderr: " + stderr_text());
  }
  pid_ = -1;
  return *code;
}

int Daemon::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) fail("the daemon is not running");
  std::optional<int> code = wait_exit(pid_, timeout);
  if (!code) {
    kill_and_reap(pid_);
    pid_ = -1;
    fail("the daemon did not exit; stderr: " + stderr_text());
  }
  pid_ = -1;
  return *code;
}

// ---------------------------------------------------------------------------------------------
// RawClient: other transports

namespace {

void set_client_options(int fd) {
  timeval tv{};
  tv.tv_sec =
      static_cast<time_t>(std::chrono::duration_cast<std::chrono::seconds>(io_timeout).count());
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

[[noreturn]] void close_and_fail(int fd, const std::string& what) {
  int saved = errno;
  ::close(fd);
  errno = saved;
  fail_errno(what);
}

}  // namespace

RawClient::RawClient(uint16_t port, const std::string& source_ip) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) fail_errno("socket");
  set_client_options(fd_);
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in source{};
  source.sin_family = AF_INET;
  if (::inet_pton(AF_INET, source_ip.c_str(), &source.sin_addr) != 1) {
    ::close(fd_);
    fail("bad source address '" + source_ip + "'");
  }
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&source), sizeof(source)) != 0)
    close_and_fail(fd_, "bind to " + source_ip);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    close_and_fail(fd_, "connect from " + source_ip + " to 127.0.0.1:" + std::to_string(port));
}

RawClient::RawClient(const std::filesystem::path& unix_path) {
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) fail_errno("socket(AF_UNIX)");
  set_client_options(fd_);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = unix_path.string();
  if (path.size() >= sizeof(addr.sun_path)) {
    ::close(fd_);
    fail("unix socket path too long: " + path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    close_and_fail(fd_, "connect to unix:" + path);
}

// ---------------------------------------------------------------------------------------------
// ChildProcess, ports

ChildProcess::ChildProcess(const std::string& binary, const std::vector<std::string>& args) {
  pid_ = spawn(binary, args, dir_.path() / "stdout", dir_.path() / "stderr", true);
}

ChildProcess::~ChildProcess() {
  if (!exit_code_) {
    ::kill(-pid_, SIGTERM);
    if (!wait_exit(5s)) kill_and_reap(pid_);
  }
  ::kill(-pid_, SIGKILL);  // anything of the group that outlived its leader (ESRCH when none)
}

std::optional<int> ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (!exit_code_) exit_code_ = lithe::test::wait_exit(pid_, timeout);
  return exit_code_;
}

int ChildProcess::stop(int sig, std::chrono::milliseconds timeout) {
  if (exit_code_) return *exit_code_;
  ::kill(-pid_, sig);
  if (!wait_exit(timeout)) {
    ::kill(-pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    exit_code_ = decode_status(status);
  }
  return *exit_code_;
}

std::string ChildProcess::stdout_text() const {
  return read_file(dir_.path() / "stdout");
}
std::string ChildProcess::stderr_text() const {
  return read_file(dir_.path() / "stderr");
}

uint16_t free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail_errno("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    close_and_fail(fd, "bind 127.0.0.1:0");
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool can_connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail_errno("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

bool can_connect(const std::filesystem::path& unix_path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail_errno("socket(AF_UNIX)");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = unix_path.string();
  if (path.size() >= sizeof(addr.sun_path)) {
    ::close(fd);
    fail("unix socket path too long: " + path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (Clock::now() >= deadline) return false;
    ::poll(nullptr, 0, std::min(5, remaining_ms(deadline)));
  }
}

}  // namespace lithe::test
