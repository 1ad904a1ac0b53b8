// A listener whose io_uring accept entry ends for good (a kernel that answers a multishot accept
// on a non-blocking socket with EAGAIN instead of waiting) goes on accepting through Asio's
// reactor and accept4. This kernel keeps the entry armed, so the test ends it by hand: a pause
// cancels it, and the EAGAIN completion is delivered as the kernel would deliver it.
#include "net/listener.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdlib>
#include <string>

#include "app/snapshot.hpp"
#include "lithe/config.hpp"
#include "loop_driver.hpp"
#include "net/ring.hpp"
#include "net/worker.hpp"

namespace lithe::net {
namespace {

using namespace std::chrono_literals;

class ListenerLeavesTheRing : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("LITHE_IO", "io_uring", 1);
    Config cfg = parse_config("[[route]]\npath = \"/\"\nhandler = \"static\"\nbody = \"hello\"\n",
                              "listener.toml");
    snapshot_ = app::build_snapshot(std::move(cfg), registry_, state_);
    worker_ = std::make_unique<Worker>(0, snapshot_);
    if (!worker_->ring()) GTEST_SKIP() << "no io_uring here";
    boost::asio::ip::tcp::endpoint any(boost::asio::ip::make_address("127.0.0.1"), 0);
    Acceptor acceptor(worker_->io());
    acceptor.open(boost::asio::generic::stream_protocol(AF_INET, IPPROTO_TCP));
    acceptor.bind(boost::asio::generic::stream_protocol::endpoint(any));
    acceptor.listen(16);
    sockaddr_in addr{};
    socklen_t len = sizeof(addr);
    ASSERT_EQ(::getsockname(acceptor.native_handle(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
    listener_ = std::make_unique<Listener>(*worker_, "127.0.0.1:0", std::move(acceptor));
  }
  void TearDown() override {
    if (client_ >= 0) ::close(client_);
    // As the worker does: a closed listener's cancelled wait completes before it is freed.
    if (listener_) {
      listener_->close();
      test::settle(worker_->io());
    }
    listener_.reset();
    worker_.reset();
    ::unsetenv("LITHE_IO");
  }

  handlers::Registry registry_;
  handlers::ServerState state_;
  std::shared_ptr<const app::Snapshot> snapshot_;
  std::unique_ptr<Worker> worker_;
  std::unique_ptr<Listener> listener_;
  int port_ = 0;
  int client_ = -1;
};

TEST_F(ListenerLeavesTheRing, AndStillServesTheNextClient) {
  listener_->start();  // the ring's multishot accept
  ASSERT_TRUE(test::settle(worker_->io()));
  ASSERT_TRUE(listener_->armed_on_ring());
  listener_->pause();  // cancels it; its last completion comes back with ECANCELED
  ASSERT_TRUE(test::run_until(worker_->io(), [&] { return !listener_->armed_on_ring(); }));
  listener_->on_ring(-EAGAIN, CompletionFlags{0});  // as a kernel that will not wait would end it
  listener_->resume();
  ASSERT_TRUE(test::settle(worker_->io()))
      << "the listener spins instead of waiting for a connection";

  client_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(client_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string request = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::write(client_, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  ASSERT_EQ(::fcntl(client_, F_SETFL, O_NONBLOCK), 0);

  std::string got;
  char buf[1024];
  ASSERT_TRUE(test::run_until(worker_->io(), [&] {
    const ssize_t n = ::read(client_, buf, sizeof(buf));
    if (n > 0) got.append(buf, static_cast<std::size_t>(n));
    return n == 0;  // Connection: close
  })) << got;
  EXPECT_TRUE(got.starts_with("HTTP/1.1 200 ")) << got;
  EXPECT_TRUE(got.ends_with("hello")) << got;
}

}  // namespace
}  // namespace lithe::net
