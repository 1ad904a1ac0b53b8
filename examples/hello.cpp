// A program embedding lithe: handlers registered from C++, routes and options from TOML.
//   hello [CONFIG]   (default: examples/hello.toml next to this file)
#include <lithe/server.hpp>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  try {
    lithe::Server server(lithe::load_config(argc > 1 ? argv[1] : "hello.toml"));

    // The plain form: one function for every route that names "hello".
    server.handle("hello", [](const lithe::Request& req, lithe::Response& res) {
      res.text("hello " + std::string(req.param("name")) + "\n");
    });

    // The factory form: each route configures its handler with its own options.
    server.handle_factory("greet", [](lithe::RouteOptions& options) {
      std::string greeting = options.string("greeting", "hello");
      bool shout = options.boolean("shout", false);
      return [greeting, shout](const lithe::Request& req, lithe::Response& res) {
        std::string text = greeting + ", " + std::string(req.param("name"));
        res.text(shout ? text + "!\n" : text + "\n");
      };
    });

    return server.run();  // blocks; SIGTERM/SIGINT stop it
  } catch (const lithe::ConfigErrors& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
