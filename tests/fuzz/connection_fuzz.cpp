// libFuzzer target: a whole connection — parser, router, handlers, response writer, lingering
// close — driven through a socketpair on one net::Worker made once per process.
// Input: one byte choosing a split point, then the bytes a client sends, in two writes with
// the loop run in between; then the client half-closes and reads until EOF.
// Invariants: every response starts with "HTTP/1.1 " and is framed by its Content-Length,
// nothing follows a response that carries Connection: close, the connection always ends, and
// the worker frees it once the client is gone.
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/generic/stream_protocol.hpp>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "app/snapshot.hpp"
#include "handlers/handler.hpp"
#include "lithe/config.hpp"
#include "net/worker.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The conformance suite's routes and limits.
constexpr std::string_view config_text = R"toml(
[limits]
request_line = "1KiB"
header_section = "2KiB"
headers = 20
body = "1KiB"
pipeline_depth = 4
requests_per_connection = 10

[log]
level = "off"

[[route]]
path = "/"
handler = "static"
body = "root\n"

[[route]]
path = "/plaintext"
handler = "static"
body = "Hello, World!"

[[route]]
path = "/echo"
methods = ["POST", "PUT"]
handler = "static"
body = "echo\n"

[[route]]
path = "/json"
handler = "json"
value = { message = "Hello, World!" }

[[route]]
path = "/get-only"
methods = ["GET"]
handler = "static"
body = "get only\n"

[[route]]
path = "/users/{id}"
handler = "static"
body = "user {id}\n"

[[route]]
path = "/any/*rest"
methods = ["*"]
handler = "static"
status = 204
)toml";

// A connection that has not finished in this long is hung: there is no timer to wait for,
// the client has sent everything and half-closed.
constexpr auto hang_limit = 5s;

[[noreturn]] void violated(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "connection_fuzz invariant violated: %s\n%.*s\n", what,
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

struct World {
  lithe::handlers::Registry registry;
  lithe::handlers::ServerState state;
  std::unique_ptr<lithe::net::Worker> worker;

  World() {
    spdlog::set_level(spdlog::level::off);
    auto snapshot = lithe::app::build_snapshot(lithe::parse_config(config_text, "connection_fuzz"),
                                               registry, state);
    worker = std::make_unique<lithe::net::Worker>(0, std::move(snapshot));
  }
};

World& world() {
  static World w;
  return w;
}

// Runs handlers until none is ready (poll() also polls the reactor, without blocking).
std::size_t settle(boost::asio::io_context& io) {
  std::size_t total = 0;
  for (;;) {
    if (io.stopped()) io.restart();
    std::size_t n = io.poll();
    if (n == 0) return total;
    total += n;
  }
}

// Like settle, but when nothing was ready waits a little for the reactor.
void turn(boost::asio::io_context& io) {
  if (settle(io) == 0) io.run_one_for(1ms);
}

// Reads what the peer has; false once it has seen EOF (or an error).
bool drain(int fd, std::string& out) {
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
    return false;
  }
}

// Writes all of data while the loop keeps running (the server reads as we write).
void write_all(int fd, std::string_view data, boost::asio::io_context& io, std::string& out) {
  const auto start = Clock::now();
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return;  // closed
    turn(io);
    drain(fd, out);
    if (Clock::now() - start > hang_limit) violated("the server stopped reading");
  }
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  auto lower = [](char c) { return std::tolower(static_cast<unsigned char>(c)); };
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

// Splits the byte stream into responses and checks each one's framing.
void check_responses(std::string_view all) {
  std::string_view rest = all;
  while (!rest.empty()) {
    if (rest.substr(0, 9) != "HTTP/1.1 ") violated("a response does not start with HTTP/1.1", all);
    auto end = rest.find("\r\n\r\n");
    if (end == std::string_view::npos) violated("a response head is cut off", all);
    std::string_view head = rest.substr(0, end + 2);
    const int status = std::atoi(std::string(head.substr(9, 3)).c_str());
    std::size_t length = 0;
    bool has_length = false, closes = false;
    for (std::size_t pos = head.find("\r\n") + 2; pos < head.size();) {
      auto eol = head.find("\r\n", pos);
      std::string_view line = head.substr(pos, eol - pos);
      pos = eol + 2;
      auto colon = line.find(':');
      if (colon == std::string_view::npos) violated("a header line without a colon", all);
      std::string_view name = line.substr(0, colon), value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      if (iequals(name, "content-length")) {
        if (has_length) violated("two Content-Length headers", all);
        has_length = true;
        length = std::strtoull(std::string(value).c_str(), nullptr, 10);
      } else if (iequals(name, "connection") && iequals(value, "close")) {
        closes = true;
      }
    }
    rest.remove_prefix(end + 4);
    const bool bodiless = status < 200 || status == 204 || status == 304;
    if (!bodiless && !has_length) violated("a response without Content-Length", all);
    // A response to HEAD has the length but no body: then the next response (or nothing)
    // follows the head at once. No body of these routes starts with "HTTP/1.1 ".
    if (!bodiless && !rest.empty() && rest.substr(0, 9) != "HTTP/1.1 ") {
      if (rest.size() < length) violated("a response body is cut off", all);
      rest.remove_prefix(length);
    }
    if (closes && !rest.empty()) violated("bytes after a response with Connection: close", all);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  World& w = world();
  boost::asio::io_context& io = w.worker->io();
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::size_t cut = input.size() * data[0] / 256;

  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
  w.worker->on_accepted(fds[0], AF_UNIX);
  const int peer = fds[1];

  std::string out;
  write_all(peer, input.substr(0, cut), io, out);
  settle(io);  // the first piece is parsed on its own
  drain(peer, out);
  write_all(peer, input.substr(cut), io, out);
  ::shutdown(peer, SHUT_WR);

  // The server answers what is complete and closes (or shuts its side) on our EOF.
  const auto start = Clock::now();
  while (settle(io), drain(peer, out)) {
    io.run_one_for(1ms);
    if (Clock::now() - start > hang_limit) violated("the connection never ended", out);
  }
  ::close(peer);
  while (w.worker->open_connections() != 0) {
    turn(io);
    if (Clock::now() - start > 2 * hang_limit) violated("the worker kept a closed connection");
  }
  check_responses(out);
  return 0;
}
