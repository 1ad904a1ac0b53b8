// The application features of SPEC §10 as a client and the access log see them: request IDs,
// coroutine handlers, middleware and CORS.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <strings.h>

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <csignal>
#include <future>
#include <lithe/coro.hpp>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace lithe::test {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Request IDs

const std::regex made_id("[0-9a-f]{32}");

std::string id_config(std::string_view extra = "") {
  return "[server]\nrequest_id_header = \"X-Request-Id\"\n" + std::string(extra) +
         "\n[[route]]\npath = \"/id\"\nhandler = \"id\"\n"
         "\n[[route]]\npath = \"/static\"\nhandler = \"static\"\nbody = \"fixed\"\n";
}

// Answers with the ID the handler sees.
void register_id(lithe::Server& server) {
  server.handle("id", [](const lithe::Request& req, lithe::Response& res) {
    res.text(std::string(req.request_id()));
  });
}

std::string id_of(const HttpResponse& r) {
  return r.header("X-Request-Id").value_or("<none>");
}

TEST(RequestId, MadeForEachRequestAndTheHandlerSeesIt) {
  TestServer s(id_config(), register_id);
  RawClient c(s.port());
  c.send(get("/id"));
  const HttpResponse a = c.read_response();
  c.send(get("/id"));
  const HttpResponse b = c.read_response();
  EXPECT_TRUE(std::regex_match(id_of(a), made_id)) << a.raw;
  EXPECT_EQ(a.body, id_of(a));
  EXPECT_EQ(b.body, id_of(b));
  EXPECT_NE(id_of(a), id_of(b));
  EXPECT_EQ(a.header_count("X-Request-Id"), 1u);
}

TEST(RequestId, EveryResponseCarriesOne) {
  TestServer s(id_config(), register_id);
  RawClient c(s.port());
  c.send(get("/static"));  // a prepared response
  const HttpResponse prepared = c.read_response();
  EXPECT_EQ(prepared.body, "fixed");
  EXPECT_TRUE(std::regex_match(id_of(prepared), made_id)) << prepared.raw;
  c.send(get("/missing"));
  EXPECT_TRUE(std::regex_match(id_of(c.read_response()), made_id));
  c.send(request("OPTIONS", "/id"));
  EXPECT_TRUE(std::regex_match(id_of(c.read_response()), made_id));
  c.send("GET /id HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");  // rejected by the parser
  const HttpResponse rejected = c.read_response();
  EXPECT_EQ(rejected.status, 400);
  EXPECT_TRUE(std::regex_match(id_of(rejected), made_id)) << rejected.raw;
}

TEST(RequestId, OffByDefault) {
  TestServer s("[[route]]\npath = \"/id\"\nhandler = \"id\"\n", register_id);
  const HttpResponse r = fetch(s.port(), get("/id", "X-Request-Id: abc\r\n"));
  EXPECT_FALSE(r.has_header("X-Request-Id"));
  EXPECT_EQ(r.body, "");
}

TEST(RequestId, AnUntrustedClientsIdIsReplaced) {
  TestServer s(id_config(), register_id);
  const HttpResponse r = fetch(s.port(), get("/id", "X-Request-Id: chosen-by-client\r\n"));
  EXPECT_TRUE(std::regex_match(id_of(r), made_id)) << r.raw;
  EXPECT_EQ(r.body, id_of(r));
}

TEST(RequestId, ATrustedProxysValidIdIsKept) {
  TestServer s(id_config("\n[proxy]\ntrusted = [\"127.0.0.1/32\"]\n"), register_id);
  const std::string sent = "Root=1-67891233-abcdef012345678912345678;edge:7";
  HttpResponse r = fetch(s.port(), get("/id", "x-request-id: " + sent + "\r\n"));
  EXPECT_EQ(id_of(r), sent);
  EXPECT_EQ(r.body, sent);

  // The same from a peer outside [proxy] trusted.
  RawClient other(s.port(), "127.0.0.2");
  other.send(get("/id", "X-Request-Id: " + sent + "\r\n"));
  EXPECT_TRUE(std::regex_match(id_of(other.read_response()), made_id));

  // Values that cannot be repeated safely are replaced, even from a trusted peer.
  for (const std::string& bad : std::vector<std::string>{
           "X-Request-Id: has space\r\n", "X-Request-Id: a,b\r\n", "X-Request-Id: \"q\"\r\n",
           "X-Request-Id: " + std::string(129, 'a') + "\r\n", "X-Request-Id: \r\n",
           "X-Request-Id: one\r\nX-Request-Id: two\r\n"}) {
    r = fetch(s.port(), get("/id", bad));
    EXPECT_TRUE(std::regex_match(id_of(r), made_id)) << bad << r.raw;
  }
  r = fetch(s.port(), get("/id", "X-Request-Id: " + std::string(128, 'a') + "\r\n"));
  EXPECT_EQ(id_of(r), std::string(128, 'a'));
}

TEST(RequestId, DistinctAcrossWorkers) {
  TestServer s(id_config("workers = 2\n"), register_id);
  std::set<std::string> ids;
  std::set<std::string> prefixes;  // the process's bits and the worker's index
  for (int i = 0; i < 64; ++i) {
    const std::string id = id_of(fetch(s.port(), get("/id")));
    ASSERT_TRUE(std::regex_match(id, made_id)) << id;
    ids.insert(id);
    prefixes.insert(id.substr(0, 16));
  }
  EXPECT_EQ(ids.size(), 64u);
  EXPECT_LE(prefixes.size(), 2u);
}

TEST(RequestId, WrittenInTheAccessLog) {
  TempDir dir;
  for (const std::string format : {"combined", "json"}) {
    const fs::path log = dir.path() / (format + ".log");
    std::string id;
    {
      TestServer s(id_config("\n[log]\naccess = \"" + log.string() + "\"\naccess_format = \"" +
                             format + "\"\n"),
                   register_id);
      id = id_of(fetch(s.port(), get("/id")));
    }
    const std::string line = read_file(log);
    ASSERT_TRUE(std::regex_match(id, made_id));
    if (format == "combined") {
      EXPECT_TRUE(line.ends_with(" " + id + "\n")) << line;
    } else {
      simdjson::dom::parser parser;
      simdjson::dom::element e = parser.parse(line);
      EXPECT_EQ(std::string_view(e["request_id"]), id) << line;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Coroutine handlers

using boost::asio::awaitable;
using boost::asio::use_awaitable;

constexpr const char* kCoConfig = R"(
[limits]
stream_buffer = "64KiB"

[[route]]
path = "/now"
handler = "now"

[[route]]
path = "/later/{name}"
handler = "later"

[[route]]
path = "/wait"
handler = "wait"

[[route]]
path = "/deadline"
handler = "wait"
timeout = "50ms"

[[route]]
path = "/zombie"
handler = "zombie"

[[route]]
path = "/late-zombie"
handler = "zombie"
timeout = "50ms"

[[route]]
path = "/hold"
handler = "hold"

[[route]]
path = "/ender"
handler = "ender"

[[route]]
path = "/say/{word}"
handler = "say"

[[route]]
path = "/metrics"
handler = "metrics"

[[route]]
path = "/throws"
handler = "throws"

[[route]]
path = "/bulk"
handler = "bulk"

[[route]]
path = "/events"
handler = "events"

[[route]]
path = "/ticker"
handler = "ticker"

[[route]]
path = "/sum"
methods = ["POST"]
handler = "sum"
body = "stream"
max_body = "64MiB"
)";

// What the coroutines report to the test thread.
struct CoObserved {
  std::promise<void> waiting;            // /wait began its long wait
  std::promise<std::string> wait_ended;  // how: "cancelled" or "timer"
  std::atomic<int> frames_alive{0};      // /wait coroutines not yet destroyed
  std::promise<void> blocked;            // /bulk met backpressure
  std::atomic<bool> blocked_once{false};
  std::atomic<std::size_t> max_buffered{0};
  std::promise<std::string> ticker_ended;  // how /ticker's endless stream ended
  // /zombie, /say and /ender wait on `wake` (on `loop`) for the test after their first step.
  boost::asio::any_io_executor loop;
  boost::asio::steady_timer* wake = nullptr;
  std::promise<void> parked;                     // /zombie waits for its cancellation
  std::promise<void> zombie_cancelled;           // and has had it
  std::promise<std::string> zombie_saw;          // the path it read afterwards
  boost::asio::steady_timer* release = nullptr;  // /hold waits on it (on `loop`)
  std::promise<void> holding;                    // and has begun to
};

// Lets the coroutine waiting on seen.wake go on.
void wake(CoObserved& seen) {
  boost::asio::post(seen.loop, [&seen] { seen.wake->cancel(); });
}

// Lets /hold answer.
void let_go(CoObserved& seen) {
  boost::asio::post(seen.loop, [&seen] { seen.release->cancel(); });
}

// Counts a coroutine's frame while it exists.
struct Alive {
  std::atomic<int>& n;
  explicit Alive(std::atomic<int>& count) : n(count) { ++n; }
  ~Alive() { --n; }
};

awaitable<void> sleep_for(std::chrono::milliseconds d) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, d);
  co_await timer.async_wait(use_awaitable);
}

constexpr std::size_t kPiece = 16 * 1024;
constexpr std::size_t kBulk = 8 * 1024 * 1024;

std::string bulk_piece(std::size_t sent) {
  return std::string(kPiece, static_cast<char>('a' + (sent / kPiece) % 26));
}

void register_coroutines(lithe::Server& s, CoObserved& seen) {
  s.handle_co("now", [](const lithe::Request&, lithe::Response& res) -> awaitable<void> {
    res.text("now");
    co_return;
  });
  s.handle_co("later", [](const lithe::Request& req, lithe::Response& res) -> awaitable<void> {
    co_await sleep_for(5ms);
    res.text("later " + std::string(req.param("name")));
  });
  s.handle_co("wait", [&seen](const lithe::Request&, lithe::Response& res) -> awaitable<void> {
    Alive alive(seen.frames_alive);
    seen.waiting.set_value();
    try {
      co_await sleep_for(30s);
    } catch (const boost::system::system_error& e) {
      seen.wait_ended.set_value(e.code() == boost::asio::error::operation_aborted ? "cancelled"
                                                                                  : "other");
      throw;
    }
    seen.wait_ended.set_value("timer");
    res.text("waited");
  });
  s.handle_co("throws", [](const lithe::Request&, lithe::Response& res) -> awaitable<void> {
    res.header("X-Partial", "1");
    co_await sleep_for(1ms);
    throw std::runtime_error("the coroutine failed");
  });
  s.handle_co("bulk", [&seen](const lithe::Request&, lithe::Response& res) -> awaitable<void> {
    lithe::Stream stream = res.stream();
    for (std::size_t sent = 0; sent < kBulk; sent += kPiece) {
      // This write goes over limits.stream_buffer, so it has to wait for the client.
      if (stream.buffered() + kPiece > 64 * 1024 && !seen.blocked_once.exchange(true))
        seen.blocked.set_value();
      co_await lithe::write(stream, bulk_piece(sent));
      const std::size_t b = stream.buffered();
      if (b > seen.max_buffered) seen.max_buffered = b;
    }
    stream.end();
  });
  s.handle_co("events", [](const lithe::Request&, lithe::Response& res) -> awaitable<void> {
    lithe::EventStream events = lithe::EventStream::start(res);
    for (int i = 0; i < 3; ++i) {
      co_await lithe::send(events, "tick " + std::to_string(i), "tick", std::to_string(i));
      co_await sleep_for(2ms);
    }
    events.end();
  });
  // Ticks until it is cancelled: the stream it began carries the cancellation on.
  s.handle_co("ticker", [&seen](const lithe::Request&, lithe::Response& res) -> awaitable<void> {
    lithe::EventStream events = lithe::EventStream::start(res);
    try {
      for (;;) {
        co_await lithe::send(events, "tick");
        co_await sleep_for(2ms);
      }
    } catch (const boost::system::system_error& e) {
      seen.ticker_ended.set_value(e.code() == boost::asio::error::operation_aborted ? "cancelled"
                                                                                    : "other");
    }
  });
  // Does what the README forbids, to show that it does no harm to other requests: catches its
  // cancellation (the client left) and, when the test says so, goes on with req and res.
  s.handle_co("zombie",
              [&seen](const lithe::Request& req, lithe::Response& res) -> awaitable<void> {
                boost::asio::steady_timer wake(co_await boost::asio::this_coro::executor, 30s);
                seen.loop = co_await boost::asio::this_coro::executor;
                seen.wake = &wake;
                seen.parked.set_value();
                try {
                  co_await sleep_for(30s);
                } catch (const boost::system::system_error&) {
                  seen.zombie_cancelled.set_value();
                }
                co_await boost::asio::this_coro::reset_cancellation_state();
                try {
                  co_await wake.async_wait(use_awaitable);
                } catch (const boost::system::system_error&) {
                }
                res.header("X-Zombie", "yes");
                res.text("zombie");
                seen.zombie_saw.set_value(std::string(req.path()));
              });
  // Holds its request until the test lets it answer.
  s.handle_co("hold", [&seen](const lithe::Request&, lithe::Response& res) -> awaitable<void> {
    boost::asio::steady_timer release(co_await boost::asio::this_coro::executor, 30s);
    seen.release = &release;
    seen.holding.set_value();
    try {
      co_await release.async_wait(use_awaitable);
    } catch (const boost::system::system_error&) {
    }
    res.text("held");
  });
  // Ends its stream, then, when the test says so, goes on with req and res.
  s.handle_co("ender", [&seen](const lithe::Request& req, lithe::Response& res) -> awaitable<void> {
    boost::asio::steady_timer wake(co_await boost::asio::this_coro::executor, 30s);
    seen.loop = co_await boost::asio::this_coro::executor;
    seen.wake = &wake;
    lithe::EventStream events = lithe::EventStream::start(res);
    co_await lithe::send(events, "only");
    events.end();
    try {
      co_await wake.async_wait(use_awaitable);
    } catch (const boost::system::system_error&) {
    }
    res.header("X-Zombie", "yes");
    seen.zombie_saw.set_value(std::string(req.path()));
  });
  // Reads its request after its open stream has given the request back to the connection.
  s.handle_co("say", [&seen](const lithe::Request& req, lithe::Response& res) -> awaitable<void> {
    lithe::EventStream events = lithe::EventStream::start(res);
    boost::asio::steady_timer wake(co_await boost::asio::this_coro::executor, 30s);
    seen.loop = co_await boost::asio::this_coro::executor;
    seen.wake = &wake;
    co_await lithe::send(events, "ready");
    try {
      co_await wake.async_wait(use_awaitable);
    } catch (const boost::system::system_error&) {
    }
    co_await lithe::send(events, std::string(req.param("word")));
    events.end();
  });
  s.handle_co("sum", [](const lithe::Request&, lithe::Response& res) -> awaitable<void> {
    lithe::BodyReader body = res.body_reader();
    uint64_t bytes = 0, hash = fnv1a_start;
    for (;;) {
      const lithe::BodyPiece piece = co_await lithe::read(body);
      bytes += piece.bytes.size();
      hash = fnv1a(piece.bytes, hash);
      if (piece.last) break;
    }
    res.text(std::to_string(bytes) + " " + std::to_string(hash));
  });
}

struct CoServer {
  CoObserved seen;
  TestServer server{kCoConfig, [this](lithe::Server& s) { register_coroutines(s, seen); }};
};

TEST(CoroutineHandler, AnswersWithAndWithoutSuspendingInRequestOrder) {
  CoServer s;
  RawClient c(s.server.port());
  c.send(get("/later/a") + get("/now") + get("/later/b"));  // pipelined in one write
  EXPECT_EQ(c.read_response().body, "later a");
  EXPECT_EQ(c.read_response().body, "now");
  EXPECT_EQ(c.read_response().body, "later b");
}

TEST(CoroutineHandler, AThrowIsA500AndTheConnectionLivesOn) {
  CoServer s;
  RawClient c(s.server.port());
  c.send(get("/throws"));
  const HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 500);
  EXPECT_FALSE(r.has_header("X-Partial"));  // what the coroutine set before it failed
  c.send(get("/now"));
  EXPECT_EQ(c.read_response().body, "now");
}

TEST(CoroutineHandler, TheClientGoingAwayCancelsTheAwait) {
  CoServer s;
  {
    RawClient c(s.server.port());
    c.send(get("/wait"));
    ASSERT_EQ(s.seen.waiting.get_future().wait_for(io_timeout), std::future_status::ready);
    c.reset();
  }
  auto ended = s.seen.wait_ended.get_future();
  ASSERT_EQ(ended.wait_for(io_timeout), std::future_status::ready);
  EXPECT_EQ(ended.get(), "cancelled");
  EXPECT_EQ(fetch(s.server.port(), get("/now")).body, "now");
}

TEST(CoroutineHandler, TheHandlerDeadlineCancelsItAndAnswers504) {
  CoServer s;
  RawClient c(s.server.port());
  c.send(get("/deadline") + get("/now"));
  EXPECT_EQ(c.read_response().status, 504);
  EXPECT_EQ(c.read_response().body, "now");
  auto ended = s.seen.wait_ended.get_future();
  ASSERT_EQ(ended.wait_for(io_timeout), std::future_status::ready);
  EXPECT_EQ(ended.get(), "cancelled");
}

// A coroutine that goes on after the client left (it caught the cancellation) still has its
// own request and response: the connection's exchange did not go back to the pool, where the
// next request would have taken it.
TEST(CoroutineHandler, ItsRequestAndResponseStayItsOwnAfterTheClientLeaves) {
  CoServer s;
  const uint16_t port = s.server.port();
  {
    RawClient c(port);
    c.send(get("/zombie"));
    ASSERT_EQ(s.seen.parked.get_future().wait_for(io_timeout), std::future_status::ready);
    c.reset();
  }
  ASSERT_EQ(s.seen.zombie_cancelled.get_future().wait_for(io_timeout), std::future_status::ready);
  // Its connection is closed (the scrape's own is the one open): a scrape has been served since.
  ASSERT_TRUE(wait_until([&] { return metric(scrape(port), "lithe_connections_open") == 1; }));
  wake(s.seen);
  auto saw = s.seen.zombie_saw.get_future();
  ASSERT_EQ(saw.wait_for(io_timeout), std::future_status::ready);
  EXPECT_EQ(saw.get(), "/zombie");
  for (int i = 0; i < 3; ++i) {  // what it wrote reaches nobody
    const HttpResponse r = fetch(port, get("/now"));
    EXPECT_EQ(r.body, "now");
    EXPECT_FALSE(r.has_header("X-Zombie")) << r.raw;
  }
}

// While /hold, pipelined behind a coroutine that went on after its answer, holds the
// connection's exchange, that coroutine reads its request and writes to its response: it sees
// its own path, and /hold's answer carries nothing of what it wrote.
void expect_kept_apart(CoServer& s, RawClient& c, const std::string& path) {
  ASSERT_EQ(s.seen.holding.get_future().wait_for(io_timeout), std::future_status::ready);
  wake(s.seen);
  auto saw = s.seen.zombie_saw.get_future();
  ASSERT_EQ(saw.wait_for(io_timeout), std::future_status::ready);
  EXPECT_EQ(saw.get(), path);
  let_go(s.seen);
  const HttpResponse held = c.read_response();
  EXPECT_EQ(held.body, "held");
  EXPECT_FALSE(held.has_header("X-Zombie")) << held.raw;
}

// The same after its handler deadline, with the next request pipelined behind it: that one
// is answered in a fresh exchange while the coroutine still runs with its own.
TEST(CoroutineHandler, ItsRequestAndResponseStayItsOwnAfterItsDeadline) {
  CoServer s;
  RawClient c(s.server.port());
  c.send(get("/late-zombie") + get("/hold"));
  EXPECT_EQ(c.read_response().status, 504);
  ASSERT_EQ(s.seen.zombie_cancelled.get_future().wait_for(io_timeout), std::future_status::ready);
  expect_kept_apart(s, c, "/late-zombie");
  EXPECT_EQ(fetch(s.server.port(), get("/now")).body, "now");
}

// And when the next request comes only after the 504, as from a client that does not pipeline.
TEST(CoroutineHandler, ItsRequestAndResponseStayItsOwnWhenTheNextComesAfterThe504) {
  CoServer s;
  RawClient c(s.server.port());
  c.send(get("/late-zombie"));
  EXPECT_EQ(c.read_response().status, 504);
  ASSERT_EQ(s.seen.zombie_cancelled.get_future().wait_for(io_timeout), std::future_status::ready);
  c.send(get("/hold"));
  expect_kept_apart(s, c, "/late-zombie");
  EXPECT_EQ(fetch(s.server.port(), get("/now")).body, "now");
}

// The same when a reload has shrunk the read buffers since the request arrived: the requests
// pipelined behind it (more bytes than a new buffer holds) move to a buffer of the old size,
// and every one of them is answered.
TEST(CoroutineHandler, ARequestPipelinedBehindItOutgrowsABufferShrunkByAReload) {
  TempDir dir;
  // One worker, so that the route the reload adds shows that worker has the new limits.
  const std::string routes = R"(
[server]
listen = ["127.0.0.1:0"]
workers = 1

[[route]]
path = "/late-zombie"
handler = "zombie"
timeout = "2s"

[[route]]
path = "/now"
handler = "now"
)";
  // Read buffers of 76 KiB (request_line + header_section + 4 KiB), then the default 28 KiB.
  const auto file = dir.write("app.toml", routes + "\n[limits]\nheader_section = \"64KiB\"\n");
  CoObserved seen;
  TestServer server(lithe::load_config(file.string()),
                    [&seen](lithe::Server& s) { register_coroutines(s, seen); });
  const uint16_t port = server.port();

  constexpr int kBehind = 16;
  const std::string pad(2048, 'p');
  std::string pipelined = get("/late-zombie");
  for (int i = 0; i < kBehind; ++i) pipelined += get("/now", "X-Pad: " + pad + "\r\n");
  ASSERT_GT(pipelined.size(), 28u * 1024);
  RawClient c(port);
  c.send(pipelined);
  ASSERT_EQ(seen.parked.get_future().wait_for(io_timeout), std::future_status::ready);
  dir.write("app.toml", routes + "\n[[route]]\npath = \"/added\"\nhandler = \"now\"\n");
  ASSERT_TRUE(server.server().reload());
  EXPECT_EQ(fetch(port, get("/added")).body, "now");

  EXPECT_EQ(c.read_response().status, 504);  // at the deadline, after the reload
  for (int i = 0; i < kBehind; ++i) EXPECT_EQ(c.read_response().body, "now") << i;
  // Its cancellation may reach it after the answers went out: it waits to be woken only then.
  ASSERT_EQ(seen.zombie_cancelled.get_future().wait_for(io_timeout), std::future_status::ready);
  wake(seen);
  auto saw = seen.zombie_saw.get_future();
  ASSERT_EQ(saw.wait_for(io_timeout), std::future_status::ready);
  EXPECT_EQ(saw.get(), "/late-zombie");
}

TEST(CoroutineHandler, AServerStopEndsAWaitingCoroutine) {
  CoObserved seen;
  {
    TestServer s(kCoConfig, [&seen](lithe::Server& server) { register_coroutines(server, seen); });
    RawClient c(s.port());
    c.send(get("/wait"));
    ASSERT_EQ(seen.waiting.get_future().wait_for(io_timeout), std::future_status::ready);
    EXPECT_EQ(seen.frames_alive.load(), 1);
    s.server().stop();
    EXPECT_TRUE(c.is_closed());
  }                                        // run() has returned: the loop is gone
  EXPECT_EQ(seen.frames_alive.load(), 0);  // and the coroutine with it, not leaked
}

TEST(CoroutineStreaming, WritesWaitForRoomAndEveryByteArrives) {
  CoServer s;
  RawClient c(s.server.port());
  c.send(get("/bulk"));
  // The client reads nothing until the coroutine has met backpressure.
  ASSERT_EQ(s.seen.blocked.get_future().wait_for(io_timeout), std::future_status::ready);
  const HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 200);
  ASSERT_EQ(r.body.size(), kBulk);
  std::string expected;
  for (std::size_t sent = 0; sent < kBulk; sent += kPiece) expected += bulk_piece(sent);
  EXPECT_TRUE(r.body == expected);
  EXPECT_LE(s.seen.max_buffered.load(), 64 * 1024 + kPiece + 512);  // the limit + one piece
}

TEST(CoroutineStreaming, TheClientGoingAwayCancelsAStreamingCoroutine) {
  CoServer s;
  {
    RawClient c(s.server.port());
    c.send(get("/ticker"));
    c.peek_until("data: tick\n\n");
    c.reset();
  }
  auto ended = s.seen.ticker_ended.get_future();
  ASSERT_EQ(ended.wait_for(io_timeout), std::future_status::ready);
  EXPECT_EQ(ended.get(), "cancelled");
}

// An open stream gives its request back to the connection, but a coroutine still running keeps
// it: its views stay valid while requests on other connections come and go.
TEST(CoroutineStreaming, TheRequestStaysValidWhileTheStreamingCoroutineRuns) {
  CoServer s;
  RawClient c(s.server.port());
  c.send(get("/say/hello"));
  c.peek_until("data: ready\n\n");
  EXPECT_EQ(fetch(s.server.port(), get("/later/x")).body, "later x");
  wake(s.seen);
  EXPECT_EQ(c.read_response().body, "data: ready\n\ndata: hello\n\n");
}

// A coroutine that goes on after ending its stream keeps its request and response, though the
// request pipelined behind the stream is answered meanwhile.
TEST(CoroutineStreaming, TheRequestStaysItsOwnAfterTheStreamEnds) {
  CoServer s;
  RawClient c(s.server.port());
  c.send(get("/ender") + get("/hold"));
  EXPECT_EQ(c.read_response().body, "data: only\n\n");
  expect_kept_apart(s, c, "/ender");
}

TEST(CoroutineStreaming, EventsAndPulledBodies) {
  CoServer s;
  RawClient c(s.server.port());
  c.send(get("/events"));
  const HttpResponse events = c.read_response();
  EXPECT_EQ(events.header("Content-Type"), "text/event-stream");
  EXPECT_EQ(events.body,
            "event: tick\nid: 0\ndata: tick 0\n\nevent: tick\nid: 1\ndata: tick 1\n\n"
            "event: tick\nid: 2\ndata: tick 2\n\n");
  const std::string body = pattern(3 * 1024 * 1024 + 17);
  c.send(request("POST", "/sum", "Transfer-Encoding: chunked\r\n") + chunked(body, 100000));
  EXPECT_EQ(c.read_response().body,
            std::to_string(body.size()) + " " + std::to_string(fnv1a(body)));
}

// ---------------------------------------------------------------------------------------------
// Middleware

constexpr const char* kMiddlewareConfig = R"(
[[route]]
path = "/open"
handler = "hello"

[[route]]
path = "/static"
handler = "static"
body = "fixed"

[[route]]
path = "/private"
handler = "hello"
middleware = ["auth", "tag"]

[[route]]
path = "/private/later"
handler = "later"
middleware = ["auth", "tag"]

[[route]]
path = "/private/stream"
handler = "stream"
middleware = ["tag"]

[[route]]
path = "/broken"
handler = "hello"
middleware = ["broken"]
)";

struct MiddlewareServer {
  std::atomic<int> handled{0};  // handler calls
  TestServer server{
      kMiddlewareConfig, [this](lithe::Server& s) {
        s.handle("hello", [this](const lithe::Request&, lithe::Response& res) {
          ++handled;
          res.text("hello");
        });
        s.handle_co("later", [](const lithe::Request&, lithe::Response& res) -> awaitable<void> {
          co_await sleep_for(2ms);
          res.text("later");
        });
        s.handle("stream", [](const lithe::Request&, lithe::Response& res) {
          lithe::Stream st = res.stream();
          st.write("streamed");
          st.end();
        });
        // For every request: the order of the hooks shows in X-Order.
        s.use({[](const lithe::Request&, lithe::Response& res) {
                 res.header("X-Order", "before:global");
                 return false;
               },
               [](const lithe::Request&, lithe::Response& res) {
                 res.header("X-Order", "after:global");
               }});
        s.use("auth", {[](const lithe::Request& req, lithe::Response& res) {
                         if (req.header("authorization") == "Bearer ok") return false;
                         res.status(401).text("who are you?");
                         return true;
                       },
                       {}});
        s.use("tag", {[](const lithe::Request&, lithe::Response& res) {
                        res.header("X-Order", "before:tag");
                        return false;
                      },
                      [](const lithe::Request&, lithe::Response& res) {
                        res.header("X-Order", "after:tag");
                      }});
        s.use("broken", {[](const lithe::Request&, lithe::Response&) -> bool {
                           throw std::runtime_error("the hook failed");
                         },
                         {}});
      }};
};

// Every value of the header name, in the order received.
std::vector<std::string> values(const HttpResponse& r, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& [n, v] : r.headers)
    if (strncasecmp(n.c_str(), std::string(name).c_str(), n.size() + 1) == 0) out.push_back(v);
  return out;
}

using Order = std::vector<std::string>;

TEST(Middleware, HooksForEveryRequestRunAroundRoutedAndUnroutedAnswers) {
  MiddlewareServer s;
  RawClient c(s.server.port());
  for (const char* path : {"/open", "/static", "/missing"}) {
    c.send(get(path));
    const HttpResponse r = c.read_response();
    EXPECT_EQ(values(r, "X-Order"), (Order{"before:global", "after:global"})) << path << r.raw;
  }
  c.send(request("DELETE", "/open"));  // 405
  const HttpResponse refused = c.read_response();
  EXPECT_EQ(refused.status, 405);
  EXPECT_EQ(values(refused, "X-Order"), (Order{"before:global", "after:global"}));
}

TEST(Middleware, ARouteAddsItsOwnInOrderAndAfterHooksRunInReverse) {
  MiddlewareServer s;
  const HttpResponse r = fetch(s.server.port(), get("/private", "Authorization: Bearer ok\r\n"));
  EXPECT_EQ(r.body, "hello");
  EXPECT_EQ(values(r, "X-Order"),
            (Order{"before:global", "before:tag", "after:tag", "after:global"}));
}

TEST(Middleware, ABeforeHookThatAnswersSkipsTheHandlerButNotTheAfterHooks) {
  MiddlewareServer s;
  const HttpResponse r = fetch(s.server.port(), get("/private"));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body, "who are you?");
  EXPECT_EQ(s.handled.load(), 0);
  // "tag" never ran its before hook; the after hooks of the whole chain run on the answer.
  EXPECT_EQ(values(r, "X-Order"), (Order{"before:global", "after:tag", "after:global"}));
}

TEST(Middleware, AfterHooksReachCoroutineAndStreamedAnswers) {
  MiddlewareServer s;
  RawClient c(s.server.port());
  c.send(get("/private/later", "Authorization: Bearer ok\r\n") + get("/private/stream"));
  const HttpResponse later = c.read_response();
  EXPECT_EQ(later.body, "later");
  EXPECT_EQ(values(later, "X-Order"),
            (Order{"before:global", "before:tag", "after:tag", "after:global"}));
  const HttpResponse streamed = c.read_response();
  EXPECT_EQ(streamed.body, "streamed");
  EXPECT_EQ(values(streamed, "X-Order"),
            (Order{"before:global", "before:tag", "after:tag", "after:global"}));
}

TEST(Middleware, AThrowingBeforeHookIsA500AndTheConnectionLivesOn) {
  MiddlewareServer s;
  RawClient c(s.server.port());
  c.send(get("/broken"));
  EXPECT_EQ(c.read_response().status, 500);
  EXPECT_EQ(s.handled.load(), 0);
  c.send(get("/open"));
  EXPECT_EQ(c.read_response().body, "hello");
}

TEST(Middleware, AnUnknownNameIsAConfigErrorAtItsPosition) {
  lithe::Server server(lithe::parse_config(
      "[[route]]\npath = \"/a\"\nhandler = \"health\"\nmiddleware = [\"auth\", \"nope\"]\n",
      "app.toml"));
  server.use("auth", {});
  try {
    server.check();
    FAIL() << "an unknown middleware passed check()";
  } catch (const lithe::ConfigErrors& e) {
    EXPECT_EQ(std::string(e.what()),
              "app.toml:4:23: unknown middleware 'nope' (register it with Server::use)");
  }
}

// ---------------------------------------------------------------------------------------------
// CORS

constexpr const char* kCorsConfig = R"(
[[route]]
path = "/api/items"
methods = ["GET", "POST"]
handler = "items"
middleware = ["auth"]
cors = { origins = ["https://app.example", "https://*.tenants.example"], headers = ["Content-Type", "Authorization"], max_age = "5m", credentials = true }

[[route]]
path = "/public"
handler = "static"
body = "public"
cors = { origins = ["*"] }

[[route]]
path = "/reflect"
methods = ["PUT"]
handler = "items"
cors = { origins = ["https://app.example"] }

[[route]]
path = "/plain"
handler = "items"
)";

struct CorsServer {
  TestServer server{kCorsConfig, [](lithe::Server& s) {
                      s.handle("items",
                               [](const lithe::Request&, lithe::Response& res) { res.json("[]"); });
                      s.use("auth", {[](const lithe::Request& req, lithe::Response& res) {
                                       if (!req.header("authorization").empty()) return false;
                                       res.status(401);
                                       return true;
                                     },
                                     {}});
                    }};
};

std::string preflight(std::string_view path, std::string_view origin, std::string_view method,
                      std::string_view extra = "") {
  return request("OPTIONS", path,
                 "Origin: " + std::string(origin) + "\r\nAccess-Control-Request-Method: " +
                     std::string(method) + "\r\n" + std::string(extra));
}

TEST(Cors, APreflightFromAnAllowedOriginIsAnsweredBeforeAnyHook) {
  CorsServer s;
  const HttpResponse r =
      fetch(s.server.port(), preflight("/api/items", "https://app.example", "POST",
                                       "Access-Control-Request-Headers: content-type\r\n"));
  EXPECT_EQ(r.status, 204);  // the auth hook never saw it: browsers send no credentials here
  EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_EQ(r.header("Access-Control-Allow-Methods"), "GET, POST");
  EXPECT_EQ(r.header("Access-Control-Allow-Headers"), "Content-Type, Authorization");
  EXPECT_EQ(r.header("Access-Control-Max-Age"), "300");
  EXPECT_EQ(r.header("Access-Control-Allow-Credentials"), "true");
  EXPECT_EQ(r.header("Vary"), "Origin");
}

TEST(Cors, ResponsesToAnAllowedOriginCarryItAndOthersDoNot) {
  CorsServer s;
  RawClient c(s.server.port());
  c.send(get("/api/items", "Origin: https://app.example\r\nAuthorization: x\r\n"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.body, "[]");
  EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_EQ(r.header("Access-Control-Allow-Credentials"), "true");
  EXPECT_EQ(r.header("Vary"), "Origin");
  // A rejection by a hook still tells the page's origin, so the page can read the 401.
  c.send(get("/api/items", "Origin: https://app.example\r\n"));
  r = c.read_response();
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "https://app.example");
  // Subdomains under a "*." entry, not the bare domain nor a look-alike.
  c.send(get("/api/items", "Origin: https://acme.tenants.example\r\nAuthorization: x\r\n"));
  EXPECT_EQ(c.read_response().header("Access-Control-Allow-Origin"),
            "https://acme.tenants.example");
  for (const char* other : {"https://evil.example", "https://tenants.example",
                            "https://x.eviltenants.example", "http://app.example"}) {
    c.send(get("/api/items", "Origin: " + std::string(other) + "\r\nAuthorization: x\r\n"));
    r = c.read_response();
    EXPECT_EQ(r.status, 200);
    EXPECT_FALSE(r.has_header("Access-Control-Allow-Origin")) << other;
    EXPECT_EQ(r.header("Vary"), "Origin");
  }
}

TEST(Cors, APreflightFromAnotherOriginGetsThePlainOptionsAnswer) {
  CorsServer s;
  const HttpResponse r =
      fetch(s.server.port(), preflight("/api/items", "https://evil.example", "POST"));
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.header("Allow"), "GET, HEAD, POST, OPTIONS");
  EXPECT_FALSE(r.has_header("Access-Control-Allow-Origin"));
  EXPECT_FALSE(r.has_header("Access-Control-Allow-Methods"));
}

TEST(Cors, AnyOriginOnAPreparedBodyAndAskedHeadersReflected) {
  CorsServer s;
  RawClient c(s.server.port());
  c.send(get("/public", "Origin: https://anyone.example\r\n"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.body, "public");
  EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "*");
  EXPECT_FALSE(r.has_header("Vary"));
  EXPECT_FALSE(r.has_header("Access-Control-Allow-Credentials"));
  c.send(preflight("/reflect", "https://app.example", "PUT",
                   "Access-Control-Request-Headers: x-trace, content-type\r\n"));
  r = c.read_response();
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.header("Access-Control-Allow-Methods"), "PUT");
  EXPECT_EQ(r.header("Access-Control-Allow-Headers"), "x-trace, content-type");
  EXPECT_EQ(r.header("Access-Control-Max-Age"), "600");
  EXPECT_EQ(values(r, "Vary"), (Order{"Access-Control-Request-Headers", "Origin"}));
}

TEST(Cors, ARouteWithoutItAnswersAsBefore) {
  CorsServer s;
  const HttpResponse r = fetch(s.server.port(), preflight("/plain", "https://app.example", "GET"));
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.header("Allow"), "GET, HEAD, OPTIONS");
  EXPECT_FALSE(r.has_header("Access-Control-Allow-Origin"));
}

// ---------------------------------------------------------------------------------------------
// Embedding without taking over the process

std::atomic<int> hangups{0};
void count_hangup(int) {
  ++hangups;
}

TEST(Embedding, WithoutSignalHandlingOrLoggingTheProgramKeepsBoth) {
  // The program's own SIGHUP handler, SIGPIPE disposition and default logger.
  struct sigaction mine {
  }, before_hup{}, before_pipe{};
  mine.sa_handler = count_hangup;
  sigemptyset(&mine.sa_mask);
  ASSERT_EQ(::sigaction(SIGHUP, &mine, &before_hup), 0);
  struct sigaction pipe_default {};
  pipe_default.sa_handler = SIG_DFL;
  ASSERT_EQ(::sigaction(SIGPIPE, &pipe_default, &before_pipe), 0);
  auto previous_logger = spdlog::default_logger();
  std::ostringstream lines;
  auto logger = std::make_shared<spdlog::logger>(
      "program", std::make_shared<spdlog::sinks::ostream_sink_mt>(lines));
  spdlog::set_default_logger(logger);
  {
    TestServer s("[log]\nlevel = \"off\"\n[[route]]\npath = \"/\"\nhandler = \"health\"\n",
                 [](lithe::Server& server) {
                   server.handle_signals(false);
                   server.configure_logging(false);
                 });
    EXPECT_EQ(fetch(s.port(), get("/")).status, 200);
    ::raise(SIGHUP);  // the program's handler runs; lithe neither reloads nor dies
    EXPECT_EQ(hangups.load(), 1);
    EXPECT_EQ(fetch(s.port(), get("/")).status, 200);
    struct sigaction now {};
    ::sigaction(SIGPIPE, nullptr, &now);
    EXPECT_EQ(now.sa_handler, SIG_DFL);  // left as the program set it
  }
  EXPECT_EQ(spdlog::default_logger(), logger);  // [log] level = "off" was not applied to it
  EXPECT_NE(lines.str().find("listening on 127.0.0.1:"), std::string::npos) << lines.str();
  EXPECT_EQ(lines.str().find("reload"), std::string::npos) << lines.str();
  spdlog::set_default_logger(previous_logger);
  ::sigaction(SIGHUP, &before_hup, nullptr);
  ::sigaction(SIGPIPE, &before_pipe, nullptr);
}

lithe::ListenAddress loopback(uint16_t port) {
  lithe::ListenAddress a;
  a.host = "127.0.0.1";
  a.port = port;
  a.text = "127.0.0.1:" + std::to_string(port);
  return a;
}

// A server for start(): the test's config on 127.0.0.1:0.
std::unique_ptr<lithe::Server> program_server(std::string_view toml) {
  auto server = std::make_unique<lithe::Server>(lithe::parse_config(toml, "test.toml"));
  server->override_listen({loopback(0)});
  return server;
}

uint16_t bound_port(lithe::Server& server) {
  const std::string address = server.wait_bound().front();  // "127.0.0.1:41234"
  return static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
}

// Runs io on a thread of the program's; done() says whether run() has returned.
class ProgramLoop {
 public:
  explicit ProgramLoop(boost::asio::io_context& io)
      : ran_(std::async(std::launch::async, [&io] {
          io.run();
          return std::this_thread::get_id();
        })) {}
  // Whether run() returned by itself within the test's timeout (nothing else kept it going).
  bool returns() { return ran_.wait_for(io_timeout * 2) == std::future_status::ready; }

 private:
  std::future<std::thread::id> ran_;
};

constexpr std::string_view where_config =
    "[[route]]\npath = \"/where\"\nhandler = \"where\"\n"
    "[[route]]\npath = \"/later\"\nhandler = \"later\"\n";

TEST(Embedding, ServesFromTheProgramsOwnLoopAndLetsGoOfItOnStop) {
  boost::asio::io_context io;
  int program_state = 0;  // the program's, touched by its loop only: no lock
  std::thread::id loop_thread;
  auto server = program_server(where_config);
  server->handle("where", [&](const lithe::Request&, lithe::Response& res) {
    ++program_state;
    res.text(std::this_thread::get_id() == loop_thread ? "on the program's loop" : "elsewhere");
  });
  server->handle_co(
      "later", [&](const lithe::Request&, lithe::Response& res) -> boost::asio::awaitable<void> {
        // A timer of the program's loop, awaited by a coroutine on the same loop.
        boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
        t.expires_after(std::chrono::milliseconds(1));
        co_await t.async_wait(boost::asio::use_awaitable);
        res.text(&t.get_executor().context() == &io ? "same loop" : "other loop");
      });
  struct sigaction before {};
  ::sigaction(SIGTERM, nullptr, &before);
  std::promise<void> stopped;
  ASSERT_EQ(server->start(io, [&] { stopped.set_value(); }), 0);
  struct sigaction after {};
  ::sigaction(SIGTERM, nullptr, &after);
  EXPECT_EQ(after.sa_handler, before.sa_handler);  // the program owns its signals

  std::promise<std::thread::id> id;
  boost::asio::post(io, [&] { id.set_value(std::this_thread::get_id()); });
  ProgramLoop loop(io);
  loop_thread = id.get_future().get();
  const uint16_t port = bound_port(*server);
  RawClient c(port);
  c.send(get("/where"));
  EXPECT_EQ(c.read_response().body, "on the program's loop");
  c.send(get("/later"));
  EXPECT_EQ(c.read_response().body, "same loop");
  boost::asio::post(io, [&] { ++program_state; });  // the program's own work goes on beside

  server->stop();  // with c still open
  ASSERT_EQ(stopped.get_future().wait_for(io_timeout), std::future_status::ready);
  EXPECT_TRUE(c.is_closed());
  ASSERT_TRUE(loop.returns()) << "lithe left work on the program's loop after stopping";
  EXPECT_EQ(program_state, 2);
  server.reset();  // after `stopped`, before the loop, as start() asks
  // The loop is still the program's: it runs what is posted next.
  io.restart();
  bool ran = false;
  boost::asio::post(io, [&] { ran = true; });
  io.run();
  EXPECT_TRUE(ran);
}

TEST(Embedding, TwoProgramLoopsDrainOnAGracefulShutdown) {
  boost::asio::io_context io1, io2;
  std::mutex m;
  std::set<std::thread::id> handler_threads;
  std::promise<lithe::Responder> held;
  auto server = program_server(where_config);
  server->handle("where", [&](const lithe::Request&, lithe::Response& res) {
    std::lock_guard lock(m);
    handler_threads.insert(std::this_thread::get_id());
    res.text("here");
  });
  server->handle_async("later", [&](const lithe::Request&, lithe::Responder r) {
    held.set_value(std::move(r));  // answered by the test, during the shutdown
  });
  std::promise<void> stopped;
  ASSERT_EQ(server->start({&io1, &io2}, [&] { stopped.set_value(); }), 0);
  std::promise<std::thread::id> id1, id2;
  boost::asio::post(io1, [&] { id1.set_value(std::this_thread::get_id()); });
  boost::asio::post(io2, [&] { id2.set_value(std::this_thread::get_id()); });
  ProgramLoop loop1(io1), loop2(io2);
  const std::set<std::thread::id> loops = {id1.get_future().get(), id2.get_future().get()};
  const uint16_t port = bound_port(*server);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(fetch(port, get("/where")).body, "here");
  {
    std::lock_guard lock(m);
    for (const auto& t : handler_threads) EXPECT_TRUE(loops.count(t));
  }

  RawClient waiting(port);
  waiting.send(get("/later"));
  lithe::Responder r = held.get_future().get();
  RawClient idle(port);
  idle.send(get("/where"));
  EXPECT_EQ(idle.read_response().body, "here");
  server->shutdown();
  EXPECT_TRUE(idle.is_closed());  // idle connections close at once
  boost::asio::post(r.io(), [&r] {
    r.response().text("finished");
    r.send();
  });
  const HttpResponse last = waiting.read_response();
  EXPECT_EQ(last.body, "finished");
  EXPECT_EQ(last.header("Connection").value_or(""), "close");
  ASSERT_EQ(stopped.get_future().wait_for(io_timeout), std::future_status::ready);
  EXPECT_TRUE(loop1.returns());
  EXPECT_TRUE(loop2.returns());
  server.reset();
}

TEST(Embedding, StoppedBeforeTheLoopRunsLetsGoOnceItDoes) {
  boost::asio::io_context io;
  auto server = program_server("[[route]]\npath = \"/\"\nhandler = \"health\"\n");
  bool stopped = false;
  ASSERT_EQ(server->start(io, [&] { stopped = true; }), 0);
  server->stop();
  ProgramLoop loop(io);
  ASSERT_TRUE(loop.returns());
  EXPECT_TRUE(stopped);
  server.reset();
}

TEST(Embedding, ABadConfigOrATakenAddressIsWhatStartReturns) {
  boost::asio::io_context io;
  auto bad = program_server("[[route]]\npath = \"/\"\nhandler = \"no_such_handler\"\n");
  EXPECT_EQ(bad->start(io), 1);
  TestServer taken("[[route]]\npath = \"/\"\nhandler = \"health\"\n");
  lithe::Server clash(
      lithe::parse_config("[[route]]\npath = \"/\"\nhandler = \"health\"\n", "test.toml"));
  clash.override_listen({loopback(taken.port())});
  EXPECT_EQ(clash.start(io), 2);
  EXPECT_THROW(clash.start(std::vector<boost::asio::io_context*>{}), std::invalid_argument);
  io.run();  // nothing of either is left on the loop
}

}  // namespace
}  // namespace lithe::test
