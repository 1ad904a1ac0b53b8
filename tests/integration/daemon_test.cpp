// The real `lithe` binary: command line, config checking, serving and signals (SPEC §2, §5).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "harness.hpp"

#ifndef LITHE_BINARY
#error "LITHE_BINARY must name the built lithe daemon"
#endif

namespace lithe::test {
namespace {

const std::string kBinary = LITHE_BINARY;

::testing::AssertionResult contains(const std::string& haystack, const std::string& needle) {
  if (haystack.find(needle) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << needle << "' not found in:\n" << haystack;
}

// Every line of text (without the newline).
std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < text.size()) {
    auto eol = text.find('\n', at);
    if (eol == std::string::npos) eol = text.size();
    out.push_back(text.substr(at, eol - at));
    at = eol + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Command line

TEST(DaemonCli, VersionMentionsLibraries) {
  ExitResult r = run_to_exit(kBinary, {"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "lithe "));
  EXPECT_TRUE(contains(r.out, "llhttp "));
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(DaemonCli, HelpPrintsUsage) {
  for (const char* flag : {"-h", "--help"}) {
    ExitResult r = run_to_exit(kBinary, {flag});
    EXPECT_EQ(r.exit_code, 0) << flag << ": " << r.err;
    EXPECT_TRUE(contains(r.out, "usage: lithe")) << flag;
    EXPECT_TRUE(contains(r.out, "--config")) << flag;
  }
}

TEST(DaemonCli, UnknownFlagExits1) {
  ExitResult r = run_to_exit(kBinary, {"--frobnicate"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "--frobnicate"));
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(DaemonCli, MissingFlagValueExits1) {
  for (const char* flag : {"-c", "-l", "-w"}) {
    ExitResult r = run_to_exit(kBinary, {flag});
    EXPECT_EQ(r.exit_code, 1) << flag;
    EXPECT_FALSE(r.err.empty()) << flag;
  }
}

TEST(DaemonCli, BadListenAddressExits1) {
  for (const char* addr : {"nonsense", "127.0.0.1:99999", "127.0.0.1:", "[::1:80"}) {
    ExitResult r = run_to_exit(kBinary, {"-l", addr});
    EXPECT_EQ(r.exit_code, 1) << addr << ": " << r.err;
    EXPECT_TRUE(contains(r.err, addr));
  }
}

TEST(DaemonCli, BadWorkerCountExits1) {
  ExitResult r = run_to_exit(kBinary, {"-w", "many", "-t"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "many"));
}

TEST(DaemonCli, MissingConfigFileExits1) {
  TempDir dir;
  std::string path = (dir.path() / "absent.toml").string();
  ExitResult r = run_to_exit(kBinary, {"-t", "-c", path});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "absent.toml"));
}

// ---------------------------------------------------------------------------------------------
// Config checking (-t)

TEST(DaemonCheck, GoodConfigExits0) {
  TempDir dir;
  auto path = dir.write("good.toml", R"(
[server]
workers = 2

[[route]]
path = "/a/{id}"
handler = "static"
body = "a"

[[route]]
path = "/a/{id}"
methods = ["POST"]
handler = "json"
value = { ok = true }
)");
  ExitResult r = run_to_exit(kBinary, {"-t", "-c", path.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "good.toml"));
}

TEST(DaemonCheck, DefaultConfigIsValid) {
  ExitResult r = run_to_exit(kBinary, {"-t"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(DaemonCheck, UnknownKeyNamesLineAndColumn) {
  TempDir dir;
  // Line 3, column 1: the misspelt key.
  auto path = dir.write("bad.toml",
                        "[server]\n"
                        "workers = 1\n"
                        "wrokers = 2\n");
  ExitResult r = run_to_exit(kBinary, {"-t", "-c", path.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "bad.toml:3:1:"));
  EXPECT_TRUE(contains(r.err, "wrokers"));
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(DaemonCheck, UnknownKeyInIndentedSection) {
  TempDir dir;
  // Line 3, column 3: an indented misspelt key.
  auto path = dir.write("bad.toml",
                        "[limits]\n"
                        "  body = \"1MiB\"\n"
                        "  bodi = 3\n");
  ExitResult r = run_to_exit(kBinary, {"-t", "-c", path.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "bad.toml:3:3:"));
  EXPECT_TRUE(contains(r.err, "bodi"));
}

TEST(DaemonCheck, UnknownRouteOptionNamesTheKey) {
  TempDir dir;
  // Line 4, column 3: the misspelt option's key (as for unknown keys in a section).
  auto path = dir.write("bad.toml",
                        "[[route]]\n"
                        "path = \"/\"\n"
                        "handler = \"static\"\n"
                        "  bodyy = \"x\"\n");
  ExitResult r = run_to_exit(kBinary, {"-t", "-c", path.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "bodyy"));
  EXPECT_TRUE(contains(r.err, "bad.toml:4:3:"));
}

TEST(DaemonCheck, DuplicateRouteNamesTheSecondPath) {
  TempDir dir;
  // The second route's path value starts at line 7, column 8.
  auto path = dir.write("bad.toml",
                        "[[route]]\n"
                        "path = \"/same\"\n"
                        "handler = \"static\"\n"
                        "body = \"one\"\n"
                        "\n"
                        "[[route]]\n"
                        "path = \"/same\"\n"
                        "handler = \"static\"\n"
                        "body = \"two\"\n");
  ExitResult r = run_to_exit(kBinary, {"-t", "-c", path.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "bad.toml:7:8:"));
  EXPECT_FALSE(contains(r.err, "bad.toml:2:"));
}

TEST(DaemonCheck, UnknownHandlerNamesTheHandlerValue) {
  TempDir dir;
  // The handler value starts at line 3, column 11.
  auto path = dir.write("bad.toml",
                        "[[route]]\n"
                        "path = \"/x\"\n"
                        "handler = \"no_such_handler\"\n");
  ExitResult r = run_to_exit(kBinary, {"-t", "-c", path.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "bad.toml:3:11:"));
  EXPECT_TRUE(contains(r.err, "no_such_handler"));
}

TEST(DaemonCheck, EveryErrorOnItsOwnLine) {
  TempDir dir;
  auto path = dir.write("bad.toml",
                        "[[route]]\n"
                        "path = \"/x\"\n"
                        "handler = \"nope\"\n"
                        "\n"
                        "[[route]]\n"
                        "path = \"/y\"\n"
                        "handler = \"nope_either\"\n");
  ExitResult r = run_to_exit(kBinary, {"-t", "-c", path.string()});
  EXPECT_EQ(r.exit_code, 1);
  std::vector<std::string> err_lines = lines(r.err);
  ASSERT_EQ(err_lines.size(), 2u) << r.err;
  EXPECT_EQ(err_lines[0].rfind(path.string() + ":3:11:", 0), 0u) << err_lines[0];
  EXPECT_EQ(err_lines[1].rfind(path.string() + ":7:11:", 0), 0u) << err_lines[1];
}

TEST(DaemonCheck, BadConfigWithoutCheckExits1) {
  TempDir dir;
  auto path = dir.write("bad.toml", "[server]\nworkers = \"two\"\n");
  ExitResult r = run_to_exit(kBinary, {"-c", path.string(), "-l", "127.0.0.1:0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "bad.toml:2:"));
}

// ---------------------------------------------------------------------------------------------
// Serving

TEST(DaemonServe, ServesThenStopsCleanlyOnSigterm) {
  Daemon d(kBinary, {"-l", "127.0.0.1:0"});
  EXPECT_EQ(d.address().rfind("127.0.0.1:", 0), 0u) << d.address();
  {
    RawClient c(d.port());
    c.send(get("/plaintext"));
    HttpResponse r = c.read_response();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "Hello, World!");
    EXPECT_EQ(r.header("Server"), "lithe");
    c.send(get("/json"));
    EXPECT_EQ(c.read_response().body, R"({"message":"Hello, World!"})");
  }
  EXPECT_EQ(d.terminate(), 0) << d.stderr_text();
}

TEST(DaemonServe, SigtermWithAnIdleConnectionOpen) {
  Daemon d(kBinary, {"-l", "127.0.0.1:0"});
  RawClient c(d.port());
  c.send(get("/health"));
  EXPECT_EQ(c.read_response().body, "ok");
  EXPECT_EQ(d.terminate(), 0) << d.stderr_text();
  EXPECT_TRUE(c.is_closed());  // idle connections are closed on stop
}

TEST(DaemonServe, ConfigFileRoutesAndWorkersFlag) {
  TempDir dir;
  auto path = dir.write("app.toml", R"(
[server]
listen = ["127.0.0.1:1"]

[[route]]
path = "/app"
handler = "static"
body = "from the file"
)");
  // -l replaces the file's listen; -w its workers.
  Daemon d(kBinary, {"-c", path.string(), "-l", "127.0.0.1:0", "-w", "2"});
  for (int i = 0; i < 4; ++i) {
    RawClient c(d.port());
    c.send(get("/app") + get("/plaintext"));
    EXPECT_EQ(c.read_response().body, "from the file");
    EXPECT_EQ(c.read_response().status, 404);  // only the file's routes
  }
  EXPECT_EQ(d.terminate(), 0) << d.stderr_text();
}

// A socket listening on an ephemeral loopback port, with or without SO_REUSEPORT: returns its
// descriptor and its address as lithe's -l takes it.
std::pair<int, std::string> listen_elsewhere(bool reuseport) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd, 0);
  const int one = 1;
  if (reuseport) {
    EXPECT_EQ(::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)), 0);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof(addr);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  return {fd, "127.0.0.1:" + std::to_string(ntohs(addr.sin_port))};
}

TEST(DaemonServe, PortInUseExits2) {
  const auto [fd, address] = listen_elsewhere(false);
  ExitResult r = run_to_exit(kBinary, {"-l", address});
  ::close(fd);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, address));
}

TEST(DaemonServe, SecondServerOnTheSamePortExits2) {
  // Workers listen with SO_REUSEPORT, which alone would let a second lithe (same user) join
  // the first one's port and take half its connections without a word.
  const auto [fd, address] = listen_elsewhere(true);
  ExitResult r = run_to_exit(kBinary, {"-l", address});
  ::close(fd);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, address + ": address already in use")) << r.err;
}

// ---------------------------------------------------------------------------------------------
// Socket activation: a listening socket passed by a service manager (LISTEN_FDS) is served in
// place of binding one, and it outlives a restart with the connections queued on it.

std::string activation_config(uint16_t port) {
  return "[server]\nlisten = [\"127.0.0.1:" + std::to_string(port) +
         "\"]\nworkers = 2\n\n[[route]]\npath = \"/hello\"\nhandler = \"static\"\nbody = \"hi\"\n";
}

TEST(SocketActivation, SystemdSocketActivateStartsLitheOnTheFirstConnection) {
  const std::string activate = "/usr/bin/systemd-socket-activate";
  if (::access(activate.c_str(), X_OK) != 0)
    GTEST_SKIP() << activate << " is not installed; scripts/setup.sh installs systemd";
  TempDir dir;
  const uint16_t port = free_tcp_port();
  const auto config = dir.write("lithe.toml", activation_config(port));
  // It listens, and starts lithe with the socket when the first connection comes.
  ChildProcess manager(activate, {"-l", "127.0.0.1:" + std::to_string(port), "--fdname=http",
                                  kBinary, "-c", config.string()});
  ASSERT_TRUE(wait_until([&] { return can_connect(port); })) << manager.stderr_text();
  RawClient c(port);
  c.send(get("/hello"));
  EXPECT_EQ(c.read_response().body, "hi");
  EXPECT_TRUE(contains(manager.stderr_text(), "listening on 127.0.0.1:" + std::to_string(port) +
                                                  " (passed by the service manager)"));
  EXPECT_EQ(manager.stop(SIGTERM), 0) << manager.stderr_text();
}

TEST(SocketActivation, ARestartLosesNoConnectionAttempt) {
  // The service manager's part: a listening socket that outlives each lithe process.
  const int listening = ::socket(AF_INET, SOCK_STREAM, 0);  // inherited: no CLOEXEC
  ASSERT_GE(listening, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(sa);
  ASSERT_EQ(::bind(listening, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  ASSERT_EQ(::listen(listening, 64), 0);
  ASSERT_EQ(::getsockname(listening, reinterpret_cast<sockaddr*>(&sa), &length), 0);
  const uint16_t port = ntohs(sa.sin_port);
  TempDir dir;
  const auto config = dir.write("lithe.toml", activation_config(port));
  // As systemd starts a service: the socket as descriptor 3, LISTEN_PID naming the process.
  auto start = [&] {
    return std::make_unique<ChildProcess>(
        "/bin/sh", std::vector<std::string>{"-c",
                                            "LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=http "
                                            "exec \"$0\" -c \"$1\" 3<&" +
                                                std::to_string(listening),
                                            kBinary, config.string()});
  };
  {
    auto first = start();
    RawClient c(port);
    c.send(get("/hello"));
    EXPECT_EQ(c.read_response().body, "hi");
    EXPECT_EQ(first->stop(SIGTERM), 0) << first->stderr_text();
  }
  // No lithe runs: these connect and send all the same, and wait in the socket's queue.
  std::vector<std::unique_ptr<RawClient>> waiting;
  for (int i = 0; i < 8; ++i) {
    waiting.push_back(std::make_unique<RawClient>(port));
    waiting.back()->send(get("/hello"));
  }
  auto second = start();
  for (auto& c : waiting) EXPECT_EQ(c->read_response().body, "hi");
  EXPECT_EQ(second->stop(SIGTERM), 0) << second->stderr_text();
  ::close(listening);
}

TEST(SocketActivation, APassedSocketNoListenAddressNamesIsRefused) {
  const int listening = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listening, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listening, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  ASSERT_EQ(::listen(listening, 8), 0);
  TempDir dir;
  const auto config = dir.write("lithe.toml", activation_config(free_tcp_port()));
  ChildProcess p(
      "/bin/sh",
      {"-c", "LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" -c \"$1\" 3<&" + std::to_string(listening),
       kBinary, config.string()});
  EXPECT_EQ(p.wait_exit(10s), 2);
  EXPECT_TRUE(contains(p.stderr_text(), "matches no listen address"));
  ::close(listening);
}

}  // namespace
}  // namespace lithe::test
