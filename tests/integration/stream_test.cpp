// Streamed responses (SPEC §9) as a client sees them on the wire: chunked framing on HTTP/1.1,
// close-delimited on 1.0, the head only for HEAD, pipelined requests answered after the stream,
// abort and client reset, backpressure, server-sent events with heartbeats, and the end of a
// graceful stop.
#include "lithe/stream.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "harness.hpp"

namespace lithe::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kConfig = R"(
[limits]
stream_buffer = "64KiB"

[timeouts]
shutdown = "300ms"

[[route]]
path = "/inline"
handler = "inline"
methods = ["GET", "HEAD"]

[[route]]
path = "/later"
handler = "later"

[[route]]
path = "/aborted"
handler = "aborted"

[[route]]
path = "/endless"
handler = "endless"

[[route]]
path = "/bulk"
handler = "bulk"

[[route]]
path = "/events"
handler = "events"
heartbeat = "50ms"

[[route]]
path = "/deferred"
handler = "deferred"
timeout = "100ms"

[[route]]
path = "/plain"
handler = "static"
body = "plain"

[[route]]
path = "/metrics"
handler = "metrics"
)";

// What the handlers report to the test thread.
struct Observed {
  std::promise<void> cancelled;
  std::atomic<int> cancels{0};
  std::promise<void> blocked;  // the bulk producer met backpressure
  std::atomic<bool> blocked_once{false};
  std::atomic<std::size_t> max_buffered{0};
  std::promise<void> drained;
  std::atomic<bool> drained_once{false};
};

// Sends `total` bytes of a known pattern in 16 KiB pieces as fast as the stream takes them.
struct Bulk : std::enable_shared_from_this<Bulk> {
  static constexpr std::size_t piece = 16 * 1024;
  static constexpr std::size_t total = 8 * 1024 * 1024;
  lithe::Stream stream;
  Observed* seen;
  std::size_t sent = 0;

  void pump() {
    while (sent < total) {
      std::string bytes(piece, static_cast<char>('a' + (sent / piece) % 26));
      sent += piece;
      const bool more = stream.write(bytes);
      std::size_t b = stream.buffered();
      if (b > seen->max_buffered) seen->max_buffered = b;
      if (!more) {
        if (!seen->blocked_once.exchange(true)) seen->blocked.set_value();
        stream.on_writable([self = shared_from_this()] { self->pump(); });
        return;
      }
    }
    stream.end();
  }
};

std::string bulk_expected() {
  std::string s;
  for (std::size_t sent = 0; sent < Bulk::total; sent += Bulk::piece)
    s.append(Bulk::piece, static_cast<char>('a' + (sent / Bulk::piece) % 26));
  return s;
}

void register_handlers(lithe::Server& s, Observed& seen) {
  s.handle("inline", [](const lithe::Request&, lithe::Response& res) {
    res.header("X-Stream", "yes");
    res.body_view({}, "text/plain");
    lithe::Stream st = res.stream();
    st.write("hello ");
    st.write("world");
    st.end();
  });
  // Pieces from timers on the loop, after the handler returned.
  s.handle("later", [](const lithe::Request&, lithe::Response& res) {
    lithe::Stream st = res.stream();
    auto timer = std::make_shared<boost::asio::steady_timer>(st.io());
    auto step = std::make_shared<std::function<void(int)>>();
    *step = [st, timer, step](int n) mutable {
      if (n == 3) {
        st.end();
        *step = nullptr;  // breaks the cycle
        return;
      }
      st.write("piece" + std::to_string(n) + ";");
      timer->expires_after(5ms);
      timer->async_wait([step, n](const boost::system::error_code&) {
        if (*step) (*step)(n + 1);
      });
    };
    (*step)(0);
  });
  s.handle("aborted", [](const lithe::Request&, lithe::Response& res) {
    lithe::Stream st = res.stream();
    st.write("partial");
    boost::asio::post(st.io(), [st]() mutable { st.abort(); });
  });
  // Writes every 2 ms until the client goes away.
  s.handle("endless", [&seen](const lithe::Request&, lithe::Response& res) {
    lithe::Stream st = res.stream();
    auto timer = std::make_shared<boost::asio::steady_timer>(st.io());
    st.on_cancel([&seen, timer] {
      timer->cancel();
      if (++seen.cancels == 1) seen.cancelled.set_value();
    });
    auto tick = std::make_shared<std::function<void()>>();
    *tick = [st, timer, tick]() mutable {
      if (!st.active()) {
        *tick = nullptr;
        return;
      }
      st.write("tick\n");
      timer->expires_after(2ms);
      timer->async_wait([tick](const boost::system::error_code& ec) {
        if (!ec && *tick) (*tick)();
        if (ec && *tick) *tick = nullptr;
      });
    };
    (*tick)();
  });
  s.handle("bulk", [&seen](const lithe::Request&, lithe::Response& res) {
    auto bulk = std::make_shared<Bulk>();
    bulk->stream = res.stream();
    bulk->seen = &seen;
    boost::asio::post(bulk->stream.io(), [bulk] { bulk->pump(); });
  });
  s.handle("events", [&seen](const lithe::Request&, lithe::Response& res) {
    lithe::EventStream events = lithe::EventStream::start(res);
    events.send("line one\nline two\r\nline three", "tick", "7");
    events.stream().on_drain([&seen] {
      if (!seen.drained_once.exchange(true)) seen.drained.set_value();
    });
    // Kept open by the loop: no handle is dropped while the stream should live.
    auto keep = std::make_shared<lithe::EventStream>(events);
    events.stream().on_cancel([keep] {});
  });
  // Deferred, then streamed after the route's 100 ms deadline would have passed: the stream
  // began in time, so no 504.
  s.handle("deferred", [](const lithe::Request&, lithe::Response& res) {
    lithe::Responder r = res.defer();
    auto timer = std::make_shared<boost::asio::steady_timer>(r.io(), 10ms);
    timer->async_wait([r, timer](const boost::system::error_code&) mutable {
      lithe::Stream st = r.response().stream();
      st.write("begun;");
      timer->expires_after(300ms);
      timer->async_wait([st, timer](const boost::system::error_code&) mutable {
        st.write("done");
        st.end();
      });
    });
  });
}

class Streams : public ::testing::Test {
 protected:
  Observed seen;
  TestServer server{kConfig, [this](lithe::Server& s) { register_handlers(s, seen); }};
};

TEST_F(Streams, AHandlerWritesChunksAndEndsThenTheConnectionGoesOn) {
  RawClient c(server.port());
  c.send(get("/inline"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Transfer-Encoding"), "chunked");
  EXPECT_FALSE(r.has_header("Content-Length"));
  EXPECT_EQ(r.header("X-Stream"), "yes");
  EXPECT_EQ(r.header("Content-Type"), "text/plain");
  EXPECT_EQ(r.body, "hello world");
  EXPECT_NE(r.raw.find("\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"), std::string::npos);
  c.send(get("/plain"));
  EXPECT_EQ(c.read_response().body, "plain");
}

TEST_F(Streams, PiecesWrittenLaterComeBeforeThePipelinedRequestsAnswers) {
  RawClient c(server.port());
  c.send(get("/later") + get("/plain") + get("/inline"));
  EXPECT_EQ(c.read_response().body, "piece0;piece1;piece2;");
  EXPECT_EQ(c.read_response().body, "plain");
  EXPECT_EQ(c.read_response().body, "hello world");
}

TEST_F(Streams, HttpTenGetsACloseDelimitedBody) {
  RawClient c(server.port());
  c.send("GET /later HTTP/1.0\r\n\r\n");
  const std::string all = c.read_until_close();
  EXPECT_EQ(all.find("Transfer-Encoding"), std::string::npos);
  EXPECT_NE(all.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(all.substr(all.find("\r\n\r\n") + 4), "piece0;piece1;piece2;");
}

TEST_F(Streams, HeadGetsTheHeadOnly) {
  RawClient c(server.port());
  c.send(request("HEAD", "/inline") + get("/plain"));
  HttpResponse h = c.read_response(true);
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.header("Transfer-Encoding"), "chunked");
  EXPECT_EQ(c.read_response().body, "plain");  // nothing of a body came between
}

TEST_F(Streams, AbortClosesWithoutTheLastChunk) {
  RawClient c(server.port());
  c.send(get("/aborted"));
  const std::string all = c.read_until_close();
  EXPECT_NE(all.find("7\r\npartial\r\n"), std::string::npos);
  EXPECT_EQ(all.find("0\r\n\r\n"), std::string::npos);
}

TEST_F(Streams, AClientResetCancelsTheStreamOnce) {
  {
    RawClient c(server.port());
    c.send(get("/endless"));
    c.peek_until("tick\n");
    c.reset();
  }
  ASSERT_EQ(seen.cancelled.get_future().wait_for(5s), std::future_status::ready);
  EXPECT_EQ(seen.cancels.load(), 1);
  EXPECT_EQ(metric(scrape(server.port()), "lithe_streams_open"), 0u);
}

TEST_F(Streams, AProducerMeetsBackpressureAndResumesWhenTheClientReads) {
  RawClient c(server.port());
  c.send(get("/bulk"));
  // The client reads nothing until the producer is told to wait: without backpressure it
  // would queue all 8 MiB instead.
  ASSERT_EQ(seen.blocked.get_future().wait_for(5s), std::future_status::ready);
  EXPECT_LE(seen.max_buffered.load(), 64 * 1024 + Bulk::piece + 512);  // limit + one piece
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.body.size(), Bulk::total);
  EXPECT_TRUE(r.body == bulk_expected());
  EXPECT_EQ(metric(scrape(server.port()), "lithe_stream_bytes_total", "direction=\"out\""),
            Bulk::total);
}

TEST_F(Streams, AnEventStreamFramesEventsAndSendsHeartbeatsWhileIdle) {
  RawClient c(server.port());
  c.send(get("/events"));
  const std::string got = c.peek_until(":\n\n\r\n");  // the first heartbeat
  const std::string head = got.substr(0, got.find("\r\n\r\n") + 4);
  EXPECT_NE(head.find("Content-Type: text/event-stream\r\n"), std::string::npos);
  EXPECT_NE(head.find("Cache-Control: no-cache\r\n"), std::string::npos);
  EXPECT_NE(head.find("X-Accel-Buffering: no\r\n"), std::string::npos);
  EXPECT_NE(head.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  const std::string event =
      "event: tick\nid: 7\ndata: line one\ndata: line two\ndata: line three\n\n";
  EXPECT_NE(got.find(event), std::string::npos);
}

TEST_F(Streams, AGracefulStopDrainsThenEndsAStreamWithRetryAndTheLastChunk) {
  RawClient c(server.port());
  c.send(get("/events"));
  c.peek_until("data: line three\n\n");
  server.server().shutdown();
  ASSERT_EQ(seen.drained.get_future().wait_for(5s), std::future_status::ready);
  const std::string rest = c.read_until_close();
  EXPECT_NE(rest.find("retry: 1000\n\n\r\n0\r\n\r\n"), std::string::npos) << rest;
  EXPECT_EQ(rest.substr(rest.size() - 5), "0\r\n\r\n");
}

TEST_F(Streams, AStreamBegunBeforeTheDeadlineIsNotCutByIt) {
  RawClient c(server.port());
  c.send(get("/deferred") + get("/plain"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "begun;done");
  EXPECT_EQ(c.read_response().body, "plain");
}

// An open stream gives its request back to the pool once the handler is done with it (between
// pieces): the access log still names the request, the client behind the trusted proxy and the
// bytes of the whole stream.
TEST(StreamAccessLog, AStreamThatGaveItsRequestBackIsLoggedWhole) {
  TempDir logs;
  const auto log = logs.path() / "access.log";
  Observed seen;
  TestServer server{std::string(kConfig) + R"(
[log]
access = ")" + log.string() +
                        R"("
access_format = "json"

[proxy]
trusted = ["127.0.0.1/32"]
)",
                    [&seen](lithe::Server& s) { register_handlers(s, seen); }};
  RawClient c(server.port());
  c.send(get("/later?q=1", "User-Agent: StreamTest/1.0\r\nX-Forwarded-For: 203.0.113.9\r\n"));
  EXPECT_EQ(c.read_response().body, "piece0;piece1;piece2;");
  EXPECT_TRUE(wait_until([&] {
    const std::string text = read_file(log);
    return text.find(R"({"client":"203.0.113.9",)") != std::string::npos &&
           text.find(R"("method":"GET","target":"/later?q=1","protocol":"HTTP/1.1",)"
                     R"("status":200,"bytes":21,"bytes_received":0,)") != std::string::npos &&
           text.find(R"("user_agent":"StreamTest/1.0"})") != std::string::npos;
  })) << read_file(log);
}

// One event to more streams than the io_uring completion queue holds (8192): the sends complete
// all at once, the kernel keeps the completions that do not fit in its overflow list, and the
// worker must fetch them from there. Found by bench/load/sse.py: without that, a few hundred
// streams of 10,000 never learned that their write was done, queued every later event behind
// it, and were closed by timeouts.write. Each stream must get both events.
TEST(ManyStreams, AFanOutLargerThanTheCompletionQueueReachesEveryStreamTwice) {
  constexpr int streams = 8500;
  rlimit files{};
  ::getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &files);
  if (files.rlim_cur < 2 * streams + 500) GTEST_SKIP() << "needs " << 2 * streams + 500 << " files";

  std::vector<lithe::EventStream> feed;  // touched on the one worker's loop only
  TestServer server(R"(
[server]
workers = 1
max_connections = 20000

[[route]]
path = "/feed"
handler = "feed"

[[route]]
path = "/publish"
handler = "publish"
)",
                    [&feed](lithe::Server& s) {
                      s.handle("feed", [&feed](const lithe::Request&, lithe::Response& res) {
                        feed.push_back(lithe::EventStream::start(res));
                      });
                      s.handle("publish", [&feed](const lithe::Request& req, lithe::Response&) {
                        for (auto& e : feed) e.send(req.query());
                      });
                    });
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < streams; ++i) {
    clients.push_back(std::make_unique<RawClient>(server.port()));
    clients.back()->send(get("/feed"));
    clients.back()->peek_until("\r\n\r\n");
  }
  RawClient publisher(server.port());
  for (std::string_view event : {"first", "second"}) {
    publisher.send(get("/publish?" + std::string(event)));
    EXPECT_EQ(publisher.read_response().status, 200);
    int got = 0;
    for (auto& c : clients) {
      try {
        c->peek_until("data: " + std::string(event) + "\n\n");
        ++got;
      } catch (const std::exception&) {
      }
    }
    ASSERT_EQ(got, streams) << "event " << event;
  }
  clients.clear();
  server.server().shutdown();
}

}  // namespace
}  // namespace lithe::test
