// examples/hello.cpp, the embedding API as documented, built and run like a user would.
#include <gtest/gtest.h>

#include "harness.hpp"

using namespace lithe::test;

namespace {
const char* const kConfig = R"(
[server]
listen = ["127.0.0.1:0"]

[[route]]
path = "/hello/{name}"
handler = "hello"

[[route]]
path = "/greet/{name}"
handler = "greet"
greeting = "good morning"
shout = true

[[route]]
path = "/plain/{name}"
handler = "greet"
)";
}  // namespace

TEST(Example, PlainAndFactoryHandlersServe) {
  TempDir dir;
  auto config = dir.write("hello.toml", kConfig);
  Daemon example(LITHE_EXAMPLE, {config.string()});
  RawClient c(example.port());
  c.send("GET /hello/w%C3%B6rld HTTP/1.1\r\nHost: t\r\n\r\n"
         "GET /greet/ann HTTP/1.1\r\nHost: t\r\n\r\n"
         "GET /plain/bob HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(c.read_response().body, "hello w\xC3\xB6rld\n");
  EXPECT_EQ(c.read_response().body, "good morning, ann!\n");
  EXPECT_EQ(c.read_response().body, "hello, bob\n");
  EXPECT_EQ(example.terminate(), 0);
}

TEST(Example, FactoryUnknownOptionIsAConfigError) {
  TempDir dir;
  auto config = dir.write("bad.toml", std::string(kConfig) + "shuot = true\n");
  ExitResult r = run_to_exit(LITHE_EXAMPLE, {config.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.toml:18:1: unknown option 'shuot' for handler 'greet'"),
            std::string::npos)
      << r.err;
}
