// HTTP/1.1 conformance: every case of cases.txt against one in-process server, sent in one write
// and again cut at three random points, and fed to the RequestParser at every split point.
// A `close` case is followed by a canary request in the same write: answering it would mean a
// byte after a rejected (or final) message was parsed. A `keep` case is followed by one more
// request on the same connection, which proves the connection is still usable.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/text.hpp"
#include "case_file.hpp"
#include "http/exchange.hpp"
#include "lithe/config.hpp"
#include "lithe/server.hpp"

namespace lithe::conformance {

// gtest prints parameters in failure messages: the name and place, not raw bytes.
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name << " (" << c.file << ":" << c.line << ")";
}

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::string_view canary_body = "canary-5e1f0b-never-answered";
// A whole exchange may wait for the 2 s header timeout; anything slower is a hang.
constexpr auto exchange_timeout = 15s;

// Small limits so every limit is reachable with short cases (cases.txt lists them too).
constexpr std::string_view config_text = R"toml(
[server]
listen = ["127.0.0.1:0"]
workers = 1

[limits]
request_line = "1KiB"
header_section = "2KiB"
headers = 20
body = "1KiB"
pipeline_depth = 4
requests_per_connection = 10

[timeouts]
header = "2s"
body = "2s"
keepalive = "10s"
write = "5s"
shutdown = "1s"

[log]
level = "error"

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
path = "/canary"
handler = "static"
body = "canary-5e1f0b-never-answered"
)toml";

constexpr http::ParserLimits parser_limits{1024, 2048, 1024};
constexpr std::size_t max_headers = 20;

const std::vector<Case>& all_cases() {
  static const std::vector<Case> cases = [] {
    try {
      return read_cases(LITHE_CONFORMANCE_CASES);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "conformance cases: %s\n", e.what());
      std::exit(1);
    }
  }();
  return cases;
}

// ---------------------------------------------------------------------------------------------
// The one server every case of this process talks to, started on first use.

class SharedServer {
 public:
  static SharedServer& get() {
    static SharedServer s;
    return s;
  }
  uint16_t port() {
    std::call_once(started_, [this] { start(); });
    return port_;
  }
  void stop() {
    if (!server_) return;
    server_->stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }

 private:
  void start() {
    server_ = std::make_unique<lithe::Server>(lithe::parse_config(config_text, "conformance"));
    thread_ = std::thread([this] { server_->run(); });
    auto bound = server_->wait_bound();
    if (bound.empty()) {
      std::fprintf(stderr, "conformance: the server did not bind\n");
      std::exit(1);
    }
    port_ = static_cast<uint16_t>(std::stoi(bound[0].substr(bound[0].rfind(':') + 1)));
  }

  std::once_flag started_;
  std::unique_ptr<lithe::Server> server_;
  std::thread thread_;
  uint16_t port_ = 0;
};

class ServerEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { SharedServer::get().stop(); }
};
::testing::Environment* const server_environment =
    ::testing::AddGlobalTestEnvironment(new ServerEnvironment);

// ---------------------------------------------------------------------------------------------
// A raw TCP client: reads wait with poll() until a deadline, never sleep.

class Client {
 public:
  enum class Read { data, eof, reset, timeout };

  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
      throw std::runtime_error("connect: " + std::string(std::strerror(errno)));
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // False when the server is already gone (it may close early after a rejection).
  bool send_all(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }

  Read read_some(std::string& into, Clock::time_point deadline) {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return Read::timeout;
      pollfd p{fd_, POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(left.count()));
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) return Read::timeout;
      char buf[16384];
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n < 0) return errno == ECONNRESET ? Read::reset : Read::eof;
      if (n == 0) return Read::eof;
      into.append(buf, static_cast<std::size_t>(n));
      return Read::data;
    }
  }

 private:
  int fd_ = -1;
};

// ---------------------------------------------------------------------------------------------
// Responses

struct Response {
  int status = 0;
  bool connection_close = false;
  std::string body;
};

enum class Parse { ok, incomplete, malformed };

// Bytes for a message: control bytes escaped.
std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char ch : s) {
    if (ch >= 0x20 && ch < 0x7f) {
      out.push_back(static_cast<char>(ch));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", ch);
      out += buf;
    }
  }
  return out;
}

bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    auto comma = list.find(',');
    if (base::iequals(base::trim_ows(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// One response from the front of buf. no_body: it answers a HEAD (final responses only).
Parse parse_response(std::string_view buf, bool no_body, Response& out, std::size_t& used,
                     std::string& why) {
  auto end = buf.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (buf.size() >= 9 && buf.substr(0, 9) != "HTTP/1.1 ") {
      why = "response does not start with 'HTTP/1.1 '";
      return Parse::malformed;
    }
    return Parse::incomplete;
  }
  std::string_view head = buf.substr(0, end + 2);
  if (head.substr(0, 9) != "HTTP/1.1 " || head.size() < 14 || head[12] != ' ') {
    why = "bad status line: " + std::string(head.substr(0, head.find('\r')));
    return Parse::malformed;
  }
  out = {};
  for (char c : head.substr(9, 3)) {
    if (c < '0' || c > '9') {
      why = "bad status code";
      return Parse::malformed;
    }
    out.status = out.status * 10 + (c - '0');
  }
  std::optional<std::size_t> length;
  std::size_t pos = head.find("\r\n") + 2;
  while (pos < head.size()) {
    auto eol = head.find("\r\n", pos);
    std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 2;
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      why = "bad header line: " + std::string(line);
      return Parse::malformed;
    }
    std::string_view name = line.substr(0, colon);
    std::string_view value = base::trim_ows(line.substr(colon + 1));
    if (base::iequals(name, "content-length")) {
      if (length) {
        why = "two Content-Length headers";
        return Parse::malformed;
      }
      length = std::stoul(std::string(value));
    } else if (base::iequals(name, "connection") && has_token(value, "close")) {
      out.connection_close = true;
    } else if (base::iequals(name, "transfer-encoding")) {
      why = "unexpected Transfer-Encoding in a response";
      return Parse::malformed;
    }
  }
  const bool bodiless = out.status < 200 || out.status == 204 || out.status == 304 || no_body;
  std::size_t body = 0;
  if (!bodiless) {
    if (!length) {
      why = "response without Content-Length";
      return Parse::malformed;
    }
    body = *length;
  }
  if (buf.size() < end + 4 + body) return Parse::incomplete;
  out.body = std::string(buf.substr(end + 4, body));
  used = end + 4 + body;
  return Parse::ok;
}

// ---------------------------------------------------------------------------------------------
// One exchange over a socket

struct Outcome {
  std::vector<int> statuses;
  std::vector<bool> connection_close;  // per response
  bool closed = false;                 // the server ended the connection (EOF)
  bool reset = false;                  // ... with a reset: responses may have been lost
  bool timed_out = false;
  bool canary_answered = false;
  bool probe_ok = false;  // keep cases: the follow-up request got its answer
  std::string error;      // a malformed response, or bytes nobody asked for

  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  os << "statuses [";
  for (std::size_t i = 0; i < o.statuses.size(); ++i)
    os << (i ? "," : "") << o.statuses[i] << (o.connection_close[i] ? "(close)" : "");
  os << "]" << (o.closed ? " closed" : "") << (o.reset ? " reset" : "")
     << (o.timed_out ? " timed-out" : "") << (o.canary_answered ? " CANARY-ANSWERED" : "")
     << (o.probe_ok ? " probe-ok" : "");
  if (!o.error.empty()) os << " error: " << o.error;
  return os;
}

// Parses every complete response at the front of buf into out; returns false on garbage.
bool take_responses(std::string& buf, const Case& c, Outcome& out, std::size_t max) {
  while (out.statuses.size() < max && !buf.empty()) {
    Response r;
    std::size_t used = 0;
    const bool no_body = c.head;
    Parse p = parse_response(buf, no_body, r, used, out.error);
    if (p == Parse::incomplete) return true;
    if (p == Parse::malformed) {
      out.error += " at: " + printable(std::string_view(buf).substr(0, 40));
      return false;
    }
    out.statuses.push_back(r.status);
    out.connection_close.push_back(r.connection_close);
    if (r.body == canary_body) out.canary_answered = true;
    buf.erase(0, used);
  }
  return true;
}

Outcome run_exchange(const Case& c, const std::vector<std::size_t>& cuts) {
  Outcome out;
  Client client(SharedServer::get().port());
  const std::string bytes = wire_bytes(c);
  std::size_t from = 0;
  for (std::size_t cut : cuts) {
    client.send_all(std::string_view(bytes).substr(from, cut - from));
    from = cut;
  }
  client.send_all(std::string_view(bytes).substr(from));
  if (c.eof) client.shutdown_write();

  const auto deadline = Clock::now() + exchange_timeout;
  std::string buf;
  if (c.close) {
    // Everything until the server closes, then parse.
    for (;;) {
      Client::Read r = client.read_some(buf, deadline);
      if (r == Client::Read::data) continue;
      out.closed = r == Client::Read::eof || r == Client::Read::reset;
      out.reset = r == Client::Read::reset;
      out.timed_out = r == Client::Read::timeout;
      break;
    }
    if (take_responses(buf, c, out, SIZE_MAX) && !buf.empty())
      out.error = "unparsed bytes after the last response: " + printable(buf.substr(0, 60));
    return out;
  }

  // keep: exactly the expected responses, then one more request on the same connection.
  const std::size_t want = c.statuses.size();
  while (out.statuses.size() < want) {
    if (!take_responses(buf, c, out, want)) return out;
    if (out.statuses.size() == want) break;
    Client::Read r = client.read_some(buf, deadline);
    if (r == Client::Read::data) continue;
    out.closed = r != Client::Read::timeout;
    out.reset = r == Client::Read::reset;
    out.timed_out = r == Client::Read::timeout;
    return out;
  }
  if (!buf.empty()) {
    out.error = "bytes after the expected responses: " + printable(buf.substr(0, 60));
    return out;
  }
  if (!client.send_all(canary_request)) {
    out.closed = true;
    return out;
  }
  Response probe;
  for (;;) {
    std::size_t used = 0;
    Parse p = parse_response(buf, false, probe, used, out.error);
    if (p == Parse::malformed) return out;
    if (p == Parse::ok) {
      out.probe_ok = probe.status == 200 && probe.body == canary_body && used == buf.size();
      if (!out.probe_ok) out.error = "unexpected answer to the follow-up request";
      return out;
    }
    Client::Read r = client.read_some(buf, deadline);
    if (r == Client::Read::data) continue;
    out.closed = r != Client::Read::timeout;
    out.reset = r == Client::Read::reset;
    out.timed_out = r == Client::Read::timeout;
    return out;
  }
}

// Three distinct cut points inside bytes of length n, from a fixed seed per case.
std::vector<std::size_t> random_cuts(const std::string& name, std::size_t n) {
  uint32_t seed = 2166136261u;  // FNV-1a of the name: stable across runs and platforms
  for (char ch : name) seed = (seed ^ static_cast<unsigned char>(ch)) * 16777619u;
  std::mt19937 rng(seed);
  std::vector<std::size_t> cuts;
  if (n < 2) return cuts;
  for (int tries = 0; cuts.size() < std::min<std::size_t>(3, n - 1) && tries < 100; ++tries) {
    std::size_t c = 1 + rng() % (n - 1);  // not a distribution: those differ between libraries
    if (std::find(cuts.begin(), cuts.end(), c) == cuts.end()) cuts.push_back(c);
  }
  std::sort(cuts.begin(), cuts.end());
  return cuts;
}

// Every way o falls short of c, one line each; empty when it conforms.
std::string problems(const Case& c, const Outcome& o) {
  std::string p;
  auto add = [&p](std::string_view what) { (p += "\n  - ") += what; };
  if (o.statuses != c.statuses) add("wrong statuses");
  if (!o.error.empty()) add(o.error);
  if (o.canary_answered) add("the canary was answered: a byte after the final message was parsed");
  if (o.timed_out) add("timed out waiting for the server");
  if (o.reset) add("connection reset (lingering close should prevent it)");
  if (c.close) {
    if (!o.closed) add("the connection was not closed");
    // A half-closing client is answered normally; only then does the server close.
    if (!c.eof && !o.connection_close.empty() && !o.connection_close.back())
      add("the last response lacks Connection: close");
  } else {
    if (o.closed) add("the connection was closed");
    if (!o.probe_ok) add("the follow-up request on the same connection was not answered");
    for (bool cc : o.connection_close)
      if (cc) add("a response carries Connection: close");
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// The parser alone

// Statuses a parser error may carry.
bool parser_status(int s) {
  return s == 400 || s == 413 || s == 414 || s == 417 || s == 431 || s == 501 || s == 505;
}

// Feeds bytes in two separately allocated pieces cut at `cut`; returns every verdict in order
// and how the stream ended ("idle" between requests, "partial" inside one).
std::vector<std::string> parser_verdicts(std::string_view bytes, std::size_t cut) {
  http::Exchange ex(max_headers);
  ex.parser.start(ex.request, parser_limits);
  std::vector<std::string> out;
  // Exact-size heap buffers, so ASan sees any read past a piece.
  std::string_view parts[2] = {bytes.substr(0, cut), bytes.substr(cut)};
  std::unique_ptr<char[]> store[2];
  for (int i = 0; i < 2; ++i) {
    store[i] = std::make_unique<char[]>(std::max<std::size_t>(parts[i].size(), 1));
    std::memcpy(store[i].get(), parts[i].data(), parts[i].size());
  }
  for (int i = 0; i < 2; ++i) {
    const char* data = store[i].get();
    std::size_t len = parts[i].size(), pos = 0;
    while (pos < len) {
      auto r = ex.parser.feed(data + pos, len - pos);
      if (r.consumed > len - pos) {
        out.push_back("consumed past the end");
        return out;
      }
      pos += r.consumed;
      using S = http::RequestParser::Status;
      if (r.status == S::error) {
        out.push_back("error " + std::to_string(r.error_status));
        return out;
      }
      if (r.status == S::need_more) break;
      if (r.status == S::expect_continue) {
        out.push_back("continue");
        continue;
      }
      out.push_back("complete " + std::string(ex.request.method()) + " " +
                    std::string(ex.request.target()) + " body=" +
                    std::to_string(ex.request.body().size()));
      ex.next();
    }
  }
  out.push_back(ex.parser.in_request() ? "partial" : "idle");
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : " | ") + x;
  return s;
}

// ---------------------------------------------------------------------------------------------

class Conformance : public ::testing::TestWithParam<Case> {};

TEST_P(Conformance, Socket) {
  const Case& c = GetParam();
  SCOPED_TRACE(c.file + ":" + std::to_string(c.line));
  Outcome whole = run_exchange(c, {});
  const std::string whole_problems = problems(c, whole);
  EXPECT_TRUE(whole_problems.empty()) << "one write: " << whole << whole_problems;
  auto cuts = random_cuts(c.name, wire_bytes(c).size());
  Outcome split = run_exchange(c, cuts);
  {
    std::string where;
    for (auto x : cuts) where += " " + std::to_string(x);
    const std::string split_problems = problems(c, split);
    EXPECT_TRUE(split_problems.empty()) << "split at" << where << ": " << split << split_problems;
    EXPECT_EQ(whole, split) << "one write: " << whole << "\nsplit at" << where << ": " << split;
  }
}

TEST_P(Conformance, ParserSplits) {
  const Case& c = GetParam();
  SCOPED_TRACE(c.file + ":" + std::to_string(c.line));
  const std::string bytes = wire_bytes(c);
  const auto whole = parser_verdicts(bytes, bytes.size());

  // The parser's view must agree with the expected responses: a rejection the parser owns
  // comes after one complete request per earlier response; otherwise each final response has
  // its complete request (what follows it, like the canary, the server never reads).
  std::vector<std::string> verdicts;
  for (const auto& v : whole)
    if (v != "continue") verdicts.push_back(v);
  std::size_t finals = 0;
  for (int s : c.statuses)
    if (s >= 200 && s != 408) ++finals;
  const bool parser_rejects = c.close && !c.statuses.empty() && parser_status(c.statuses.back()) &&
                              !c.eof && !c.nocanary;
  if (parser_rejects) {
    ASSERT_EQ(verdicts.size(), finals) << join(whole);
    EXPECT_EQ(verdicts.back(), "error " + std::to_string(c.statuses.back())) << join(whole);
    for (std::size_t i = 0; i + 1 < finals; ++i)
      EXPECT_EQ(verdicts[i].rfind("complete ", 0), 0u) << join(whole);
  } else {
    ASSERT_GE(verdicts.size(), finals) << join(whole);
    for (std::size_t i = 0; i < finals; ++i)
      EXPECT_EQ(verdicts[i].rfind("complete ", 0), 0u) << join(whole);
  }
  if (c.statuses.empty()) {
    EXPECT_EQ(whole.back(), "partial") << join(whole);
  }

  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    auto got = parser_verdicts(bytes, cut);
    ASSERT_EQ(got, whole) << "split at " << cut << "\nsplit: " << join(got)
                          << "\nwhole: " << join(whole);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, Conformance, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<Case>& p) { return p.param.name; });

}  // namespace
}  // namespace lithe::conformance
