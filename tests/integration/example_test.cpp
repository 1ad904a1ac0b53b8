// examples/hello.cpp and examples/stream.cpp, the embedding API as documented, built and run
// like a user would.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <csignal>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

using namespace lithe::test;

namespace {
const char* const kConfig = R"(
[server]
listen = ["127.0.0.1:0"]

[[route]]
path = "/hello/{name}"
handler = "hello"

[[route]]
path = "/greet/{name}"
handler = "greet"
greeting = "good morning"
shout = true

[[route]]
path = "/plain/{name}"
handler = "greet"
)";
}  // namespace

TEST(Example, PlainAndFactoryHandlersServe) {
  TempDir dir;
  auto config = dir.write("hello.toml", kConfig);
  Daemon example(LITHE_EXAMPLE, {config.string()});
  RawClient c(example.port());
  c.send(
      "GET /hello/w%C3%B6rld HTTP/1.1\r\nHost: t\r\n\r\n"
      "GET /greet/ann HTTP/1.1\r\nHost: t\r\n\r\n"
      "GET /plain/bob HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(c.read_response().body, "hello w\xC3\xB6rld\n");
  EXPECT_EQ(c.read_response().body, "good morning, ann!\n");
  EXPECT_EQ(c.read_response().body, "hello, bob\n");
  EXPECT_EQ(example.terminate(), 0);
}

TEST(Example, FactoryUnknownOptionIsAConfigError) {
  TempDir dir;
  auto config = dir.write("bad.toml", std::string(kConfig) + "shuot = true\n");
  ExitResult r = run_to_exit(LITHE_EXAMPLE, {config.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.toml:18:1: unknown option 'shuot' for handler 'greet'"),
            std::string::npos)
      << r.err;
}

// examples/stream.cpp: an event clock and a stream paced by its reader.
namespace {
const char* const kStreamConfig = R"(
[server]
listen = ["127.0.0.1:0"]

[limits]
stream_buffer = "64KiB"

[timeouts]
shutdown = "2s"

[[route]]
path = "/clock"
handler = "clock"
heartbeat = "15s"

[[route]]
path = "/firehose"
handler = "firehose"

[[route]]
path = "/feed"
handler = "feed"

[[route]]
path = "/publish"
methods = ["POST"]
handler = "publish"
)";

}  // namespace

TEST(Example, TheClockSendsEventsAndEndsThemOnAGracefulStop) {
  TempDir dir;
  auto config = dir.write("stream.toml", kStreamConfig);
  Daemon example(LITHE_STREAM_EXAMPLE, {config.string()});
  RawClient c(example.port());
  c.send("GET /clock HTTP/1.1\r\nHost: t\r\n\r\n");
  const std::string first = c.peek_until("\n\n");
  EXPECT_NE(first.find("Content-Type: text/event-stream\r\n"), std::string::npos);
  EXPECT_NE(first.find("event: tick\nid: 1\ndata: "), std::string::npos);
  // SIGTERM: the handler ends its stream at once (its drain callback), so the client gets the
  // last chunk and the daemon exits 0 without waiting for timeouts.shutdown.
  ::kill(example.pid(), SIGTERM);
  const std::string rest = c.read_until_close();
  EXPECT_EQ(rest.substr(rest.size() - 5), "0\r\n\r\n");
  EXPECT_EQ(example.wait(), 0);  // the SIGTERM above, not a second one
}

TEST(Example, APublishedEventReachesEveryFeedOnEveryWorker) {
  TempDir dir;
  std::string two_workers = kStreamConfig;
  two_workers.replace(two_workers.find("[server]\n"), 9, "[server]\nworkers = 2\n");
  auto config = dir.write("stream.toml", two_workers);
  Daemon example(LITHE_STREAM_EXAMPLE, {config.string()});
  std::vector<std::unique_ptr<RawClient>> feeds;
  for (int i = 0; i < 8; ++i) {
    feeds.push_back(std::make_unique<RawClient>(example.port()));
    feeds.back()->send("GET /feed HTTP/1.1\r\nHost: t\r\n\r\n");
    feeds.back()->peek_until("\r\n\r\n");
  }
  RawClient publisher(example.port());
  publisher.send("POST /publish HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello\nworld");
  EXPECT_EQ(publisher.read_response().status, 202);
  for (auto& f : feeds) f->peek_until("data: hello\ndata: world\n\n");
  // A graceful stop ends every feed at once, each with its last chunk.
  ::kill(example.pid(), SIGTERM);
  for (auto& f : feeds) {
    const std::string all = f->read_until_close();
    EXPECT_EQ(all.substr(all.size() - 5), "0\r\n\r\n");
  }
  EXPECT_EQ(example.wait(), 0);
}

TEST(Example, AFirehoseToAReaderAtOneKibASecondHoldsTheStreamBufferAndOnePiece) {
  TempDir dir;
  auto config = dir.write("stream.toml", kStreamConfig);
  Daemon example(LITHE_STREAM_EXAMPLE, {config.string()});
  // One plain request first, so that what the worker sets up once (its pools' first buffers)
  // is counted before, and what follows is the stream's own.
  {
    RawClient warm(example.port());
    warm.send(post("/publish", "warm"));
    ASSERT_EQ(warm.read_response().status, 202);
  }
  const std::size_t before = resident_bytes(example.pid());
  auto c = std::make_unique<RawClient>(example.port());
  c->send("GET /firehose HTTP/1.1\r\nHost: t\r\n\r\n");
  c->peek_until("\r\n\r\n");
  // 1 KiB a second, while the producer writes whenever lithe lets it: unpaced, it would queue
  // gigabytes meanwhile.
  char buf[1024];
  for (int i = 0; i < 4; ++i) {
    const ssize_t n = ::recv(c->fd(), buf, sizeof(buf), 0);
    ASSERT_GT(n, 0);
    std::this_thread::sleep_for(std::chrono::seconds(1));  // the slow reader itself
  }
  const std::size_t after = resident_bytes(example.pid());
  // What lithe may queue for it, limits.stream_buffer (64 KiB) and one 64 KiB piece, beside
  // the producer's own piece, and 64 KiB for the allocator's rounding: 256 KiB, where an
  // unpaced producer would have taken gigabytes. Under ASan freed pieces stay resident in its
  // quarantine, so resident memory says nothing there.
#if !defined(__SANITIZE_ADDRESS__)
  EXPECT_LE(after, before + 256 * 1024) << "before " << before << ", after " << after;
#else
  (void)before;
  (void)after;
#endif
  c.reset();  // unread bytes: a reset, and the stream is cancelled
  EXPECT_EQ(example.terminate(), 0);
}

// examples/app.cpp with examples/app.toml, as the README's application guide runs it.
TEST(Example, TheApplicationGuidesApi) {
  TempDir dir;
  std::string toml = read_file(LITHE_APP_TOML);
  const std::string fixed = "127.0.0.1:8082";
  ASSERT_NE(toml.find(fixed), std::string::npos);
  toml.replace(toml.find(fixed), fixed.size(), "127.0.0.1:0");
  auto config = dir.write("app.toml", toml);
  Daemon app(LITHE_APP_EXAMPLE, {config.string()});
  RawClient c(app.port());
  const std::string order =
      R"({"items":[{"sku":"a","qty":2,"price":3.5},{"sku":"b","qty":1,"price":1}]})";

  // No token: the auth middleware answers, and the front end's origin may read it.
  c.send(post("/api/orders", order, "Origin: http://localhost:3000\r\n"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "http://localhost:3000");
  EXPECT_EQ(r.header("Access-Control-Allow-Credentials"), "true");
  EXPECT_EQ(r.header("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(r.header("X-Request-Id").value_or("").size(), 32u);

  // The browser's preflight, answered without the token.
  c.send(request("OPTIONS", "/api/orders",
                 "Origin: http://localhost:3000\r\nAccess-Control-Request-Method: POST\r\n"
                 "Access-Control-Request-Headers: content-type, authorization\r\n"));
  r = c.read_response();
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.header("Access-Control-Allow-Methods"), "POST");
  EXPECT_EQ(r.header("Access-Control-Allow-Headers"), "Content-Type, Authorization");

  // With the token: the coroutine waits on the "stock service", then answers.
  c.send(post("/api/orders", order,
              "Authorization: Bearer secret\r\nContent-Type: application/json\r\n"));
  r = c.read_response();
  EXPECT_EQ(r.status, 201) << r.raw;
  const std::string id = r.header("X-Request-Id").value_or("");
  EXPECT_EQ(r.body, R"({"order":")" + id + R"(","items":2,"total":8})");

  c.send(post("/api/orders", "{not json", "Authorization: Bearer secret\r\n"));
  EXPECT_EQ(c.read_response().status, 400);

  // From the trusted proxy (127.0.0.1), its request ID is kept.
  c.send(get("/api/orders/42", "Authorization: Bearer secret\r\nX-Request-Id: edge-1\r\n"));
  r = c.read_response();
  EXPECT_EQ(r.body, R"({"order":"42","state":"packed"})");
  EXPECT_EQ(r.header("X-Request-Id"), "edge-1");

  c.send(get("/healthz"));  // the route declared in code
  EXPECT_EQ(c.read_response().status, 200);
  EXPECT_EQ(app.terminate(), 0);
}
