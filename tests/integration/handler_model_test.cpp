// One handler model: a handler a program registers has what the built-ins have, through the
// public Response alone: a response rendered at load (PreparedResponse), closing the connection
// after its response, and answering later through the Responder it gets from defer().
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <memory>
#include <stdexcept>
#include <string>

#include "harness.hpp"
#include "lithe/prepared.hpp"

namespace lithe::test {
namespace {

constexpr const char* kConfig = R"(
[[route]]
path = "/prepared"
handler = "prepared"
methods = ["GET", "HEAD"]
body = "fixed body"

[[route]]
path = "/large"
handler = "prepared"
body = "large"

[[route]]
path = "/closing"
handler = "closing"

[[route]]
path = "/deferred"
handler = "deferred"
)";

void register_handlers(lithe::Server& s) {
  // Rendered once per route at load, from the route's own option and the server's header.
  s.handle_factory("prepared", [](lithe::RouteOptions& o) -> lithe::Server::HandlerFn {
    std::string body = o.string("body", "");
    if (body == "large") body = std::string(100 * 1024, 'L');  // kept in a sealed memory file
    auto prepared = std::make_shared<const lithe::PreparedResponse>(
        201, "text/plain", std::move(body), lithe::PreparedResponse::Headers{{"X-Fixed", "yes"}},
        o.config().server.server_header);
    return [prepared](const lithe::Request&, lithe::Response& res) { res.prepared(*prepared); };
  });
  s.handle("closing", [](const lithe::Request&, lithe::Response& res) {
    res.text("bye");
    res.close_connection();
  });
  s.handle("deferred", [](const lithe::Request&, lithe::Response& res) {
    lithe::Responder r = res.defer();
    boost::asio::post(r.io(), [r]() mutable {
      r.response().text("answered later");
      r.send();
    });
  });
}

class HandlerModel : public ::testing::Test {
 protected:
  TestServer server{kConfig, register_handlers};
};

TEST_F(HandlerModel, APreparedResponseIsSentAsRenderedWithDateAdded) {
  RawClient c(server.port());
  c.send(get("/prepared"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "fixed body");
  EXPECT_EQ(r.header("X-Fixed"), "yes");
  EXPECT_EQ(r.header("Content-Type"), "text/plain");
  EXPECT_EQ(r.header("Server"), "lithe");
  EXPECT_TRUE(r.has_header("Date"));

  c.send(request("HEAD", "/prepared"));
  HttpResponse h = c.read_response(true);
  EXPECT_EQ(h.status, 201);
  EXPECT_EQ(h.header("Content-Length"), "10");
  EXPECT_EQ(h.body, "");

  c.send(get("/large"));  // a body from the sealed file, on the same connection
  HttpResponse l = c.read_response();
  EXPECT_EQ(l.body, std::string(100 * 1024, 'L'));
}

TEST_F(HandlerModel, CloseConnectionEndsTheConnectionAfterTheResponse) {
  RawClient c(server.port());
  c.send(get("/closing"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.body, "bye");
  EXPECT_EQ(r.header("Connection"), "close");
  EXPECT_TRUE(c.is_closed());
}

TEST_F(HandlerModel, DeferFromTheResponseAnswersLaterInOrder) {
  RawClient c(server.port());
  c.send(get("/deferred") + get("/prepared"));
  EXPECT_EQ(c.read_response().body, "answered later");
  EXPECT_EQ(c.read_response().body, "fixed body");
}

// The request accessors a handler reads (SPEC §10): a decoded query parameter, a cookie, and
// the client as the access log names it, behind a trusted proxy or not.
TEST(RequestAccessors, QueryParamCookieAndClientAddressReachTheHandler) {
  TestServer server{R"(
[proxy]
trusted = ["127.0.0.1/32"]

[[route]]
path = "/who"
handler = "who"
)",
                    [](lithe::Server& s) {
                      s.handle("who", [](const lithe::Request& req, lithe::Response& res) {
                        res.text(std::string(req.query_param("name")) + "|" +
                                 std::string(req.cookie("session")) + "|" +
                                 std::string(req.client_address()));
                      });
                    }};
  RawClient c(server.port());
  c.send(get("/who?name=J%C3%BCrgen+K", "Cookie: theme=dark; session=\"s3cr3t\"\r\n"));
  EXPECT_EQ(c.read_response().body, "J\xC3\xBCrgen K|s3cr3t|127.0.0.1");
  c.send(get("/who", "X-Forwarded-For: 198.51.100.7\r\n"));  // from a trusted peer
  EXPECT_EQ(c.read_response().body, "||198.51.100.7");
}

// Routes from code (SPEC §10): beside the file's, with the same precedence, the same duplicate
// check (a config error naming the call), and kept by a reload of the file.
constexpr const char* kFileRoutes = R"(
[[route]]
path = "/items/{id}"
handler = "static"
body = "from the file"
)";

void register_code_routes(lithe::Server& s) {
  s.handle("newest", [](const lithe::Request&, lithe::Response& res) { res.text("from code"); });
  s.route({"GET", "POST"}, "/items/new", "newest");
}

TEST(CodeRoutes, ServeBesideTheFilesWithTheSamePrecedence) {
  TestServer server{kFileRoutes, register_code_routes};
  RawClient c(server.port());
  c.send(get("/items/new"));  // an exact segment beats the file's {id}, wherever it was declared
  EXPECT_EQ(c.read_response().body, "from code");
  c.send(post("/items/new", "x"));
  EXPECT_EQ(c.read_response().body, "from code");
  c.send(get("/items/7"));
  EXPECT_EQ(c.read_response().body, "from the file");
}

TEST(CodeRoutes, AClashIsAConfigErrorAtTheCall) {
  lithe::Server server(lithe::parse_config(kFileRoutes, "app.toml"));
  server.handle("other", [](const lithe::Request&, lithe::Response&) {});
  const int line = __LINE__ + 1;
  server.route({"GET"}, "/items/{id}", "other");
  try {
    server.check();
    FAIL() << "a duplicate route passed check()";
  } catch (const lithe::ConfigErrors& e) {
    const std::string at = std::string(__FILE__) + ":" + std::to_string(line) + ":";
    EXPECT_NE(std::string(e.what()).find(at), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("duplicate route: GET /items/{id}"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(server.route({"FETCH"}, "/x", "other"), std::invalid_argument);
}

TEST(CodeRoutes, AReloadOfTheFileKeepsThem) {
  TempDir dir;
  const std::string listen = "[server]\nlisten = [\"127.0.0.1:0\"]\n";
  const auto file = dir.write("app.toml", listen + kFileRoutes);
  TestServer server(lithe::load_config(file.string()), register_code_routes);
  dir.write("app.toml",
            listen + kFileRoutes +
                "\n[[route]]\npath = \"/added\"\nhandler = \"static\"\nbody = \"added\"\n");
  EXPECT_TRUE(server.server().reload());
  RawClient c(server.port());
  c.send(get("/added"));
  EXPECT_EQ(c.read_response().body, "added");
  c.send(get("/items/new"));
  EXPECT_EQ(c.read_response().body, "from code");
}

}  // namespace
}  // namespace lithe::test
