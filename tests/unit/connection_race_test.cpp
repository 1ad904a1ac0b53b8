// A timeout that meets a completion already in flight (issue 14). The body timeout queues its
// 408 and cancels the read, but the read has already completed with new body bytes. Those bytes
// must not be parsed and must not start a second send of the same batch: with io_uring, both
// sends then completed, and the second found its buffer already handed back (the SIGSEGV that
// slowhttptest's slow-body attack found).
//
// The worker's loop is run by hand from this thread, so the order is exact:
// - With io_uring, the client's write() wakes the pending receive, and the ring's task work (this
//   thread's) runs as that call returns: the receive's completion is in the ring before the
//   timeout cancels it.
// - The server's send buffer is made as small as the kernel allows and a first response fills
//   it, so the 408 waits for room; any second send of it would wait behind it and complete too.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <string_view>

#include "app/snapshot.hpp"
#include "lithe/config.hpp"
#include "loop_driver.hpp"
#include "net/session.hpp"
#include "net/worker.hpp"

namespace lithe::net {
namespace {

using namespace std::chrono_literals;

class TimeoutMeetsCompletion : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    ::setenv("LITHE_IO", GetParam(), 1);
    // /fill: a first response of about 3 KB, sent whole, that leaves the send buffer full.
    Config cfg = parse_config(
        "[[route]]\npath = \"/echo\"\nmethods = [\"POST\"]\nhandler = \"echo\"\n\n"
        "[[route]]\npath = \"/fill\"\nhandler = \"static\"\nbody = \"" +
            std::string(2900, 'x') + "\"\n",
        "race.toml");
    snapshot_ = app::build_snapshot(std::move(cfg), registry_, state_);
    worker_ = std::make_unique<Worker>(0, snapshot_);
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    client_ = sv[1];
    const int smallest = 1;  // the kernel rounds it up to its minimum (4608 bytes on Linux 6)
    ASSERT_EQ(::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &smallest, sizeof(smallest)), 0);
    worker_->on_accepted(sv[0], AF_UNIX);
  }
  void TearDown() override {
    worker_.reset();
    if (client_ >= 0) ::close(client_);
    ::unsetenv("LITHE_IO");
  }

  void send(std::string_view s) {
    ASSERT_EQ(::write(client_, s.data(), s.size()), static_cast<ssize_t>(s.size()));
  }

  handlers::Registry registry_;
  handlers::ServerState state_;
  std::shared_ptr<const app::Snapshot> snapshot_;
  std::unique_ptr<Worker> worker_;
  int client_ = -1;
};

TEST_P(TimeoutMeetsCompletion, BodyBytesThatRaceTheBodyTimeoutGetOne408AndNoCrash) {
  // The first response (about 3 KB) is sent whole and leaves the send buffer full.
  const std::string head =
      "GET /fill HTTP/1.1\r\nHost: t\r\n\r\n"
      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab";
  send(head);
  ASSERT_TRUE(test::run_until(worker_->io(), [&] {
    return worker_->metrics().bytes_in.get() == head.size() &&
           worker_->metrics().bytes_out.get() > 2900;
  }));
  ASSERT_EQ(worker_->connections().size(), 1u);
  Session& conn = *worker_->connections()[0];

  send("cd");  // with io_uring the receive completes here, before the timeout below
  conn.on_timeout(Timeout::body);
  // The loop handles what is ready (the receive's completion, with those bytes) while the 408
  // waits for room; only then does the client read.
  do worker_->io().restart();
  while (worker_->io().poll() > 0);

  std::string got;
  char buf[4096];
  ASSERT_TRUE(test::run_until(worker_->io(), [&] {
    const ssize_t n = ::read(client_, buf, sizeof(buf));
    if (n > 0) got.append(buf, static_cast<std::size_t>(n));
    return n == 0;  // the server shut its side after the 408
  })) << got;
  ASSERT_TRUE(got.starts_with("HTTP/1.1 200 ")) << got;
  const std::size_t second = got.find("HTTP/1.1", 1);
  ASSERT_NE(second, std::string::npos) << got;
  EXPECT_EQ(got.compare(second, 13, "HTTP/1.1 408 "), 0) << got.substr(second);
  EXPECT_EQ(got.find("HTTP/1.1", second + 1), std::string::npos)
      << "the 408 went out twice: " << got.substr(second);

  ::close(client_);  // the lingering close sees the client's FIN and ends
  client_ = -1;
  EXPECT_TRUE(test::run_until(worker_->io(), [&] { return worker_->connections().empty(); }));
}

std::string io_name(const ::testing::TestParamInfo<const char*>& p) {
  return std::string(p.param) == "io_uring" ? "IoUring" : "Epoll";
}
INSTANTIATE_TEST_SUITE_P(Io, TimeoutMeetsCompletion, ::testing::Values("io_uring", "epoll"),
                         io_name);

}  // namespace
}  // namespace lithe::net
