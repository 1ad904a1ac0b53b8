// Asynchronous handlers (lithe::Responder): answers sent later from the worker loop, in request
// order with pipelined neighbours; throws, dropped responders and clients that go away first.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "harness.hpp"

namespace lithe::test {
namespace {

constexpr const char* kAsyncConfig = R"(
[[route]]
path = "/later/{name}"
handler = "later"

[[route]]
path = "/parked"
handler = "parked"

[[route]]
path = "/now"
handler = "send_now"

[[route]]
path = "/throws"
handler = "throws_after_defer"

[[route]]
path = "/dropped"
handler = "dropped"

[[route]]
path = "/hello/{name}"
handler = "hello"

[[route]]
path = "/slow"
handler = "parked"
timeout = "300ms"

[[route]]
path = "/metrics"
handler = "metrics"
)";

// Responders parked by the "parked" handler, for the test thread to answer or watch.
struct Mailbox {
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<lithe::Responder> parked;
  int cancelled = 0;

  lithe::Responder wait_parked() {
    std::unique_lock lock(mutex);
    if (!cv.wait_for(lock, io_timeout, [this] { return !parked.empty(); }))
      throw std::runtime_error("no request was parked");
    lithe::Responder r = std::move(parked.front());
    parked.pop_front();
    return r;
  }
  void wait_cancelled(int n) {
    std::unique_lock lock(mutex);
    if (!cv.wait_for(lock, io_timeout, [&] { return cancelled >= n; }))
      throw std::runtime_error("the responder was not cancelled");
  }
};

// Runs fn on the responder's loop and waits for it to finish.
void on_loop(lithe::Responder& r, const std::function<void()>& fn) {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  boost::asio::post(r.io(), [&] {
    fn();
    std::lock_guard lock(m);
    done = true;
    cv.notify_all();
  });
  std::unique_lock lock(m);
  if (!cv.wait_for(lock, io_timeout, [&] { return done; })) throw std::runtime_error("loop stuck");
}

void register_async(lithe::Server& s, Mailbox& box) {
  s.handle_async("later", [](const lithe::Request& req, lithe::Responder r) {
    // Own async work on the same loop: a timer. The request's views stay valid until send().
    auto timer = std::make_shared<boost::asio::steady_timer>(r.io(), std::chrono::milliseconds(5));
    timer->async_wait([timer, r](const boost::system::error_code&) mutable {
      r.response().header("X-Async", "1");
      r.response().text(fmt::format("later {} {}", r.request().param("name"), r.request().query()));
      r.send();
    });
    (void)req;
  });
  s.handle_async("parked", [&box](const lithe::Request&, lithe::Responder r) {
    r.on_cancel([&box] {
      std::lock_guard lock(box.mutex);
      ++box.cancelled;
      box.cv.notify_all();
    });
    std::lock_guard lock(box.mutex);
    box.parked.push_back(std::move(r));
    box.cv.notify_all();
  });
  s.handle_async("send_now", [](const lithe::Request&, lithe::Responder r) {
    r.response().status(201);
    r.response().text("sent inside the handler");
    r.send();
  });
  s.handle_async("throws_after_defer", [](const lithe::Request&, lithe::Responder r) {
    r.response().text("never seen");
    throw std::runtime_error("async boom");
  });
  s.handle_async("dropped", [](const lithe::Request&, lithe::Responder) {});
  s.handle("hello", [](const lithe::Request& req, lithe::Response& res) {
    res.text(fmt::format("hello {}", req.param("name")));
  });
}

class AsyncHandlers : public ::testing::Test {
 protected:
  Mailbox box;
  TestServer server{kAsyncConfig, [this](lithe::Server& s) { register_async(s, box); }};
};

TEST_F(AsyncHandlers, AnswersAfterATimer) {
  RawClient c(server.port());
  c.send(get("/later/w%C3%B6rld?x=1"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "later w\xC3\xB6rld x=1");
  EXPECT_EQ(r.header("X-Async"), "1");
  EXPECT_EQ(r.header("Content-Length"), std::to_string(r.body.size()));
  c.send(get("/later/again"));  // keep-alive goes on
  EXPECT_EQ(c.read_response().body, "later again ");
}

TEST_F(AsyncHandlers, PipelinedResponsesKeepRequestOrder) {
  RawClient c(server.port());
  c.send(get("/hello/a") + get("/later/b") + get("/hello/c") + get("/later/d") + get("/hello/e"));
  EXPECT_EQ(c.read_response().body, "hello a");
  EXPECT_EQ(c.read_response().body, "later b ");
  EXPECT_EQ(c.read_response().body, "hello c");
  EXPECT_EQ(c.read_response().body, "later d ");
  EXPECT_EQ(c.read_response().body, "hello e");
}

TEST_F(AsyncHandlers, NothingIsAnsweredBeforeTheParkedResponse) {
  RawClient c(server.port());
  c.send(get("/parked") + get("/hello/after"));
  lithe::Responder r = box.wait_parked();
  EXPECT_FALSE(c.is_closed(50ms));  // nothing arrives while the handler holds the request
  EXPECT_TRUE(c.buffered().empty());
  on_loop(r, [&] {
    EXPECT_TRUE(r.active());
    EXPECT_EQ(r.request().path(), "/parked");
    r.response().status(202);
    r.response().text("answered from the test");
    r.send();
    EXPECT_FALSE(r.active());
    r.send();  // a second send is a no-op
  });
  HttpResponse first = c.read_response();
  EXPECT_EQ(first.status, 202);
  EXPECT_EQ(first.body, "answered from the test");
  EXPECT_EQ(c.read_response().body, "hello after");
}

TEST_F(AsyncHandlers, SendInsideTheHandlerIsAnOrdinaryResponse) {
  RawClient c(server.port());
  c.send(get("/now") + get("/now"));
  for (int i = 0; i < 2; ++i) {
    HttpResponse r = c.read_response();
    EXPECT_EQ(r.status, 201);
    EXPECT_EQ(r.body, "sent inside the handler");
  }
}

TEST_F(AsyncHandlers, ThrowAfterDeferringIs500AndConnectionLivesOn) {
  RawClient c(server.port());
  c.send(get("/throws"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body.find("never seen"), std::string::npos);
  c.send(get("/hello/still"));
  EXPECT_EQ(c.read_response().body, "hello still");
}

TEST_F(AsyncHandlers, DroppedResponderIs500) {
  RawClient c(server.port());
  c.send(get("/dropped") + get("/hello/next"));
  EXPECT_EQ(c.read_response().status, 500);
  EXPECT_EQ(c.read_response().body, "hello next");
}

TEST_F(AsyncHandlers, HalfClosedClientStillGetsTheLateAnswer) {
  RawClient c(server.port());
  c.send(get("/parked"));
  c.shutdown_write();
  lithe::Responder r = box.wait_parked();
  on_loop(r, [&] {
    r.response().text("late");
    r.send();
  });
  EXPECT_EQ(c.read_response().body, "late");
  EXPECT_TRUE(c.is_closed());
}

TEST_F(AsyncHandlers, ClientResetCancelsTheResponder) {
  lithe::Responder r;
  {
    RawClient c(server.port());
    c.send(get("/parked"));
    r = box.wait_parked();
    c.reset();
  }
  box.wait_cancelled(1);
  on_loop(r, [&] {
    EXPECT_FALSE(r.active());
    r.response().text("nobody listens");  // a scratch response: harmless
    r.send();                             // no-op
  });
  RawClient next(server.port());  // the server goes on
  next.send(get("/hello/fine"));
  EXPECT_EQ(next.read_response().body, "hello fine");
}

// timeouts.handler / a route's timeout: no answer begun by then is a 504 in the request's place,
// the handler's cancel callback runs once, its late send() does nothing, and the connection and
// the requests pipelined behind it go on.
TEST_F(AsyncHandlers, NoAnswerByTheRoutesTimeoutIs504AndTheConnectionGoesOn) {
  RawClient c(server.port());
  c.send(get("/slow") + get("/hello/behind"));
  lithe::Responder r = box.wait_parked();
  HttpResponse timed_out = c.read_response();  // the route's 300 ms, well within io_timeout
  EXPECT_EQ(timed_out.status, 504);
  EXPECT_EQ(timed_out.body, "Gateway Timeout");
  EXPECT_FALSE(timed_out.has_header("Connection"));  // kept alive
  EXPECT_EQ(c.read_response().body, "hello behind");
  box.wait_cancelled(1);
  on_loop(r, [&] {
    EXPECT_FALSE(r.active());
    r.response().text("too late");
    r.send();  // a no-op
  });
  c.send(get("/hello/again"));
  EXPECT_EQ(c.read_response().body, "hello again");  // nothing from the late answer before it
  {
    std::lock_guard lock(box.mutex);
    EXPECT_EQ(box.cancelled, 1);  // once
  }

  RawClient m(server.port());
  m.send(get("/metrics"));
  const std::string metrics = m.read_response().body;
  EXPECT_NE(metrics.find("lithe_handler_timeouts_total{route=\"/slow\"} 1\n"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("lithe_requests_total{route=\"/slow\",code=\"504\"} 1\n"),
            std::string::npos)
      << metrics;
}

TEST(AsyncHandlersStop, StopCancelsParkedResponders) {
  Mailbox box;
  auto server = std::make_unique<TestServer>(kAsyncConfig,
                                             [&box](lithe::Server& s) { register_async(s, box); });
  RawClient c(server->port());
  c.send(get("/parked"));
  lithe::Responder r = box.wait_parked();
  server.reset();  // stop() closes the connection: the responder hears of it
  box.wait_cancelled(1);
  EXPECT_FALSE(r.active());
}

}  // namespace
}  // namespace lithe::test
