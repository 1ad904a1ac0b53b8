// bench/load/app.sh's application on lithe, embedded: POST /api/echo sums an order's items,
// GET /plaintext answers "Hello, World!" (routes, 1 worker and no access log in lithe_app.toml).
//   lithe_app PORT [--co] [-c CONFIG]   (CONFIG: bench/app/lithe_app.toml of the source tree)
// --co registers the echo handler as a coroutine (Server::handle_co) doing the same work.
#include <boost/asio/awaitable.hpp>
#include <charconv>
#include <cstdio>
#include <lithe/server.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "order_summary.hpp"

#ifndef LITHE_APP_TOML
#define LITHE_APP_TOML "lithe_app.toml"
#endif

namespace {

// The same work as the other servers': parse (simdjson DOM, in place), sum, answer.
void echo(const lithe::Request& req, lithe::Response& res) {
  std::optional<std::string> answer;
  try {
    answer = bench_app::summarize(req.json());
  } catch (const simdjson::simdjson_error&) {
  }
  if (answer) {
    res.json(*answer);
  } else {
    res.status(400).json(bench_app::kBadRequest);
  }
}

int usage() {
  std::fprintf(stderr, "usage: lithe_app PORT [--co] [-c CONFIG]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path = LITHE_APP_TOML;
  bool co = false;
  int port = -1;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--co") {
      co = true;
    } else if (arg == "-c" && i + 1 < argc) {
      config_path = argv[++i];
    } else {
      auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), port);
      if (ec != std::errc() || end != arg.data() + arg.size() || port < 0 || port > 65535) {
        return usage();
      }
    }
  }
  if (port < 0) return usage();

  try {
    lithe::Server server(lithe::load_config(config_path));
    lithe::ListenAddress listen;
    listen.host = "127.0.0.1";
    listen.port = static_cast<uint16_t>(port);
    listen.text = "127.0.0.1:" + std::to_string(port);
    server.override_listen({listen});

    if (co) {
      server.handle_co(
          "echo",
          [](const lithe::Request& req, lithe::Response& res) -> boost::asio::awaitable<void> {
            echo(req, res);
            co_return;
          });
    } else {
      server.handle("echo", echo);
    }
    server.handle("plaintext", [](const lithe::Request&, lithe::Response& res) {
      res.text(bench_app::kPlaintext, bench_app::kPlaintextType);
    });
    return server.run();  // blocks; SIGTERM/SIGINT stop it
  } catch (const lithe::ConfigErrors& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
