// A small JSON API on lithe (README, "Application guide"): a coroutine handler that waits on
// another service (a timer stands in for it), middleware for authentication and security
// headers, CORS for a browser front end, request IDs, and a route declared in code.
//   lithe_example_app [app.toml]     (the token is $APP_TOKEN, or "secret")
#include <simdjson.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <lithe/server.hpp>
#include <string>

namespace {

using boost::asio::awaitable;

// Stands in for a call to another service: the stock check takes a few milliseconds.
awaitable<void> check_stock() {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor,
                                  std::chrono::milliseconds(2));
  co_await timer.async_wait(boost::asio::use_awaitable);
}

// POST /api/orders {"items":[{"sku":"a","qty":2,"price":3.5},...]}
//   -> 201 {"order":"<request id>","items":1,"total":7}
awaitable<void> create_order(const lithe::Request& req, lithe::Response& res) {
  double total = 0;
  std::size_t items = 0;
  try {
    for (simdjson::dom::element item : req.json()["items"].get_array()) {
      total += double(item["qty"].get_int64()) * double(item["price"]);
      ++items;
    }
  } catch (const simdjson::simdjson_error& e) {
    res.status(400).json(std::string(R"({"error":")") + e.what() + "\"}");
    co_return;
  }
  co_await check_stock();  // req and res stay valid across the wait
  char body[160];
  std::snprintf(body, sizeof body, R"({"order":"%.*s","items":%zu,"total":%g})",
                static_cast<int>(req.request_id().size()), req.request_id().data(), items, total);
  res.status(201).json(body);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    lithe::Server server(lithe::load_config(argc > 1 ? argv[1] : "app.toml"));
    const char* env_token = std::getenv("APP_TOKEN");
    const std::string expected = std::string("Bearer ") + (env_token ? env_token : "secret");

    server.handle_co("create_order", create_order);
    server.handle("show_order", [](const lithe::Request& req, lithe::Response& res) {
      res.json(R"({"order":")" + std::string(req.param("id")) + R"(","state":"packed"})");
    });
    // Declared here rather than in the file: the load balancer's check, always on.
    server.route({"GET"}, "/healthz", "health");

    // Around every request: headers a browser should see on every answer.
    server.use({.before = {}, .after = [](const lithe::Request&, lithe::Response& res) {
                  res.header("X-Content-Type-Options", "nosniff");
                }});
    // For the routes that list it: no valid token, no handler.
    server.use("auth", {.before =
                            [expected](const lithe::Request& req, lithe::Response& res) {
                              if (req.header("authorization") == expected) return false;
                              res.status(401).json(R"({"error":"unauthorized"})");
                              res.header("WWW-Authenticate", "Bearer");
                              return true;
                            },
                        .after = {}});

    return server.run();  // blocks; SIGTERM/SIGINT stop it
  } catch (const lithe::ConfigErrors& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
