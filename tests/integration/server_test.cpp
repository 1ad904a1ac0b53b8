// An in-process lithe::Server on loopback, driven by a raw socket: what a client sees on the wire.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness.hpp"

namespace lithe::test {
namespace {

std::set<std::string> split_list(const std::string& v) {
  std::set<std::string> out;
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, ',')) {
    auto b = item.find_first_not_of(' ');
    auto e = item.find_last_not_of(' ');
    if (b != std::string::npos) out.insert(item.substr(b, e - b + 1));
  }
  return out;
}

// Headers without Date (which may tick between two responses).
std::vector<std::pair<std::string, std::string>> without_date(const HttpResponse& r) {
  auto h = r.headers;
  std::erase_if(h, [](const auto& p) { return p.first == "Date"; });
  return h;
}

class DefaultServer : public ::testing::Test {
 protected:
  TestServer server_{default_config()};
};

// ---------------------------------------------------------------------------------------------
// The default routes

TEST_F(DefaultServer, PlaintextBodyAndHeaders) {
  RawClient c(server_.port());
  c.send(get("/plaintext"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.version, "HTTP/1.1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.reason, "OK");
  EXPECT_EQ(r.body, "Hello, World!");
  EXPECT_EQ(r.header("Server"), "lithe");
  EXPECT_EQ(r.header("Content-Length"), "13");
  EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
  ASSERT_TRUE(r.has_header("Date"));
  EXPECT_TRUE(is_imf_fixdate(*r.header("Date"))) << *r.header("Date");
  EXPECT_EQ(r.header_count("Date"), 1u);
  EXPECT_EQ(r.header_count("Server"), 1u);
  EXPECT_EQ(r.header_count("Content-Length"), 1u);
  EXPECT_FALSE(r.has_header("Connection"));  // HTTP/1.1 keep-alive is the default
  EXPECT_FALSE(r.has_header("Transfer-Encoding"));
  EXPECT_TRUE(c.buffered().empty()) << "bytes after the response: " << c.buffered();
}

TEST_F(DefaultServer, JsonBody) {
  RawClient c(server_.port());
  c.send(get("/json"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"message":"Hello, World!"})");
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_EQ(r.header("Content-Length"), std::to_string(r.body.size()));
  EXPECT_EQ(r.header("Server"), "lithe");
  ASSERT_TRUE(r.has_header("Date"));
  EXPECT_TRUE(is_imf_fixdate(*r.header("Date")));
}

TEST_F(DefaultServer, HealthAndRoot) {
  RawClient c(server_.port());
  c.send(get("/health"));
  HttpResponse health = c.read_response();
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok");
  c.send(get("/"));
  HttpResponse root = c.read_response();
  EXPECT_EQ(root.status, 200);
  EXPECT_NE(root.body.find("lithe"), std::string::npos) << root.body;
}

// ---------------------------------------------------------------------------------------------
// Connection handling

TEST_F(DefaultServer, KeepAliveServesSequentialRequests) {
  RawClient c(server_.port());
  for (int i = 0; i < 3; ++i) {
    c.send(get("/plaintext"));
    HttpResponse r = c.read_response();
    EXPECT_EQ(r.status, 200) << "request " << i;
    EXPECT_EQ(r.body, "Hello, World!") << "request " << i;
    EXPECT_FALSE(r.has_header("Connection")) << "request " << i;
  }
  EXPECT_TRUE(c.buffered().empty());
}

TEST_F(DefaultServer, PipelinedRequestsAnsweredInOrder) {
  RawClient c(server_.port());
  c.send(get("/json") + get("/plaintext") + get("/health"));
  HttpResponse a = c.read_response();
  HttpResponse b = c.read_response();
  HttpResponse d = c.read_response();
  EXPECT_EQ(a.body, R"({"message":"Hello, World!"})");
  EXPECT_EQ(b.body, "Hello, World!");
  EXPECT_EQ(d.body, "ok");
  EXPECT_TRUE(c.buffered().empty());
  // And the connection still serves.
  c.send(get("/plaintext"));
  EXPECT_EQ(c.read_response().body, "Hello, World!");
}

TEST_F(DefaultServer, PipelinedBeyondPipelineDepth) {
  // 40 requests in one send: more than limits.pipeline_depth (16) responses per batch.
  const std::vector<std::string> paths = {"/plaintext", "/json", "/health", "/nope"};
  std::string batch;
  for (int i = 0; i < 40; ++i) batch += get(paths[i % paths.size()]);
  RawClient c(server_.port());
  c.send(batch);
  for (int i = 0; i < 40; ++i) {
    HttpResponse r = c.read_response();
    switch (i % 4) {
      case 0:
        EXPECT_EQ(r.body, "Hello, World!") << i;
        break;
      case 1:
        EXPECT_EQ(r.body, R"({"message":"Hello, World!"})") << i;
        break;
      case 2:
        EXPECT_EQ(r.body, "ok") << i;
        break;
      case 3:
        EXPECT_EQ(r.status, 404) << i;
        break;
    }
  }
  EXPECT_TRUE(c.buffered().empty());
}

TEST_F(DefaultServer, PipelinedStreamLargerThanTheReadBuffer) {
  // 12 requests of ~3 KiB in one send (~36 KiB): the read buffer fills in the middle of a
  // request after some complete ones; every request must still be answered, in order.
  const std::vector<std::string> paths = {"/plaintext", "/json", "/health"};
  const std::vector<std::string> bodies = {"Hello, World!", R"({"message":"Hello, World!"})", "ok"};
  const std::string pad = "X-Pad: " + std::string(3000, 'p') + "\r\n";
  std::string batch;
  for (int i = 0; i < 12; ++i) batch += get(paths[i % 3], pad);
  RawClient c(server_.port());
  c.send(batch);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(c.read_response().body, bodies[i % 3]) << i;
  c.send(get("/plaintext"));
  EXPECT_EQ(c.read_response().status, 200);
}

TEST_F(DefaultServer, HeadHasGetHeadersAndNoBody) {
  RawClient c(server_.port());
  c.send(get("/plaintext"));
  HttpResponse full = c.read_response();
  // HEAD then GET in one send: the GET's status line must follow the HEAD's blank line at once.
  c.send(request("HEAD", "/plaintext") + get("/json"));
  HttpResponse head = c.read_response(/*no_body=*/true);
  HttpResponse next = c.read_response();
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(without_date(head), without_date(full));
  EXPECT_EQ(head.header("Content-Length"), "13");
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(head.raw.substr(head.raw.size() - 4), "\r\n\r\n");
  EXPECT_EQ(next.raw.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << next.raw;
  EXPECT_EQ(next.body, R"({"message":"Hello, World!"})");
  EXPECT_TRUE(c.buffered().empty());
}

TEST_F(DefaultServer, HeadOnJsonAndNotFound) {
  RawClient c(server_.port());
  c.send(request("HEAD", "/json") + request("HEAD", "/missing") + get("/health"));
  HttpResponse json = c.read_response(true);
  HttpResponse missing = c.read_response(true);
  HttpResponse health = c.read_response();
  EXPECT_EQ(json.status, 200);
  EXPECT_EQ(json.header("Content-Length"), "27");
  EXPECT_EQ(json.header("Content-Type"), "application/json");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok");
}

TEST_F(DefaultServer, NotFound) {
  RawClient c(server_.port());
  c.send(get("/does/not/exist"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.header("Content-Length"), std::to_string(r.body.size()));
  EXPECT_EQ(r.header("Server"), "lithe");
  EXPECT_TRUE(r.has_header("Date"));
  // A 404 from routing is not a protocol error: the connection stays usable.
  c.send(get("/plaintext"));
  EXPECT_EQ(c.read_response().status, 200);
}

TEST_F(DefaultServer, MethodNotAllowedListsAllow) {
  RawClient c(server_.port());
  c.send(request("POST", "/plaintext", "Content-Length: 0\r\n"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "GET, HEAD");
  c.send(request("DELETE", "/json"));
  HttpResponse d = c.read_response();
  EXPECT_EQ(d.status, 405);
  EXPECT_EQ(d.header("Allow"), "GET, HEAD");
}

TEST_F(DefaultServer, OptionsOnRoutedPath) {
  RawClient c(server_.port());
  c.send(request("OPTIONS", "/plaintext"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 204);
  ASSERT_TRUE(r.has_header("Allow"));
  EXPECT_EQ(split_list(*r.header("Allow")), (std::set<std::string>{"GET", "HEAD", "OPTIONS"}));
  EXPECT_FALSE(r.has_header("Content-Length"));  // RFC 9110 §8.6: never in a 204
  EXPECT_TRUE(r.body.empty());
  c.send(get("/plaintext"));  // no stray body bytes between the two
  EXPECT_EQ(c.read_response().body, "Hello, World!");
}

TEST_F(DefaultServer, OptionsOnUnknownPathIs404) {
  RawClient c(server_.port());
  c.send(request("OPTIONS", "/nowhere"));
  EXPECT_EQ(c.read_response().status, 404);
}

TEST_F(DefaultServer, OptionsAsterisk) {
  RawClient c(server_.port());
  c.send(request("OPTIONS", "*"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 204);
  ASSERT_TRUE(r.has_header("Allow"));
  EXPECT_EQ(split_list(*r.header("Allow")), (std::set<std::string>{"GET", "HEAD", "OPTIONS"}));
  c.send(get("/plaintext"));
  EXPECT_EQ(c.read_response().status, 200);
}

TEST_F(DefaultServer, ConnectionCloseClosesAfterResponse) {
  RawClient c(server_.port());
  c.send(get("/plaintext", "Connection: close\r\n"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "Hello, World!");
  EXPECT_EQ(r.header("Connection"), "close");
  EXPECT_TRUE(c.is_closed());
}

TEST_F(DefaultServer, ConnectionCloseIgnoresPipelinedRest) {
  RawClient c(server_.port());
  c.send(get("/plaintext", "Connection: close\r\n") + get("/json"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.header("Connection"), "close");
  EXPECT_EQ(c.read_until_close(), "");  // nothing for the request after the close
}

TEST_F(DefaultServer, Http10WithoutKeepAliveCloses) {
  RawClient c(server_.port());
  c.send("GET /plaintext HTTP/1.0\r\n\r\n");
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "Hello, World!");
  EXPECT_NE(r.header("Connection"), "keep-alive");
  EXPECT_TRUE(c.is_closed());
}

TEST_F(DefaultServer, Http10KeepAliveStaysOpen) {
  RawClient c(server_.port());
  c.send("GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Connection"), "keep-alive");
  EXPECT_EQ(r.body, "Hello, World!");
  // Still open: a second request on the same socket is answered.
  c.send("GET /json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  HttpResponse r2 = c.read_response();
  EXPECT_EQ(r2.status, 200);
  EXPECT_EQ(r2.header("Connection"), "keep-alive");
  EXPECT_EQ(r2.body, R"({"message":"Hello, World!"})");
  // An HTTP/1.0 request without keep-alive then ends it.
  c.send("GET /health HTTP/1.0\r\n\r\n");
  EXPECT_EQ(c.read_response().body, "ok");
  EXPECT_TRUE(c.is_closed());
}

TEST_F(DefaultServer, HalfClosedClientStillGetsResponses) {
  RawClient c(server_.port());
  c.send(get("/plaintext") + get("/json"));
  c.shutdown_write();
  EXPECT_EQ(c.read_response().body, "Hello, World!");
  EXPECT_EQ(c.read_response().body, R"({"message":"Hello, World!"})");
  EXPECT_TRUE(c.is_closed());
}

TEST_F(DefaultServer, ManyConnectionsAtOnce) {
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 32; ++i) clients.push_back(std::make_unique<RawClient>(server_.port()));
  for (auto& c : clients) c->send(get("/plaintext") + get("/json"));
  for (auto& c : clients) {
    EXPECT_EQ(c->read_response().body, "Hello, World!");
    EXPECT_EQ(c->read_response().body, R"({"message":"Hello, World!"})");
  }
}

// ---------------------------------------------------------------------------------------------
// Protocol errors

TEST_F(DefaultServer, MalformedRequestLineIs400AndCloses) {
  RawClient c(server_.port());
  c.send("GARBAGE\r\n\r\n");
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.header("Connection"), "close");
  EXPECT_EQ(r.header("Content-Length"), std::to_string(r.body.size()));
  EXPECT_TRUE(c.is_closed());
}

TEST_F(DefaultServer, NothingAfterARejectedRequestIsRead) {
  RawClient c(server_.port());
  // A valid request, a malformed one, then one more valid request: exactly two responses.
  c.send(get("/plaintext") + "GET /json HTTP/1.1\r\nHost: test\r\nBad Header: x\r\n\r\n" +
         get("/health"));
  HttpResponse ok = c.read_response();
  HttpResponse bad = c.read_response();
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.header("Connection"), "close");
  EXPECT_EQ(c.read_until_close(), "");
}

TEST_F(DefaultServer, Http2VersionIs505) {
  RawClient c(server_.port());
  c.send("GET /plaintext HTTP/2.0\r\nHost: test\r\n\r\n");
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 505);
  EXPECT_EQ(r.header("Connection"), "close");
  EXPECT_TRUE(c.is_closed());
}

TEST_F(DefaultServer, LargeHeaderSplitAcrossSends) {
  const std::string value(12 * 1024, 'v');
  const std::string req = get("/plaintext", "X-Big: " + value + "\r\n");
  RawClient c(server_.port());
  // Several segments; the pauses only make it likely that the server reads the head in pieces.
  const std::size_t piece = req.size() / 7 + 1;
  for (std::size_t at = 0; at < req.size(); at += piece) {
    c.send(std::string_view(req).substr(at, piece));
    std::this_thread::sleep_for(2ms);
  }
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "Hello, World!");
  c.send(get("/json"));
  EXPECT_EQ(c.read_response().status, 200);
}

// ---------------------------------------------------------------------------------------------
// Lifecycle (embedding API)

TEST(Lifecycle, StopRightAfterBindReturns) {
  // server.stop() from another thread as soon as wait_bound() has returned must make run()
  // return. The race window is narrow, so every thread here (the server's inherit this
  // thread's mask) shares one CPU, which makes preemption inside it likely. A run() that hangs
  // is leaked with its thread, so the test fails instead of hanging.
  cpu_set_t saved;
  ASSERT_EQ(::sched_getaffinity(0, sizeof(saved), &saved), 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &saved)) {
      CPU_SET(cpu, &one);
      break;
    }
  }
  ASSERT_EQ(::sched_setaffinity(0, sizeof(one), &one), 0);
  std::string failure;
  for (int i = 0; i < 1000 && failure.empty(); ++i) {
    lithe::Config config = lithe::parse_config(default_config(), "test.toml");
    config.server.listen =
        lithe::parse_config("[server]\nlisten = [\"127.0.0.1:0\"]\n", "l.toml").server.listen;
    auto* server = new lithe::Server(std::move(config));
    struct Done {
      std::mutex m;
      std::condition_variable cv;
      bool done = false;
    };
    auto done = std::make_shared<Done>();
    std::thread t([server, done] {
      server->run();
      std::lock_guard lock(done->m);
      done->done = true;
      done->cv.notify_all();
    });
    if (server->wait_bound().empty()) failure = "the server did not bind";
    server->stop();
    std::unique_lock lock(done->m);
    if (!done->cv.wait_for(lock, 10s, [&] { return done->done; })) {
      t.detach();  // the server and its thread are leaked on purpose
      failure = "run() did not return within 10s of stop() (iteration " + std::to_string(i) +
                "): it deadlocks when stop() comes between mark_bound() and its stop check";
      break;
    }
    lock.unlock();
    t.join();
    delete server;
  }
  ::sched_setaffinity(0, sizeof(saved), &saved);
  EXPECT_EQ(failure, "");
}

// Every descriptor the server opened is closed once it has stopped: its listeners, its loop's,
// and those of the connections still open at the stop, idle or half-way through a request.
// (With io_uring a connection's descriptor is closed by an entry on the ring.)
TEST(Lifecycle, StopClosesEveryDescriptor) {
  const auto open_descriptors = [] {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
  };
  const std::size_t before = open_descriptors();
  std::vector<std::unique_ptr<RawClient>> clients;
  {
    TestServer server(default_config());
    for (int i = 0; i < 3; ++i) {  // idle, after a response
      clients.push_back(std::make_unique<RawClient>(server.port()));
      clients.back()->send(get("/plaintext"));
      EXPECT_EQ(clients.back()->read_response().status, 200);
    }
    for (int i = 0; i < 3; ++i) {  // half a request head
      clients.push_back(std::make_unique<RawClient>(server.port()));
      clients.back()->send("GET /plaintext HTTP/1.1\r\nHost: x\r\n");
    }
    // Those six were accepted before this one, which is answered.
    RawClient last(server.port());
    last.send(get("/plaintext"));
    EXPECT_EQ(last.read_response().status, 200);
  }  // stops the server and waits for run() to return
  for (auto& c : clients) EXPECT_TRUE(c->is_closed()) << "a connection outlived the server";
  EXPECT_EQ(open_descriptors(), before + clients.size());
  clients.clear();
  EXPECT_EQ(open_descriptors(), before);
}

// ---------------------------------------------------------------------------------------------
// Custom configs

constexpr const char* kRoutesConfig = R"(
[[route]]
path = "/things"
methods = ["POST"]
handler = "static"
body = "posted"

[[route]]
path = "/things"
methods = ["GET"]
handler = "static"
body = "listed"

[[route]]
path = "/files/*rest"
handler = "static"
body = "wildcard"

[[route]]
path = "/users/{id}"
handler = "static"
body = "param"

[[route]]
path = "/users/me"
handler = "static"
body = "exact"

[[route]]
path = "/users/{id}/posts"
handler = "static"
body = "param-posts"

[[route]]
path = "/x/*rest"
handler = "static"
body = "x-wildcard"

[[route]]
path = "/x/{id}"
handler = "static"
body = "x-param"

[[route]]
path = "/x/{id}/y"
handler = "static"
body = "x-param-y"
)";

TEST(CustomRoutes, AllowListsEveryMethodOfThePath) {
  TestServer server(kRoutesConfig);
  RawClient c(server.port());
  c.send(request("POST", "/things", "Content-Length: 0\r\n"));
  HttpResponse post = c.read_response();
  EXPECT_EQ(post.status, 200);
  EXPECT_EQ(post.body, "posted");
  c.send(get("/things"));
  EXPECT_EQ(c.read_response().body, "listed");
  c.send(request("PUT", "/things", "Content-Length: 0\r\n"));
  HttpResponse put = c.read_response();
  EXPECT_EQ(put.status, 405);
  ASSERT_TRUE(put.has_header("Allow"));
  EXPECT_EQ(split_list(*put.header("Allow")), (std::set<std::string>{"GET", "HEAD", "POST"}));
  c.send(request("OPTIONS", "/things"));
  HttpResponse options = c.read_response();
  EXPECT_EQ(options.status, 204);
  EXPECT_EQ(split_list(*options.header("Allow")),
            (std::set<std::string>{"GET", "HEAD", "POST", "OPTIONS"}));
  c.send(request("OPTIONS", "*"));
  HttpResponse star = c.read_response();
  EXPECT_EQ(star.status, 204);
  EXPECT_EQ(split_list(*star.header("Allow")),
            (std::set<std::string>{"GET", "HEAD", "POST", "OPTIONS"}));
}

TEST(CustomRoutes, PrecedenceExactThenParamThenWildcard) {
  TestServer server(kRoutesConfig);
  RawClient c(server.port());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/users/me", "exact"},
      {"/users/42", "param"},
      {"/users/me/posts", "param-posts"},  // backtracks from the exact "me" branch
      {"/users/42/posts", "param-posts"},
      {"/files/a", "wildcard"},
      {"/files/a/b/c.txt", "wildcard"},
      {"/x/1", "x-param"},
      {"/x/1/y", "x-param-y"},
      {"/x/1/z", "x-wildcard"},
      {"/x/1/y/z", "x-wildcard"},
      {"/users/42?q=1", "param"},
  };
  for (const auto& [path, body] : cases) {
    c.send(get(path));
    HttpResponse r = c.read_response();
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.body, body) << path;
  }
  c.send(get("/users/42/comments"));
  EXPECT_EQ(c.read_response().status, 404);
  c.send(get("/users"));
  EXPECT_EQ(c.read_response().status, 404);
}

TEST(CustomRoutes, StaticBodySubstitutesPathParam) {
  // SPEC §3: "{name} in body is replaced by that path parameter (percent-decoded, then escaped
  // for the content type)".
  TestServer server(R"(
[[route]]
path = "/greet/{name}"
handler = "static"
body = "hi {name}"
)");
  RawClient c(server.port());
  c.send(get("/greet/bob%20jr"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hi bob jr");
  EXPECT_EQ(r.header("Content-Length"), std::to_string(r.body.size()));
}

TEST(CustomConfig, EmptyServerHeaderOmitsServer) {
  TestServer server(R"(
[server]
server_header = ""

[[route]]
path = "/plaintext"
handler = "static"
body = "Hello, World!"

[[route]]
path = "/j"
handler = "json"
value = [1]
)");
  RawClient c(server.port());
  c.send(get("/plaintext") + get("/j") + get("/missing") + request("POST", "/plaintext"));
  for (int status : {200, 200, 404, 405}) {
    HttpResponse r = c.read_response();
    EXPECT_EQ(r.status, status);
    EXPECT_FALSE(r.has_header("Server")) << r.head();
    EXPECT_TRUE(r.has_header("Date")) << r.head();
  }
  c.send("BAD\r\n\r\n");
  HttpResponse bad = c.read_response();
  EXPECT_EQ(bad.status, 400);
  EXPECT_FALSE(bad.has_header("Server")) << bad.head();
}

TEST(CustomConfig, CustomServerHeader) {
  TestServer server(R"(
[server]
server_header = "edge/1.0"

[[route]]
path = "/"
handler = "static"
body = "x"
)");
  RawClient c(server.port());
  c.send(get("/") + get("/missing"));
  EXPECT_EQ(c.read_response().header("Server"), "edge/1.0");
  EXPECT_EQ(c.read_response().header("Server"), "edge/1.0");
}

TEST(CustomConfig, JsonNestedValues) {
  TestServer server(R"(
[[route]]
path = "/data"
handler = "json"

[route.value]
name = "lithe \"q\"\n"
list = [1, [2, 3], []]
table = { f = 1.5, g = -0.25, t = true, u = false }
items = [{ id = 1 }, { id = 2 }]
empty = {}
)");
  RawClient c(server.port());
  c.send(get("/data"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_EQ(r.body, R"({"name":"lithe \"q\"\n","list":[1,[2,3],[]],)"
                    R"("table":{"f":1.5,"g":-0.25,"t":true,"u":false},)"
                    R"("items":[{"id":1},{"id":2}],"empty":{}})");
  EXPECT_EQ(r.header("Content-Length"), std::to_string(r.body.size()));
}

TEST(CustomConfig, JsonStatusAndHeaders) {
  TestServer server(R"(
[[route]]
path = "/made"
handler = "json"
status = 202
value = [true, 3]
headers = { X-Kind = "json" }
)");
  RawClient c(server.port());
  c.send(get("/made"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.reason, "Accepted");
  EXPECT_EQ(r.body, "[true,3]");
  EXPECT_EQ(r.header("X-Kind"), "json");
}

TEST(CustomConfig, StaticStatusContentTypeAndHeaders) {
  TestServer server(R"(
[[route]]
path = "/created"
methods = ["GET", "POST"]
handler = "static"
status = 201
content_type = "text/html; charset=utf-8"
body = "<p>made</p>"
headers = { X-Custom = "yes", Cache-Control = "no-store" }

[[route]]
path = "/nothing"
handler = "static"
status = 204
)");
  RawClient c(server.port());
  c.send(get("/created"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.reason, "Created");
  EXPECT_EQ(r.body, "<p>made</p>");
  EXPECT_EQ(r.header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(r.header("Content-Length"), "11");
  EXPECT_EQ(r.header("X-Custom"), "yes");
  EXPECT_EQ(r.header("Cache-Control"), "no-store");
  EXPECT_EQ(r.header("Server"), "lithe");
  EXPECT_TRUE(r.has_header("Date"));
  c.send(request("POST", "/created", "Content-Length: 4\r\n") + "abcd");
  EXPECT_EQ(c.read_response().status, 201);  // the unread body is drained, keep-alive goes on
  c.send(get("/nothing") + get("/created"));
  HttpResponse none = c.read_response();
  EXPECT_EQ(none.status, 204);
  EXPECT_FALSE(none.has_header("Content-Length"));
  EXPECT_FALSE(none.has_header("Content-Type"));
  EXPECT_EQ(c.read_response().status, 201);  // nothing between the 204's head and this
}

// ---------------------------------------------------------------------------------------------
// Handlers registered from C++

constexpr const char* kCppConfig = R"(
[[route]]
path = "/hello/{name}"
handler = "hello"

[[route]]
path = "/boom"
handler = "boom"

[[route]]
path = "/boom-late"
handler = "boom_after_filling"

[[route]]
path = "/headers"
handler = "header_info"

[[route]]
path = "/plaintext"
handler = "static"
body = "Hello, World!"
)";

void register_cpp_handlers(lithe::Server& s) {
  s.handle("hello", [](const lithe::Request& req, lithe::Response& res) {
    res.text(fmt::format("hello {}", req.param("name")));
  });
  s.handle("boom",
           [](const lithe::Request&, lithe::Response&) { throw std::runtime_error("boom"); });
  s.handle("boom_after_filling", [](const lithe::Request&, lithe::Response& res) {
    res.status(201).header("X-Partial", "1");
    res.text("partial");
    throw 42;  // not even an exception type
  });
  // Reports what arrived in X-Big: its length and a checksum, to check big or split heads.
  s.handle("header_info", [](const lithe::Request& req, lithe::Response& res) {
    std::string_view v = req.header("x-big");
    unsigned long sum = 0;
    for (unsigned char ch : v) sum = sum * 31 + ch;
    res.header("X-Method", req.method());
    res.text(fmt::format("{} {} {}", v.size(), sum, req.query()));
  });
}

std::string checksum_text(std::string_view v, std::string_view query) {
  unsigned long sum = 0;
  for (unsigned char ch : v) sum = sum * 31 + ch;
  return fmt::format("{} {} {}", v.size(), sum, query);
}

TEST(CppHandlers, HandlerReadsParamAndWritesText) {
  TestServer server(kCppConfig, register_cpp_handlers);
  RawClient c(server.port());
  c.send(get("/hello/world"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello world");
  EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(r.header("Content-Length"), "11");
  EXPECT_EQ(r.header("Server"), "lithe");
  EXPECT_TRUE(r.has_header("Date"));
  c.send(get("/hello/w%C3%B6rld%21"));  // params arrive percent-decoded
  EXPECT_EQ(c.read_response().body, "hello w\xC3\xB6rld!");
  c.send(request("HEAD", "/hello/x") + get("/hello/y"));
  HttpResponse head = c.read_response(true);
  EXPECT_EQ(head.header("Content-Length"), "7");
  EXPECT_EQ(c.read_response().body, "hello y");
}

TEST(CppHandlers, PipelinedHandlerResponsesKeepTheirBodies) {
  // Each body lives in the request's arena: responses batched together must not share bytes.
  TestServer server(kCppConfig, register_cpp_handlers);
  RawClient c(server.port());
  std::string batch;
  for (int i = 0; i < 30; ++i) batch += get("/hello/n" + std::to_string(i));
  c.send(batch);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(c.read_response().body, "hello n" + std::to_string(i));
}

TEST(CppHandlers, ThrowingHandlerIs500AndConnectionLivesOn) {
  TestServer server(kCppConfig, register_cpp_handlers);
  RawClient c(server.port());
  c.send(get("/boom"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.header("Connection"), "close");
  c.send(get("/hello/again"));
  HttpResponse next = c.read_response();
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body, "hello again");
  // A handler that filled in a response and then threw a non-exception: a clean 500.
  c.send(get("/boom-late") + get("/plaintext"));
  HttpResponse late = c.read_response();
  EXPECT_EQ(late.status, 500);
  EXPECT_FALSE(late.has_header("X-Partial"));
  EXPECT_EQ(late.body.find("partial"), std::string::npos);
  EXPECT_EQ(c.read_response().body, "Hello, World!");
}

TEST(CppHandlers, LargeHeaderArrivesIntact) {
  TestServer server(kCppConfig, register_cpp_handlers);
  std::string value;
  for (int i = 0; i < 12 * 1024; ++i) value.push_back(static_cast<char>('a' + i % 26));
  const std::string req = get("/headers?split", "X-Big: " + value + "\r\n");
  RawClient c(server.port());
  const std::size_t piece = 1000;
  for (std::size_t at = 0; at < req.size(); at += piece) {
    c.send(std::string_view(req).substr(at, piece));
    std::this_thread::sleep_for(1ms);  // a pause so the server sees the head in pieces
  }
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, checksum_text(value, "split"));
  EXPECT_EQ(r.header("X-Method"), "GET");
}

TEST(CppHandlers, PipelinedHeadsLargerThanTheReadBuffer) {
  // 24 requests of ~3 KiB each in one send: ~72 KiB, more than one read buffer, so requests
  // straddle buffer refills and get moved to the buffer's front while half-parsed.
  TestServer server(kCppConfig, register_cpp_handlers);
  std::vector<std::string> values;
  std::string batch;
  for (int i = 0; i < 24; ++i) {
    std::string v(3000 + static_cast<std::size_t>(i) * 37, static_cast<char>('A' + i));
    v[0] = static_cast<char>('a' + i);
    values.push_back(v);
    batch += get("/headers?n=" + std::to_string(i), "X-Big: " + v + "\r\n");
  }
  RawClient c(server.port());
  c.send(batch);
  for (int i = 0; i < 24; ++i) {
    HttpResponse r = c.read_response();
    EXPECT_EQ(r.status, 200) << i;
    EXPECT_EQ(r.body, checksum_text(values[static_cast<std::size_t>(i)], "n=" + std::to_string(i)))
        << i;
  }
}

}  // namespace
}  // namespace lithe::test
