// Pulled request bodies (SPEC §9, `body = "stream"`) as a client sees them: the handler starts
// at the end of the head, Content-Length and chunked bodies arrive the same, 100 Continue goes
// out only when the handler first asks, max_body gives 413 at the byte that crosses it, and a
// handler that stops asking stops the reading (the client's send queue fills instead).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <string>

#include "harness.hpp"
#include "lithe/body_reader.hpp"

namespace lithe::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kConfig = R"(
[limits]
body = "1KiB"

[[route]]
path = "/sum"
methods = ["POST", "PUT"]
handler = "sum"
body = "stream"
max_body = "1GiB"

[[route]]
path = "/small"
methods = ["POST"]
handler = "sum"
body = "stream"
max_body = 10

[[route]]
path = "/refuse"
methods = ["POST"]
handler = "refuse"
body = "stream"

[[route]]
path = "/stall"
methods = ["POST"]
handler = "stall"
body = "stream"
max_body = "1GiB"

[[route]]
path = "/buffered"
methods = ["POST"]
handler = "echo"
max_body = "4KiB"

[[route]]
path = "/plain"
handler = "static"
body = "plain"
)";

// Reads the whole body, then answers its length and checksum.
struct Summer : std::enable_shared_from_this<Summer> {
  lithe::Responder responder;
  lithe::BodyReader body;
  uint64_t bytes = 0;
  uint64_t hash = fnv1a_start;
  unsigned pieces = 0;

  void next() {
    body.read([self = shared_from_this()](std::string_view piece, bool last) {
      self->bytes += piece.size();
      self->hash = fnv1a(piece, self->hash);
      ++self->pieces;
      if (!last) return self->next();
      self->responder.response().text("bytes=" + std::to_string(self->bytes) +
                                      " hash=" + std::to_string(self->hash));
      self->responder.send();
    });
  }
};

// What the stalling handler shares with the test thread.
struct Stall {
  std::promise<void> first_piece;
  boost::asio::io_context* io = nullptr;
  std::shared_ptr<Summer> summer;
  std::atomic<int> cancels{0};
  std::promise<void> cancelled;
};

void register_handlers(lithe::Server& s, Stall& stall) {
  s.handle("sum", [](const lithe::Request&, lithe::Response& res) {
    auto summer = std::make_shared<Summer>();
    summer->body = res.body_reader();
    summer->responder = res.defer();
    summer->next();
  });
  s.handle("refuse", [](const lithe::Request&, lithe::Response& res) {
    res.status(401);
    res.text("no\n");
  });
  // Takes one piece, then stops asking until the test resumes it.
  s.handle("stall", [&stall](const lithe::Request&, lithe::Response& res) {
    auto summer = std::make_shared<Summer>();
    summer->body = res.body_reader();
    summer->responder = res.defer();
    summer->responder.on_cancel([&stall] {
      if (++stall.cancels == 1) stall.cancelled.set_value();
    });
    stall.io = &summer->responder.io();
    stall.summer = summer;
    summer->body.read([summer, &stall](std::string_view piece, bool) {
      summer->bytes += piece.size();
      summer->hash = fnv1a(piece, summer->hash);
      stall.first_piece.set_value();
    });
  });
}

class BodyStreams : public ::testing::Test {
 protected:
  Stall stall;
  TestServer server{kConfig, [this](lithe::Server& s) { register_handlers(s, stall); }};
};

std::string expected(std::string_view body) {
  return "bytes=" + std::to_string(body.size()) + " hash=" + std::to_string(fnv1a(body));
}

TEST_F(BodyStreams, AContentLengthBodyArrivesWholeAndTheConnectionGoesOn) {
  const std::string body = pattern(3 * 1024 * 1024);  // far above limits.body (1KiB)
  RawClient c(server.port());
  c.send(post("/sum", body) + get("/plain"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, expected(body));
  EXPECT_FALSE(r.has_header("Connection"));
  EXPECT_EQ(c.read_response().body, "plain");
}

TEST_F(BodyStreams, AChunkedBodySplitAnywhereLooksTheSame) {
  const std::string body = pattern(200 * 1024);
  const std::string head = "PUT /sum HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string wire = head + chunked(body, 1000) + get("/plain");
  RawClient c(server.port());
  // Sent in odd-sized pieces, so chunk sizes, CRLFs and data are cut at every kind of place.
  for (std::size_t at = 0; at < wire.size(); at += 4093) c.send(wire.substr(at, 4093));
  EXPECT_EQ(c.read_response().body, expected(body));
  EXPECT_EQ(c.read_response().body, "plain");
}

TEST_F(BodyStreams, ExactlyMaxBodyPassesAndOneByteMoreIs413) {
  RawClient c(server.port());
  c.send(post("/small", "0123456789"));
  EXPECT_EQ(c.read_response().body, expected("0123456789"));
  c.send("POST /small HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
         chunked("0123456789", 3));
  EXPECT_EQ(c.read_response().body, expected("0123456789"));
  // Chunked: the chunk that would cross the limit is refused; the handler had begun.
  c.send("POST /small HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
         chunked("0123456789A", 5));
  HttpResponse over = c.read_response();
  EXPECT_EQ(over.status, 413);
  EXPECT_EQ(over.header("Connection"), "close");
  EXPECT_TRUE(c.is_closed());

  RawClient d(server.port());  // Content-Length: refused at the head
  d.send(post("/small", "0123456789A"));
  EXPECT_EQ(d.read_response().status, 413);
}

TEST_F(BodyStreams, ContinueGoesOutOnlyWhenTheHandlerAsksForTheBody) {
  const std::string body = pattern(100 * 1024);
  RawClient c(server.port());
  c.send("POST /sum HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n");
  HttpResponse cont = c.read_response();
  ASSERT_EQ(cont.status, 100);
  c.send(body);
  EXPECT_EQ(c.read_response().body, expected(body));

  // A handler that refuses without asking: the final status at once, no 100, and the
  // connection closes after it, since the body it did not read may follow.
  RawClient d(server.port());
  d.send("POST /refuse HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 500\r\n\r\n");
  HttpResponse refused = d.read_response();
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(refused.header("Connection"), "close");
  EXPECT_TRUE(d.is_closed());
}

TEST_F(BodyStreams, AStalledHandlerStopsTheReadingAndTheClientsQueueFills) {
  RawClient c(server.port());
  const std::size_t total = 256 * 1024 * 1024;
  c.send("POST /stall HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(total) +
         "\r\n\r\n");
  // Send without blocking until the socket refuses more: with the handler holding its first
  // piece, lithe reads nothing further, so what is in flight is bounded by the socket buffers
  // and one read buffer, not by the body.
  const int flags = ::fcntl(c.fd(), F_GETFL);
  ASSERT_EQ(::fcntl(c.fd(), F_SETFL, flags | O_NONBLOCK), 0);
  const std::string block = pattern(64 * 1024);
  std::size_t sent = 0;
  while (sent < total) {
    const ssize_t n =
        ::send(c.fd(), block.data(), std::min(block.size(), total - sent), MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    ASSERT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK);
    // Full: proving that nothing drains it means waiting a while for room that never comes.
    pollfd p{c.fd(), POLLOUT, 0};
    if (::poll(&p, 1, 200) == 0) break;
  }
  ASSERT_EQ(stall.first_piece.get_future().wait_for(5s), std::future_status::ready);
  EXPECT_LT(sent, 64u * 1024 * 1024) << "lithe kept reading a body nobody asked for";
  EXPECT_EQ(stall.cancels.load(), 0);
  ASSERT_EQ(::fcntl(c.fd(), F_SETFL, flags), 0);
  // Resumed, the handler reads the rest and answers.
  std::shared_ptr<Summer> summer = stall.summer;
  boost::asio::post(*stall.io, [summer] { summer->next(); });
  std::size_t left = total - sent;
  while (left > 0) {
    const std::size_t n = std::min(block.size(), left);
    c.send(std::string_view(block).substr(0, n));
    left -= n;
  }
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("bytes=" + std::to_string(total)), std::string::npos) << r.body;
}

TEST_F(BodyStreams, AClientResetMidBodyCancelsTheHandlerOnce) {
  {
    RawClient c(server.port());
    c.send("POST /stall HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n" +
           pattern(100 * 1024));
    ASSERT_EQ(stall.first_piece.get_future().wait_for(5s), std::future_status::ready);
    std::shared_ptr<Summer> summer = stall.summer;
    boost::asio::post(*stall.io, [summer] { summer->next(); });  // asks for the rest
    c.reset();
  }
  ASSERT_EQ(stall.cancelled.get_future().wait_for(5s), std::future_status::ready);
  EXPECT_EQ(stall.cancels.load(), 1);
  RawClient d(server.port());  // and the server serves on
  d.send(get("/plain"));
  EXPECT_EQ(d.read_response().body, "plain");
}

TEST_F(BodyStreams, MaxBodyRaisesTheLimitOfABufferedRoute) {
  const std::string body = pattern(3000);  // above limits.body, within the route's 4KiB
  RawClient c(server.port());
  c.send(post("/buffered", body, "Content-Type: text/plain\r\n"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, body);
  c.send(post("/buffered", pattern(5000)));
  EXPECT_EQ(c.read_response().status, 413);
}

}  // namespace
}  // namespace lithe::test
