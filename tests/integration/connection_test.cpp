// Connection life over real sockets: every timeout, a slowloris client, a reset mid-response and
// max_connections. Waits are conditions (EOF, bytes, a metric) with deadlines, never sleeps.
#include <dirent.h>
#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "harness.hpp"

using namespace std::chrono_literals;
using namespace lithe::test;

namespace {

std::string get_metrics(uint16_t port) {
  RawClient c(port);
  c.send("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
  return c.read_response().body;
}

std::string config(std::string_view extra) {
  return std::string(extra) + R"(
[[route]]
path = "/plaintext"
handler = "static"
body = "Hello, World!"

[[route]]
path = "/upload"
methods = ["POST"]
handler = "static"
body = "ok"

[[route]]
path = "/metrics"
handler = "metrics"
)";
}

// lithe_connections_open as /metrics reports it (the scraping connection included).
long open_connections(uint16_t port) {
  std::string text = get_metrics(port);
  auto at = text.find("\nlithe_connections_open ");
  return at == std::string::npos ? -1 : std::stol(text.substr(at + 24));
}

// A /big route whose body, `body`, is a file in dir.
std::string big_file_route(const TempDir& dir, const std::string& body) {
  dir.write("big.bin", body);
  return R"(
[[route]]
path = "/big"
handler = "static"
content_type = "application/octet-stream"
body_file = ")" +
         (dir.path() / "big.bin").string() + "\"\n";
}

// Polls /metrics until only the scraping connection is open, for at most `limit`.
bool wait_for_only_scraper(uint16_t port, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (open_connections(port) == 1) return true;
    RawClient probe(port);
    probe.is_closed(50ms);  // paces the polling on a socket condition, not a sleep
  }
  return false;
}

// The in-process server's end of client c (found among this process's descriptors), or -1.
int server_side_of(const RawClient& c, uint16_t server_port) {
  sockaddr_in mine{};
  socklen_t len = sizeof(mine);
  ::getsockname(c.fd(), reinterpret_cast<sockaddr*>(&mine), &len);
  DIR* d = ::opendir("/proc/self/fd");
  int found = -1;
  while (dirent* e = ::readdir(d)) {
    const int fd = std::atoi(e->d_name);
    struct stat st {};
    if (fd == c.fd() || ::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_in local{}, peer{};
    socklen_t l1 = sizeof(local), l2 = sizeof(peer);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &l1) != 0 ||
        ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &l2) != 0 ||
        local.sin_family != AF_INET)
      continue;
    if (ntohs(local.sin_port) == server_port && peer.sin_port == mine.sin_port) found = fd;
  }
  ::closedir(d);
  return found;
}

}  // namespace

TEST(Timeouts, KeepaliveClosesIdleConnectionSilently) {
  TestServer server(config("[timeouts]\nkeepalive = \"300ms\"\n"));
  RawClient c(server.port());
  c.send("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(c.read_response().status, 200);
  EXPECT_TRUE(c.is_closed(5s));
  EXPECT_TRUE(c.buffered().empty());  // silently: no 408
}

TEST(Timeouts, HeaderDeadlineCutsASlowlorisClient) {
  TestServer server(config("[timeouts]\nheader = \"1s\"\n"));
  RawClient c(server.port());
  c.send("GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Slow: ");
  // One byte every 200 ms: trickling bytes must not extend the single header deadline.
  int sent = 0;
  for (; sent < 100; ++sent) {
    if (c.is_closed(200ms) || !c.buffered().empty()) break;
    try {
      c.send("a");
    } catch (...) {
      break;
    }
  }
  EXPECT_LT(sent, 25) << "the header deadline was extended by trickling bytes";
  std::string rest = c.buffered() + c.read_until_close();
  EXPECT_EQ(rest.rfind("HTTP/1.1 408 ", 0), 0u) << rest;
  EXPECT_NE(rest.find("\r\nConnection: close\r\n"), std::string::npos);
}

TEST(Timeouts, BodySilenceIs408AndClose) {
  TestServer server(config("[timeouts]\nbody = \"300ms\"\n"));
  RawClient c(server.port());
  c.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 408);
  EXPECT_EQ(r.header("Connection").value_or(""), "close");
  EXPECT_TRUE(c.is_closed(5s));
}

TEST(Timeouts, WriteStallClosesAndFreesTheConnection) {
  TempDir dir;
  TestServer server(config("[timeouts]\nwrite = \"300ms\"\n") +
                    big_file_route(dir, std::string(16 * 1024 * 1024, 'x')));
  RawClient c(server.port());
  int small = 4096;
  ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  c.send("GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
  // The client never reads: the server must give up on the stalled write and free everything.
  EXPECT_TRUE(wait_for_only_scraper(server.port(), 20s));
  RawClient other(server.port());
  other.send("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(other.read_response().body, "Hello, World!");
}

// A response larger than the socket buffers leaves in several sends, each one what the last
// left (with io_uring, a send this big goes without the next receive linked behind it); the
// connection then serves its next request.
TEST(ConnectionLife, LargeResponseThenTheNextRequestOnTheSameConnection) {
  TempDir dir;
  const std::string big(16 * 1024 * 1024, 'z');
  TestServer server(config("") + big_file_route(dir, big));
  RawClient c(server.port());
  for (int i = 0; i < 2; ++i) {
    c.send("GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
    HttpResponse r = c.read_response();
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.body == big) << "body of " << r.body.size() << " bytes";
    c.send("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    EXPECT_EQ(c.read_response().body, "Hello, World!");
  }
}

// The next request sent as soon as the first bytes of a 60 KiB response arrive (with io_uring,
// the receive linked behind that send may be the one that reads it): both are answered, in
// order, on every connection.
TEST(ConnectionLife, NextRequestArrivingWhileAResponseIsStillBeingSent) {
  const std::string medium(60 * 1024, 'm');
  TestServer server(config("") + R"(
[[route]]
path = "/medium"
handler = "static"
body = ")" + medium +
                    "\"\n");
  for (int i = 0; i < 20; ++i) {
    RawClient c(server.port());
    c.send("GET /medium HTTP/1.1\r\nHost: t\r\n\r\n");
    EXPECT_FALSE(c.is_closed(5s));  // the first bytes of the response are here
    c.send("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    HttpResponse first = c.read_response();
    EXPECT_TRUE(first.body == medium) << "body of " << first.body.size() << " bytes";
    EXPECT_EQ(c.read_response().body, "Hello, World!");
  }
}

// More requests at once than the worker has provided read buffers (64; with io_uring a receive
// left without one retries with its own): every one is answered, twice over.
TEST(ConnectionLife, ManyRequestsArrivingAtOnceAreAllAnswered) {
  TestServer server(config(""));
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 300; ++i) clients.push_back(std::make_unique<RawClient>(server.port()));
  for (int round = 0; round < 2; ++round) {
    for (auto& c : clients) c->send("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    for (auto& c : clients) EXPECT_EQ(c->read_response().body, "Hello, World!");
  }
}

// A client that never reads holds little of the server's memory: at most 128 KiB of a response
// waits unsent in the kernel (TCP_NOTSENT_LOWAT), where the socket buffer would otherwise grow
// to megabytes on loopback and take a copy or a page reference of every byte.
TEST(ConnectionLife, AReaderThatNeverReadsHoldsABoundedSendQueue) {
  TempDir dir;
  TestServer server(config("") + big_file_route(dir, std::string(16 * 1024 * 1024, 'q')));
  RawClient c(server.port());
  c.send("GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_FALSE(c.is_closed(5s));  // the response has begun
  const int fd = server_side_of(c, server.port());
  ASSERT_GE(fd, 0);
  // Queued, not yet acknowledged bytes, once the server has stopped adding to them.
  int queued = -1, same = 0;
  RawClient pacer(server.port());
  for (int i = 0; i < 250 && same < 5; ++i) {
    int now = 0;
    ASSERT_EQ(::ioctl(fd, SIOCOUTQ, &now), 0);
    same = now == queued ? same + 1 : 0;
    queued = now;
    pacer.is_closed(20ms);  // paces the samples on a socket wait
  }
  ASSERT_EQ(same, 5) << "the send queue kept changing: " << queued;
  EXPECT_GT(queued, 0);
  EXPECT_LE(queued, 512 * 1024);
}

TEST(ConnectionLife, ResetMidResponseFreesTheConnection) {
  TempDir dir;
  TestServer server(config("") + big_file_route(dir, std::string(16 * 1024 * 1024, 'y')));
  {
    RawClient c(server.port());
    c.send("GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
    c.is_closed(100ms);  // some of the body arrives
    c.reset();
  }
  EXPECT_TRUE(wait_for_only_scraper(server.port(), 20s));
  RawClient other(server.port());
  other.send("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(other.read_response().status, 200);
}

TEST(ConnectionLife, MaxConnectionsPausesAcceptingWithoutDropping) {
  TestServer server(config("[server]\nmax_connections = 2\n"));
  auto a = std::make_unique<RawClient>(server.port());
  RawClient b(server.port());
  for (RawClient* c : {a.get(), &b}) {
    c->send("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_EQ(c->read_response().status, 200);
  }
  RawClient third(server.port());  // the kernel queues it; lithe does not accept it yet
  third.send("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_FALSE(third.is_closed(300ms));
  EXPECT_TRUE(third.buffered().empty());
  a.reset();  // a slot frees: the queued connection is accepted and answered
  EXPECT_EQ(third.read_response().body, "Hello, World!");
}

// A burst: with io_uring the kernel may accept several connections in one go, after the limit
// was reached. Those wait, unread, until a slot frees, in the order they came; none is dropped.
TEST(ConnectionLife, MaxConnectionsHoldsABurstInOrder) {
  TestServer server(config("[server]\nmax_connections = 2\n"));
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 6; ++i) {
    clients.push_back(std::make_unique<RawClient>(server.port()));
    clients.back()->send("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
  }
  EXPECT_EQ(clients[0]->read_response().status, 200);
  EXPECT_EQ(clients[1]->read_response().status, 200);
  for (std::size_t i = 2; i < clients.size(); ++i) {
    EXPECT_FALSE(clients[i]->is_closed(100ms)) << i;
    EXPECT_TRUE(clients[i]->buffered().empty()) << i << ": answered over the limit";
  }
  for (std::size_t i = 2; i < clients.size(); ++i) {
    clients[i - 2].reset();  // a slot frees: the next one in line is answered
    EXPECT_EQ(clients[i]->read_response().body, "Hello, World!") << i;
    if (i + 1 < clients.size()) {
      EXPECT_FALSE(clients[i + 1]->is_closed(50ms)) << i + 1;
      EXPECT_TRUE(clients[i + 1]->buffered().empty()) << i + 1 << ": answered over the limit";
    }
  }
}

TEST(ConnectionLife, UnreadBodyIsDrainedAndKeepAliveContinues) {
  TestServer server(config(""));
  RawClient c(server.port());
  c.send(
      "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n0\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(c.read_response().body, "ok");
  EXPECT_EQ(c.read_response().body, "Hello, World!");
}

// Everything the client sent was read and answered: the connection ends at once (as with
// nginx's `lingering_close on`), so it is gone by the time the client sees the end of file. A
// lingering close would hold it until the client's FIN or its 2 s limit.
TEST(ConnectionLife, ConnectionCloseWithNothingUnreadEndsAtOnce) {
  TestServer server(config(""));
  RawClient c(server.port());
  c.send("GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(c.read_response().body, "Hello, World!");
  EXPECT_TRUE(c.is_closed(5s));
  EXPECT_EQ(open_connections(server.port()), 1);  // the scrape itself; c is still open here
}

// Input the server never read must not turn its close into a reset, which could destroy the
// response before the client reads it. Here the request fills the read buffer (16 KiB with
// these limits) exactly, so the one receive leaves the bytes after it in the socket.
TEST(ConnectionLife, InputLeftInTheSocketGetsALingeringClose) {
  TestServer server(config("[limits]\nrequest_line = 4096\nheader_section = 8192\n"));
  const std::string head_start = "POST /upload HTTP/1.1\r\nHost: t\r\nConnection: close\r\n";
  const std::size_t head_size =
      head_start.size() + std::string("Content-Length: 16000\r\n\r\n").size();
  const std::size_t body_size = 16 * 1024 - head_size;
  ASSERT_EQ(std::to_string(body_size).size(), 5u);  // the head's size assumed it
  std::string wire = head_start + "Content-Length: " + std::to_string(body_size) + "\r\n\r\n";
  wire += std::string(body_size, 'b');
  ASSERT_EQ(wire.size(), 16u * 1024);
  wire += "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";  // never read: after Connection: close
  RawClient c(server.port());
  c.send(wire);
  EXPECT_EQ(c.read_response().body, "ok");
  EXPECT_TRUE(c.buffered().empty());
  char byte;
  const ssize_t n = ::recv(c.fd(), &byte, 1, 0);
  EXPECT_EQ(n, 0) << (n < 0 ? std::strerror(errno) : "a byte after the response");  // FIN, no reset
}

// EMFILE on accept: the daemon pauses accepting (no spinning), logs once, and recovers.
TEST(ConnectionLife, DescriptorExhaustionBacksOffLogsOnceAndRecovers) {
  Daemon daemon("/usr/bin/prlimit", {"--nofile=32:32", LITHE_BINARY, "-l", "127.0.0.1:0"});
  // One connection served first, as a daemon under load has. Under UBSan this also matters:
  // libubsan checks an object's dynamic type once per class, and that first check opens a pipe
  // to probe memory. With every descriptor taken (io_uring accepts a burst before serving any)
  // it cannot, and it reports a valid connection as having an "invalid vptr".
  {
    RawClient first(daemon.port());
    first.send("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    EXPECT_EQ(first.read_response().body, "Hello, World!");
  }
  {
    std::vector<std::unique_ptr<RawClient>> clients;
    for (int i = 0; i < 60; ++i) clients.push_back(std::make_unique<RawClient>(daemon.port()));
    RawClient& last = *clients.back();
    last.send("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    // Not accepted while every descriptor is taken; several 100 ms back-offs pass meanwhile.
    EXPECT_FALSE(last.is_closed(500ms));
    EXPECT_TRUE(last.buffered().empty());
  }
  RawClient c(daemon.port());
  c.send("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(c.read_response().body, "Hello, World!");
  const std::string err = daemon.stderr_text();
  std::size_t logged = 0;
  for (auto at = err.find("pausing accepts"); at != std::string::npos;
       at = err.find("pausing accepts", at + 1))
    ++logged;
  EXPECT_EQ(logged, 1u) << err;
  EXPECT_EQ(daemon.terminate(), 0);
}
