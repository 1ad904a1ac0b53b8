// Serves one route from a handler of its own, asks it once over a socket, and prints the answer:
// the smallest program that proves an installed lithe compiles, links and serves.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <lithe/coro.hpp>
#include <lithe/server.hpp>
#include <lithe/version.hpp>
#include <string>
#include <thread>

namespace {

// One GET over a fresh connection (Connection: close), the whole answer as text.
std::string get(const std::string& address, const std::string& path) {
  const std::size_t colon = address.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  ::inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) return "";
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  if (::send(fd, request.data(), request.size(), 0) < 0) return "";
  std::string answer;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;) answer.append(buf, n);
  ::close(fd);
  return answer;
}

}  // namespace

int main() {
  lithe::Server server(lithe::parse_config(R"(
[server]
listen = ["127.0.0.1:0"]
workers = 1

[[route]]
path = "/hello/{name}"
handler = "hello"
)",
                                           "consumer.toml"));
  server.handle("hello", [](const lithe::Request& req, lithe::Response& res) {
    res.text("hello " + std::string(req.param("name")) + " from lithe " + lithe::library_version() +
             "\n");
  });
  // A coroutine on a route declared in code: the installed headers carry the whole API.
  server.handle_co("later", [](const lithe::Request&, lithe::Response& res)
                                -> boost::asio::awaitable<void> {
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor,
                                    std::chrono::milliseconds(1));
    co_await timer.async_wait(boost::asio::use_awaitable);
    res.text("later\n");
  });
  server.route({"GET"}, "/later", "later");
  std::thread serving([&] { server.run(); });
  const std::vector<std::string> bound = server.wait_bound();
  const std::string answer = bound.empty() ? "" : get(bound.front(), "/hello/consumer");
  const std::string later = bound.empty() ? "" : get(bound.front(), "/later");
  server.stop();
  serving.join();
  std::fputs(answer.c_str(), stdout);
  std::fputs(later.c_str(), stdout);
  return answer.find("\r\n\r\nhello consumer from lithe ") == std::string::npos ||
         later.find("\r\n\r\nlater\n") == std::string::npos;
}
