// The `static` templating, `redirect` and `echo` handlers over a real socket: what a client sees
// for every option and mode, and their config errors as `lithe -t` prints them.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <charconv>
#include <string>
#include <vector>

#include "harness.hpp"

#ifndef LITHE_BINARY
#error "LITHE_BINARY must name the lithe executable"
#endif

namespace lithe::test {
namespace {

constexpr const char* kConfig = R"(
[[route]]
path = "/hello/{name}"
handler = "static"
body = "Hello, {name}!"

[[route]]
path = "/html/{name}"
handler = "static"
content_type = "text/html; charset=utf-8"
body = "<p title='{name}'>{name}</p>"

[[route]]
path = "/json/{id}"
handler = "static"
status = 201
content_type = "application/json"
headers = { X-Template = "yes" }
body = '{"id":"{id}","n":[1,{"k":"{{id}"}]}'

[[route]]
path = "/rest/{a}/*rest"
handler = "static"
body = "a={a} rest={rest}"

[[route]]
path = "/fixed/{name}"
handler = "static"
body = "literal {{name} and { name }"

[[route]]
path = "/r/old/{id}"
handler = "redirect"
location = "/new/{id}?{query}"
status = 301

[[route]]
path = "/r/default"
handler = "redirect"
location = "https://example.com/x"

[[route]]
path = "/r/303"
handler = "redirect"
location = "/see-other"
status = 303

[[route]]
path = "/r/307"
handler = "redirect"
location = "/temporary?{query}"
status = 307

[[route]]
path = "/r/308/*rest"
handler = "redirect"
location = "https://example.com/{rest}?from=old&{query}"
status = 308

[[route]]
path = "/echo"
methods = ["*"]
handler = "echo"

[[route]]
path = "/echo/headers"
methods = ["*"]
handler = "echo"
mode = "headers"

[[route]]
path = "/echo/json"
methods = ["*"]
handler = "echo"
mode = "json"
)";

std::string hex(std::size_t n) {
  char buf[20];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n, 16);
  (void)ec;
  return std::string(buf, end);
}

class Handlers : public ::testing::Test {
 protected:
  HttpResponse get_one(std::string_view target, std::string_view extra = "") {
    RawClient c(server_.port());
    c.send(get(target, extra));
    return c.read_response();
  }
  HttpResponse post_one(std::string_view target, std::string_view body,
                        std::string_view extra = "") {
    RawClient c(server_.port());
    c.send(post(target, body, extra));
    return c.read_response();
  }

  TestServer server_{kConfig};
};

// ---------------------------------------------------------------------------------------------
// static templating

TEST_F(Handlers, StaticPlainTextTakesTheDecodedParam) {
  HttpResponse r = get_one("/hello/%3Cb%3E%20%26%20%C3%A9");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "Hello, <b> & é!");
  EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(r.header("Content-Length"), std::to_string(r.body.size()));
  EXPECT_EQ(r.header("Server"), "lithe");
  EXPECT_TRUE(r.has_header("Date"));
}

TEST_F(Handlers, StaticHtmlEscapesTheParam) {
  HttpResponse r = get_one("/html/%3Cscript%3Ealert(%22x%22)%26'y'%3C%2Fscript%3E");
  EXPECT_EQ(r.status, 200);
  const std::string escaped = "&lt;script&gt;alert(&quot;x&quot;)&amp;&#39;y&#39;&lt;/script&gt;";
  EXPECT_EQ(r.body, "<p title='" + escaped + "'>" + escaped + "</p>");
  EXPECT_EQ(r.header("Content-Type"), "text/html; charset=utf-8");
}

TEST_F(Handlers, StaticJsonEscapesQuotesBackslashesAndControls) {
  HttpResponse r = get_one("/json/a%22b%5Cc%0Ad%01e%09");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, R"({"id":"a\"b\\c\nd\u0001e\t","n":[1,{"k":"{id}"}]})");
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_EQ(r.header("X-Template"), "yes");
  simdjson::dom::parser parser;
  std::string_view id;
  ASSERT_EQ(parser.parse(r.body)["id"].get(id), simdjson::SUCCESS);
  EXPECT_EQ(std::string(id),
            "a\"b\\c\nd\x01"
            "e\t");
}

TEST_F(Handlers, StaticRestParamAndLiteralBraces) {
  HttpResponse r = get_one("/rest/x/one/two%20three");
  EXPECT_EQ(r.body, "a=x rest=one/two three");
  r = get_one("/fixed/abc");
  EXPECT_EQ(r.body, "literal {name} and { name }");
}

TEST_F(Handlers, StaticTemplateHeadAndPipelining) {
  RawClient c(server_.port());
  // Three templated responses of different lengths in one batch: each body is its own.
  c.send(get("/hello/a") + request("HEAD", "/hello/bbbb") +
         get("/hello/" + std::string(3000, 'c')));
  HttpResponse a = c.read_response();
  HttpResponse head = c.read_response(true);
  HttpResponse big = c.read_response();
  EXPECT_EQ(a.body, "Hello, a!");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(head.header("Content-Length"), "12");
  EXPECT_EQ(big.body, "Hello, " + std::string(3000, 'c') + "!");
  EXPECT_TRUE(c.buffered().empty());
}

// ---------------------------------------------------------------------------------------------
// redirect

TEST_F(Handlers, RedirectWithParamAndQuery) {
  HttpResponse r = get_one("/r/old/a%20b?x=1&y=%2F");
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.reason, "Moved Permanently");
  EXPECT_EQ(r.header("Location"), "/new/a%20b?x=1&y=%2F");
  EXPECT_EQ(r.body, "Redirecting to /new/a%20b?x=1&y=%2F\n");
  EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
}

TEST_F(Handlers, RedirectDropsTheDanglingQuestionMark) {
  EXPECT_EQ(get_one("/r/old/7").header("Location"), "/new/7");
  EXPECT_EQ(get_one("/r/old/7?").header("Location"), "/new/7");
  EXPECT_EQ(get_one("/r/307").header("Location"), "/temporary");
  EXPECT_EQ(get_one("/r/307?a=b").header("Location"), "/temporary?a=b");
  EXPECT_EQ(get_one("/r/308/p").header("Location"), "https://example.com/p?from=old");
}

TEST_F(Handlers, RedirectReencodesDecodedParams) {
  // Decoded CR LF, '/', '?', '%' and non-ASCII go back to %XX: nothing can split the header or
  // change the URI's structure.
  HttpResponse r = get_one("/r/old/x%0D%0ASet-Cookie:%20a%2Fb%3Fc%25%C3%A9");
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.header("Location"), "/new/x%0D%0ASet-Cookie:%20a%2Fb%3Fc%25%C3%A9");
  EXPECT_FALSE(r.has_header("Set-Cookie"));
  r = get_one("/r/308/dir/file%20name%3F?q=1");
  EXPECT_EQ(r.status, 308);
  EXPECT_EQ(r.header("Location"), "https://example.com/dir/file%20name%3F?from=old&q=1");
}

TEST_F(Handlers, RedirectStatuses) {
  HttpResponse r = get_one("/r/default");
  EXPECT_EQ(r.status, 302);
  EXPECT_EQ(r.header("Location"), "https://example.com/x");
  EXPECT_EQ(r.body, "Redirecting to https://example.com/x\n");
  r = get_one("/r/303");
  EXPECT_EQ(r.status, 303);
  EXPECT_EQ(r.header("Location"), "/see-other");
  EXPECT_EQ(get_one("/r/307?z").status, 307);
  EXPECT_EQ(get_one("/r/308/a").status, 308);
  RawClient c(server_.port());
  c.send(request("HEAD", "/r/old/1?q"));
  r = c.read_response(true);
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.header("Location"), "/new/1?q");
  EXPECT_EQ(r.header("Content-Length"),
            std::to_string(std::string("Redirecting to /new/1?q\n").size()));
}

// ---------------------------------------------------------------------------------------------
// echo

TEST_F(Handlers, EchoBodyWithContentLength) {
  HttpResponse r = post_one("/echo", "hello, body", "Content-Type: text/x-thing; a=b\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello, body");
  EXPECT_EQ(r.header("Content-Type"), "text/x-thing; a=b");
  r = post_one("/echo", std::string("\0\x01\xff", 3));
  EXPECT_EQ(r.body, std::string("\0\x01\xff", 3));
  EXPECT_EQ(r.header("Content-Type"), "application/octet-stream");
  r = get_one("/echo");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.header("Content-Length"), "0");
}

TEST_F(Handlers, EchoBodyChunkedAndLarge) {
  RawClient c(server_.port());
  c.send(request("PUT", "/echo", "Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n") +
         "5\r\nhello\r\n1\r\n,\r\n6\r\n world\r\n0\r\n\r\n");
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.body, "hello, world");
  EXPECT_EQ(r.header("Content-Type"), "text/plain");
  EXPECT_FALSE(r.has_header("Transfer-Encoding"));
  // Large enough to arrive in several reads; the connection keeps going afterwards.
  std::string big(200 * 1024, 'x');
  for (std::size_t i = 0; i < big.size(); i += 97) big[i] = static_cast<char>('a' + i % 26);
  c.send(post("/echo", big));
  r = c.read_response();
  EXPECT_EQ(r.body.size(), big.size());
  EXPECT_TRUE(r.body == big);
  c.send(get("/hello/again"));
  EXPECT_EQ(c.read_response().body, "Hello, again!");
}

TEST_F(Handlers, EchoHeadersInArrivalOrder) {
  RawClient c(server_.port());
  c.send(
      "GET /echo/headers HTTP/1.1\r\nHost: test\r\nX-B: 2\r\nx-a: 1\r\nX-B:  3 \r\n"
      "Accept: */*\r\n\r\n");
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "Host: test\nX-B: 2\nx-a: 1\nX-B: 3\nAccept: */*\n");
  EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
}

TEST_F(Handlers, EchoJsonDescribesTheRequest) {
  const std::string body = R"( {"n": [1, -2.5E+3, 1e2, true, null], "s": "\u00e9\n", "o": {}} )";
  HttpResponse r = post_one("/echo/json?a=1&b", body, "Content-Type: application/json\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_EQ(r.body,
            R"({"method":"POST","target":"/echo/json?a=1&b","path":"/echo/json","query":"a=1&b",)"
            R"("headers":[["Host","test"],["Content-Type","application/json"],)"
            R"(["Content-Length",")" +
                std::to_string(body.size()) +
                R"("]],)"
                R"("body":{"n":[1,-2.5E+3,1e2,true,null],"s":"é\n","o":{}}})");
  simdjson::dom::parser parser;
  EXPECT_EQ(parser.parse(r.body).error(), simdjson::SUCCESS) << r.body;
}

TEST_F(Handlers, EchoJsonEmptyBodyIsNull) {
  HttpResponse r = get_one("/echo/json", "X-Dup: 1\r\nX-Dup: 2\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"method":"GET","target":"/echo/json","path":"/echo/json","query":"",)"
                    R"("headers":[["Host","test"],["X-Dup","1"],["X-Dup","2"]],"body":null})");
}

TEST_F(Handlers, EchoJsonNestedAndChunked) {
  RawClient c(server_.port());
  std::string doc = R"({"a":{"b":{"c":[[[{"d":"deep"}]]]}},"e":[{},[],""]})";
  std::string chunked;
  for (std::size_t i = 0; i < doc.size(); i += 7) {
    std::string piece = doc.substr(i, 7);
    chunked += hex(piece.size()) + "\r\n" + piece + "\r\n";
  }
  c.send(request("POST", "/echo/json", "Transfer-Encoding: chunked\r\n") + chunked + "0\r\n\r\n");
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 200);
  auto at = r.body.find("\"body\":");
  ASSERT_NE(at, std::string::npos) << r.body;
  EXPECT_EQ(r.body.substr(at + 7), doc + "}");
}

TEST_F(Handlers, EchoJsonInvalidIs400WithOffset) {
  RawClient c(server_.port());
  struct Case {
    std::string body;
    std::string expected_start;
  };
  const std::vector<Case> cases = {
      {R"({"a":1,})", "invalid JSON body at byte 7: TAPE_ERROR: "},
      {"[1,2", "invalid JSON body at byte 4: INCOMPLETE_ARRAY_OR_OBJECT: "},
      {"nul", "invalid JSON body at byte 0: N_ATOM_ERROR: "},
      {R"({"k": "a\q"})", "invalid JSON body at byte 8: STRING_ERROR: "},
      {"[1] [2]", "invalid JSON body at byte 4: TRAILING_CONTENT: "},
      {std::string(65, '[') + std::string(65, ']'),
       "invalid JSON body at byte 64: DEPTH_ERROR: too deep"},
  };
  // One connection: a handler's 400 is an answer, not a parse error, so the connection lives on.
  for (const Case& k : cases) {
    c.send(post("/echo/json", k.body, "Content-Type: application/json\r\n"));
    HttpResponse r = c.read_response();
    EXPECT_EQ(r.status, 400) << k.body;
    EXPECT_EQ(r.body.rfind(k.expected_start, 0), 0u) << k.body << " → " << r.body;
    EXPECT_EQ(r.body.back(), '\n');
    EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
    EXPECT_FALSE(r.has_header("Connection"));
  }
  c.send(post("/echo/json", "[1]"));
  EXPECT_EQ(c.read_response().status, 200);
}

// ---------------------------------------------------------------------------------------------
// Config errors, as the daemon's -t prints them (FILE:LINE:COL: message)

TEST(HandlersConfig, ErrorsNameLineAndColumn) {
  TempDir dir;
  auto path = dir.write("bad.toml",
                        "[[route]]\n"
                        "path = \"/u/{id}\"\n"
                        "handler = \"static\"\n"
                        "body = \"user {user}\"\n"
                        "\n"
                        "[[route]]\n"
                        "path = \"/r\"\n"
                        "handler = \"redirect\"\n"
                        "location = \"/x\"\n"
                        "status = 200\n"
                        "\n"
                        "[[route]]\n"
                        "path = \"/e\"\n"
                        "handler = \"echo\"\n"
                        "mode = \"yaml\"\n"
                        "\n"
                        "[[route]]\n"
                        "path = \"/r2/{id}\"\n"
                        "handler = \"redirect\"\n"
                        "location = \"/y/{ID}\"\n");
  ExitResult r = run_to_exit(LITHE_BINARY, {"-t", "-c", path.string()});
  EXPECT_EQ(r.exit_code, 1);
  const std::string file = path.string();
  EXPECT_NE(r.err.find(file + ":4:8: placeholder '{user}' in body names no parameter of route "
                              "path '/u/{id}'"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(file + ":10:10: route option 'status' of a redirect must be 301, 302, "
                              "303, 307 or 308"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(file + ":15:8: route option 'mode' of echo must be"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(file + ":20:12: placeholder '{ID}' in 'location' names no parameter"),
            std::string::npos)
      << r.err;
}

TEST(HandlersConfig, InProcessCheckThrows) {
  lithe::Server server(
      lithe::parse_config("[[route]]\npath = \"/a\"\nhandler = \"redirect\"\n", "inline.toml"));
  try {
    server.check();
    ADD_FAILURE() << "a redirect without location passed the check";
  } catch (const lithe::ConfigErrors& e) {
    ASSERT_EQ(e.errors().size(), 1u);
    EXPECT_EQ(e.errors()[0].to_string(),
              "inline.toml:3:11: handler 'redirect' needs a 'location' option");
  }
}

}  // namespace
}  // namespace lithe::test
