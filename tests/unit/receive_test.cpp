// The epoll transport's receive (net/receive.hpp): it reports what a read brought, and a read
// that emptied the socket makes the next one wait for new input instead of trying first. A FIN
// that was already queued must still end the connection at once: the next receive completes
// with eof without any further event from epoll. The tests deliver the event themselves
// (receive_ready) once poll() says the socket has what the epoll set would report.
#include "net/receive.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <string>

#include "net/epoll_transport.hpp"

namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using lithe::net::EpollTransport;
using lithe::net::OpSlot;

// Stands in for a connection: its socket and loop, the slot a posted completion lives in, its
// buffer, and what it was called with.
struct Target {
  int sock = -1;
  asio::io_context* io = nullptr;
  OpSlot<EpollTransport::read_op_size> slot;
  bool known_empty = false;
  char buf[4096];
  int asked = 0;   // input_space() calls: one per recvmsg attempt
  int unused = 0;  // attempts that found nothing
  int calls = 0;
  error_code ec;
  std::size_t bytes = 0;

  int fd() const { return sock; }
  asio::io_context::executor_type executor() const { return io->get_executor(); }
  OpSlot<EpollTransport::read_op_size>& op_slot() { return slot; }
  bool input_known_empty() const { return known_empty; }
  void set_input_known_empty(bool empty) { known_empty = empty; }
  std::span<char> input_space() {
    ++asked;
    return {buf, sizeof(buf)};
  }
  void input_space_unused() { ++unused; }
  void on_received(const error_code& e, std::size_t n) {
    ++calls;
    ec = e;
    bytes = n;
  }
};

// A loopback TCP pair whose server side is accepted from a listener with TCP_INQ, as lithe's are.
class ReceiveOp : public ::testing::Test {
 protected:
  void SetUp() override {
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(listener, 0);
    lithe::net::enable_receive_queue_hint(listener);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(::listen(listener, 1), 0);
    socklen_t len = sizeof(addr);
    ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    client_ = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_EQ(::connect(client_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    const int fd = ::accept(listener, nullptr, nullptr);
    ::close(listener);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    server_ = fd;
    t.sock = fd;
    t.io = &io_;
  }
  void TearDown() override {
    if (client_ >= 0) ::close(client_);
    if (server_ >= 0) ::close(server_);
  }

  // true: input was read and its completion posted; false: waiting for an input event.
  bool start() { return lithe::net::start_receive(&t); }
  // What the epoll set does on an input event: true when it delivered (at once) what it read.
  bool event() { return lithe::net::receive_ready(&t); }
  void poll() {
    io_.restart();
    io_.poll();
  }
  void client_sends(const std::string& bytes) {
    ASSERT_EQ(::send(client_, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
  }
  // Blocks until the server side has input (and, with rdhup, the client's FIN) queued.
  void await_queued(short events) {
    pollfd p{server_, events, 0};
    ASSERT_EQ(::poll(&p, 1, 10000), 1);
  }

  Target t;  // first: it outlives the io_context, which frees operations still queued in its slot
  asio::io_context io_{1};
  int server_ = -1;
  int client_ = -1;
};

TEST_F(ReceiveOp, AWaitingReceiveHoldsNothingAndAnEventDeliversTheBytes) {
  EXPECT_FALSE(start()) << "a new socket has nothing yet";
  EXPECT_FALSE(t.slot.in_use()) << "waiting is the epoll set's registration, not an operation";
  client_sends("GET / HTTP/1.1\r\n\r\n");
  await_queued(POLLIN);
  EXPECT_TRUE(event());
  EXPECT_EQ(t.calls, 1);
  EXPECT_FALSE(t.ec);
  EXPECT_EQ(std::string(t.buf, t.bytes), "GET / HTTP/1.1\r\n\r\n");
  EXPECT_FALSE(t.slot.in_use());
}

TEST_F(ReceiveOp, AReadDoneAtOnceCompletesLaterFromTheSlot) {
  client_sends("GET / HTTP/1.1\r\n\r\n");
  await_queued(POLLIN);
  EXPECT_TRUE(start());  // input is there: read now, delivered from the loop
  EXPECT_EQ(t.calls, 0) << "never from inside start_receive";
  EXPECT_TRUE(t.slot.in_use()) << "the completion outgrew EpollTransport::read_op_size";
  poll();
  EXPECT_EQ(t.calls, 1);
  EXPECT_EQ(t.bytes, 18u);
  EXPECT_FALSE(t.slot.in_use());
}

TEST_F(ReceiveOp, AnAttemptThatFindsNothingHandsItsSpaceBack) {
  EXPECT_FALSE(start());  // a new socket: it tries at once
  EXPECT_EQ(t.asked, 1);
  EXPECT_EQ(t.unused, 1) << "a connection waiting for input must not keep a buffer";
  EXPECT_TRUE(t.known_empty) << "the attempt found the socket empty";
  client_sends("x");
  await_queued(POLLIN);
  EXPECT_TRUE(event());
  EXPECT_EQ(t.calls, 1);
  EXPECT_EQ(t.asked, 2);
}

TEST_F(ReceiveOp, AnEventForNothingKeepsItWaiting) {
  EXPECT_FALSE(start());
  EXPECT_FALSE(event()) << "an edge whose input was already taken";
  EXPECT_EQ(t.calls, 0);
  EXPECT_EQ(t.unused, 2);
}

TEST_F(ReceiveOp, AfterEmptyingTheSocketTheNextOneWaitsForNewInput) {
  client_sends("first");
  await_queued(POLLIN);
  EXPECT_TRUE(start());
  poll();
  ASSERT_EQ(t.bytes, 5u);
  EXPECT_TRUE(t.known_empty) << "TCP_INQ said nothing is left";
  const int attempts = t.asked;

  EXPECT_FALSE(start());
  poll();
  EXPECT_EQ(t.calls, 1) << "nothing new arrived";
  EXPECT_EQ(t.asked, attempts) << "no recvmsg: the last one emptied the socket";
  client_sends("second");
  await_queued(POLLIN);
  EXPECT_TRUE(event());
  EXPECT_EQ(t.calls, 2);
  EXPECT_EQ(std::string(t.buf, t.bytes), "second");
}

// The case a "short read means empty" rule gets wrong: request and FIN arrive together, epoll
// reports them once, and the read takes only the request.
TEST_F(ReceiveOp, AFinQueuedBehindTheRequestEndsTheNextReceiveWithoutAnotherEvent) {
  EXPECT_FALSE(start());  // waiting, so the event below is the only one
  client_sends("GET / HTTP/1.1\r\n\r\n");
  ASSERT_EQ(::shutdown(client_, SHUT_WR), 0);
  await_queued(POLLRDHUP);  // the FIN, and so the request before it
  EXPECT_TRUE(event());
  ASSERT_EQ(t.calls, 1);
  EXPECT_EQ(t.bytes, 18u);

  EXPECT_TRUE(start()) << "no new event will come: the FIN's was consumed with the request's";
  poll();
  EXPECT_EQ(t.calls, 2) << "the queued FIN was not seen";
  EXPECT_FALSE(t.ec);
  EXPECT_EQ(t.bytes, 0u) << "end of file";
}

TEST_F(ReceiveOp, AbortingAWaitingReceiveCompletesItFromTheSlot) {
  EXPECT_FALSE(start());
  lithe::net::abort_receive(&t);
  EXPECT_TRUE(t.slot.in_use()) << "the completion outgrew EpollTransport::read_op_size";
  poll();
  EXPECT_EQ(t.calls, 1);
  EXPECT_EQ(t.ec, asio::error::operation_aborted);
  EXPECT_FALSE(t.slot.in_use());
}

TEST(ReceiveOpUnix, WithoutTcpInqAHalfCloseStillEndsTheNextReceive) {
  Target t;
  asio::io_context io{1};
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  t.sock = fds[0];
  t.io = &io;
  ASSERT_EQ(::send(fds[1], "abc", 3, 0), 3);
  ASSERT_EQ(::shutdown(fds[1], SHUT_WR), 0);
  EXPECT_TRUE(lithe::net::start_receive(&t));
  io.poll();
  ASSERT_EQ(t.calls, 1);
  EXPECT_EQ(t.bytes, 3u);
  EXPECT_FALSE(t.known_empty) << "no TCP_INQ on a unix socket: the next receive tries";
  EXPECT_TRUE(lithe::net::start_receive(&t));
  io.restart();
  io.poll();
  EXPECT_EQ(t.calls, 2);
  EXPECT_FALSE(t.ec);
  EXPECT_EQ(t.bytes, 0u) << "end of file";
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST_F(ReceiveOp, AReadThatLeavesInputBehindLetsTheNextOneTryAtOnce) {
  const std::string big(6000, 'x');  // more than the 4096-byte space
  client_sends(big);
  await_queued(POLLIN);
  EXPECT_TRUE(start());
  poll();
  ASSERT_EQ(t.calls, 1);
  EXPECT_EQ(t.bytes, sizeof(t.buf));
  EXPECT_FALSE(t.known_empty) << "TCP_INQ said bytes are left";
  EXPECT_TRUE(start()) << "no new event: the bytes were there before";
  poll();
  EXPECT_EQ(t.calls, 2);
  EXPECT_EQ(t.bytes, big.size() - sizeof(t.buf));
  EXPECT_TRUE(t.known_empty);
}

}  // namespace
