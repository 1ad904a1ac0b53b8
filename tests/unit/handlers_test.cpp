// The `static` (templated), `redirect` and `echo` handlers called directly: built from config
// text through the registry, answering a hand-made request, their response rendered to bytes.
// Also the template splitter and escapers, and a steady-state allocation check per handler.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <list>
#include <new>
#include <string>
#include <vector>

#include "base/text.hpp"
#include "handlers/handler.hpp"
#include "handlers/template.hpp"
#include "http/output.hpp"
#include "http/request.hpp"
#include "http/response_writer.hpp"
#include "lithe/config.hpp"

// Counts allocations made by this thread while armed (gtest's own are outside the windows).
namespace {
thread_local bool t_counting = false;
thread_local std::size_t t_allocations = 0;
void* counted(std::size_t n) {
  if (t_counting) ++t_allocations;
  void* p = std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  return p;
}
}  // namespace

// clang-format off
void* operator new(std::size_t n) { return counted(n); }
void* operator new[](std::size_t n) { return counted(n); }
// The nothrow forms too (std::stable_sort's buffer), so that every delete below pairs with them.
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try { return counted(n); } catch (...) { return nullptr; }
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
// clang-format on

namespace lithe::handlers {
namespace {

// ---------------------------------------------------------------------------------------------
// Helpers

// A request assembled by hand; its strings live as long as it does, the body with the padding
// simdjson reads past its end.
class FakeRequest : public lithe::Request {
 public:
  // With a Host header, and a Content-Type and body when given.
  FakeRequest(std::string_view method, std::string_view target, std::string_view content_type = "",
              std::string_view body = "") {
    header_store_.reserve(32);
    headers_ = header_store_.data();
    params_ = param_store_;
    this->method(method).target(target).header("Host", "test");
    if (!content_type.empty()) header("Content-Type", content_type);
    this->body(body);
  }

  FakeRequest& method(std::string_view m) {
    method_ = keep(m);
    return *this;
  }
  FakeRequest& target(std::string_view t) {
    target_ = keep(t);
    auto q = target_.find('?');
    path_ = target_.substr(0, q);
    query_ = q == std::string_view::npos ? std::string_view() : target_.substr(q + 1);
    return *this;
  }
  FakeRequest& header(std::string_view name, std::string_view value) {
    header_store_.push_back({keep(name), keep(value)});
    header_count_ = static_cast<uint16_t>(header_store_.size());
    return *this;
  }
  FakeRequest& param(std::string_view name, std::string_view decoded_value) {
    param_store_[param_count_++] = {keep(name), keep(decoded_value)};
    return *this;
  }
  // The body followed by SIMDJSON_PADDING copies of pad (the server's padding holds whatever
  // the read buffer held: often the next pipelined request).
  FakeRequest& padded_body(std::string_view b, char pad) {
    body_store_.assign(b);
    body_store_.append(simdjson::SIMDJSON_PADDING, pad);
    body_ = std::string_view(body_store_).substr(0, b.size());
    return *this;
  }
  FakeRequest& body(std::string_view b) {
    body_store_.reserve(b.size() + simdjson::SIMDJSON_PADDING);
    body_store_.assign(b);
    body_ = body_store_;
    return *this;
  }

 private:
  std::string_view keep(std::string_view s) { return strings_.emplace_back(s); }

  std::list<std::string> strings_;
  std::vector<Header> header_store_;
  PathParam param_store_[16];
  std::string body_store_;
};

// A response as a client would parse it.
struct Reply {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool prepared = false;

  std::string header(std::string_view name) const {
    for (const auto& [n, v] : headers)
      if (n == name) return v;
    return "<absent>";
  }
};

Reply parse_reply(const std::string& wire) {
  Reply r;
  auto head_end = wire.find("\r\n\r\n");
  r.status = std::stoi(wire.substr(9, 3));
  std::size_t line = wire.find("\r\n") + 2;
  while (line < head_end) {
    auto eol = wire.find("\r\n", line);
    auto colon = wire.find(": ", line);
    r.headers.emplace_back(wire.substr(line, colon - line),
                           wire.substr(colon + 2, eol - colon - 2));
    line = eol + 2;
  }
  r.body = wire.substr(head_end + 4);
  return r;
}

// A handler built from one [[route]] table, with the errors its factory reported.
struct Built {
  Config config;
  std::unique_ptr<Handler> handler;
  std::vector<std::string> errors;  // "LINE:COL: message"

  Reply call(const FakeRequest& req) const {
    http::Arena arena;
    http::ResponseImpl res(arena);
    handler->handle(req, res);
    http::OutputBuffer out;
    http::render(res, {"Date: x\r\n", "Server: lithe\r\n", true, false, false, {}, {}}, out);
    out.seal();
    std::string wire;
    for (int i = 0; i < out.iov_count(); ++i)
      wire.append(static_cast<const char*>(out.iov()[i].iov_base), out.iov()[i].iov_len);
    Reply r = parse_reply(wire);
    r.prepared = res.prepared_response() != nullptr;
    return r;
  }
};

Built build(const std::string& route_toml, const std::string& source = "t.toml") {
  Built b;
  b.config = parse_config("[[route]]\n" + route_toml, source);
  Registry registry;
  ServerState state;
  std::vector<ConfigError> errors;
  Options options(b.config, b.config.routes.at(0), errors);
  BuildContext ctx{options, state};
  const Factory* factory = registry.find(b.config.routes[0].handler);
  EXPECT_NE(factory, nullptr);
  if (factory) b.handler = (*factory)(ctx);
  for (const auto& e : errors)
    b.errors.push_back(std::to_string(e.pos.line) + ":" + std::to_string(e.pos.column) + ": " +
                       e.message);
  return b;
}

// A handler that must build cleanly.
Built ok(const std::string& route_toml) {
  Built b = build(route_toml);
  EXPECT_TRUE(b.errors.empty()) << b.errors.front();
  return b;
}

std::string only_error(const std::string& route_toml) {
  Built b = build(route_toml);
  if (b.errors.size() != 1) {
    ADD_FAILURE() << b.errors.size() << " errors for:\n" << route_toml;
    return {};
  }
  return b.errors[0];
}

FakeRequest get(std::string_view target) {
  return FakeRequest("GET", target);
}

// Allocations made by count further calls after two warm-up calls (which grow the per-thread
// buffers, the arena and the JSON parser to their working size).
std::size_t steady_allocations(const Handler& handler, const FakeRequest& req, int count = 50) {
  http::Arena arena;
  http::ResponseImpl res(arena);
  auto& h = const_cast<Handler&>(handler);
  for (int i = 0; i < 2; ++i) {
    h.handle(req, res);
    res.reset();
    arena.reset();
  }
  t_allocations = 0;
  t_counting = true;
  for (int i = 0; i < count; ++i) {
    h.handle(req, res);
    res.reset();
    arena.reset();
  }
  t_counting = false;
  return t_allocations;
}

// ---------------------------------------------------------------------------------------------
// Template splitting and escaping

std::string show(const std::vector<TemplatePart>& parts) {
  std::string s;
  for (const auto& p : parts)
    s += (p.placeholder ? "<" + p.text + ">" : "[" + p.text + "]") + "@" + std::to_string(p.offset);
  return s;
}

TEST(TemplateTest, SplitsAtPlaceholders) {
  EXPECT_EQ(show(parse_template("Hello {name}!")), "[Hello ]@0<name>@6[!]@12");
  EXPECT_EQ(show(parse_template("{a}{b_2}")), "<a>@0<b_2>@3");
  EXPECT_EQ(show(parse_template("")), "");
  EXPECT_EQ(show(parse_template("plain")), "[plain]@0");
}

TEST(TemplateTest, OnlyBracedNamesArePlaceholders) {
  for (std::string_view text :
       {R"({"a": 1})", "{ x }", "{}", "{a-b}", "{", "}", "x{", "{a", "{{ mustache }}", "{é}"}) {
    auto parts = parse_template(text);
    EXPECT_EQ(show(parts), "[" + std::string(text) + "]@0") << text;
  }
  EXPECT_EQ(show(parse_template(R"({"id":"{id}"})")), R"([{"id":"]@0<id>@7["}]@11)");
}

TEST(TemplateTest, DoubledOpeningBraceWritesTheNameLiterally) {
  EXPECT_EQ(show(parse_template("{{id}")), "[{id}]@0");
  EXPECT_EQ(show(parse_template("a {{id} b {id}")), "[a {id} b ]@0<id>@10");
  EXPECT_EQ(show(parse_template("{{id}}")), "[{id}}]@0");
  EXPECT_EQ(show(parse_template("{{{id}")), "[{{id}]@0");
}

TEST(TemplateTest, RouteParams) {
  auto p = route_params("/users/{id}/files/*rest");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].name, "id");
  EXPECT_FALSE(p[0].rest);
  EXPECT_EQ(p[1].name, "rest");
  EXPECT_TRUE(p[1].rest);
  EXPECT_TRUE(route_params("/").empty());
  EXPECT_TRUE(route_params("/a/b").empty());
}

TEST(TemplateTest, EscapeByContentType) {
  EXPECT_EQ(body_escape_for("text/html"), BodyEscape::html);
  EXPECT_EQ(body_escape_for("Text/HTML; charset=utf-8"), BodyEscape::html);
  EXPECT_EQ(body_escape_for("image/svg+xml"), BodyEscape::html);
  EXPECT_EQ(body_escape_for("application/xml"), BodyEscape::html);
  EXPECT_EQ(body_escape_for("application/json"), BodyEscape::json);
  EXPECT_EQ(body_escape_for(" application/problem+json ;x=y"), BodyEscape::json);
  EXPECT_EQ(body_escape_for("text/plain; charset=utf-8"), BodyEscape::raw);
  EXPECT_EQ(body_escape_for("text/htmlx"), BodyEscape::raw);
  EXPECT_EQ(body_escape_for(""), BodyEscape::raw);
}

TEST(TemplateTest, HtmlEscaping) {
  std::string out;
  append_html_escaped(out, R"(<script>alert("x") & 'y'</script>)");
  EXPECT_EQ(out, "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;");
  out.clear();
  append_html_escaped(out, "plain é");
  EXPECT_EQ(out, "plain é");
}

TEST(TemplateTest, JsonEscaping) {
  std::string out;
  append_json_escaped(out, std::string("q\" b\\ n\n r\r t\t \x01 \x1f \x7f \0 é", 25));
  EXPECT_EQ(out, R"(q\" b\\ n\n r\r t\t \u0001 \u001F \u007F \u0000 é)");
  out.clear();
  // Bytes that are not UTF-8 cannot appear in JSON text.
  append_json_escaped(out,
                      "a\xff"
                      "b\xe2\x82"
                      "c\xc0\x80");
  EXPECT_EQ(out, R"(a\ufffdb\ufffd\ufffdc\ufffd\ufffd)");
}

TEST(TemplateTest, Utf8SequenceLength) {
  EXPECT_EQ(base::utf8_sequence_length("a", 0), 1u);
  EXPECT_EQ(base::utf8_sequence_length("\xc3\xa9", 0), 2u);
  EXPECT_EQ(base::utf8_sequence_length("\xe2\x82\xac", 0), 3u);
  EXPECT_EQ(base::utf8_sequence_length("\xf0\x9f\x98\x80", 0), 4u);
  EXPECT_EQ(base::utf8_sequence_length("\xc0\xaf", 0), 0u);          // overlong
  EXPECT_EQ(base::utf8_sequence_length("\xe0\x80\xaf", 0), 0u);      // overlong
  EXPECT_EQ(base::utf8_sequence_length("\xed\xa0\x80", 0), 0u);      // surrogate
  EXPECT_EQ(base::utf8_sequence_length("\xf4\x90\x80\x80", 0), 0u);  // beyond U+10FFFF
  EXPECT_EQ(base::utf8_sequence_length("\x80", 0), 0u);
  EXPECT_EQ(base::utf8_sequence_length("\xe2\x82", 0), 0u);  // truncated
}

TEST(TemplateTest, UriEncodingByContext) {
  auto enc = [](std::string_view s, UriContext c) {
    std::string out;
    append_uri_encoded(out, s, c);
    return out;
  };
  const std::string nasty = std::string("a b\r\n\"<>\\^`{|}\x7f\xc3\xa9", 17);
  const std::string always = "a%20b%0D%0A%22%3C%3E%5C%5E%60%7B%7C%7D%7F%C3%A9";
  for (auto c : {UriContext::text, UriContext::segment, UriContext::path, UriContext::query})
    EXPECT_EQ(enc(nasty, c), always);
  EXPECT_EQ(enc("/a%2F?x=1&y#f[]+", UriContext::text), "/a%2F?x=1&y#f[]+");
  EXPECT_EQ(enc("/a%2F?x=1&y#f[]+", UriContext::segment), "%2Fa%252F%3Fx=1&y%23f%5B%5D+");
  EXPECT_EQ(enc("/a%2F?x=1&y#f[]+", UriContext::path), "/a%252F%3Fx=1&y%23f%5B%5D+");
  EXPECT_EQ(enc("/a%2F?x=1&y#f[]+", UriContext::query), "/a%252F?x%3D1%26y%23f%5B%5D%2B");
}

// ---------------------------------------------------------------------------------------------
// static

TEST(StaticTest, BodyWithoutPlaceholdersStaysPrepared) {
  Built b = ok("path = \"/x\"\nhandler = \"static\"\nbody = \"Hello, World!\"\n");
  Reply r = b.call(get("/x"));
  EXPECT_TRUE(r.prepared);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "Hello, World!");
  EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
}

TEST(StaticTest, JsonBraceBodiesAreNotTemplates) {
  Built b = ok(R"(path = "/x/{id}"
handler = "static"
content_type = "application/json"
body = '{"a": {"b": [1, {}]}, "c": "{ id }"}'
)");
  Reply r = b.call(get("/x/1").param("id", "1"));
  EXPECT_TRUE(r.prepared);
  EXPECT_EQ(r.body, R"({"a": {"b": [1, {}]}, "c": "{ id }"})");
}

TEST(StaticTest, EscapedPlaceholderIsLiteralAndStillPrepared) {
  Built b = ok("path = \"/x/{id}\"\nhandler = \"static\"\nbody = \"use {{id} here\"\n");
  Reply r = b.call(get("/x/7").param("id", "7"));
  EXPECT_TRUE(r.prepared);
  EXPECT_EQ(r.body, "use {id} here");
}

TEST(StaticTest, PlainTextParamIsRaw) {
  Built b = ok("path = \"/hello/{name}\"\nhandler = \"static\"\nbody = \"Hello, {name}!\"\n");
  Reply r = b.call(get("/hello/%3Cb%3E").param("name", "<b> & 'q'"));
  EXPECT_FALSE(r.prepared);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "Hello, <b> & 'q'!");
  EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(r.header("Content-Length"), std::to_string(r.body.size()));
}

TEST(StaticTest, HtmlParamIsEscaped) {
  Built b = ok(R"(path = "/p/{name}"
handler = "static"
content_type = "text/html; charset=utf-8"
body = "<p title='{name}'>{name}</p>"
)");
  Reply r = b.call(get("/p/x").param("name", "<script>\"x\"&'y'</script>"));
  EXPECT_EQ(r.body,
            "<p title='&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;'>"
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;</p>");
  EXPECT_EQ(r.header("Content-Type"), "text/html; charset=utf-8");
}

TEST(StaticTest, JsonParamIsEscapedInsideItsString) {
  Built b = ok(R"(path = "/j/{id}"
handler = "static"
content_type = "application/json"
body = '{"id":"{id}"}'
)");
  const std::string value = std::string("a\"b\\c\nd\x01\xff");
  Reply r = b.call(get("/j/x").param("id", value));
  EXPECT_EQ(r.body, R"({"id":"a\"b\\c\nd\u0001\ufffd"})");
  simdjson::dom::parser parser;
  std::string_view id;
  ASSERT_EQ(parser.parse(r.body)["id"].get(id), simdjson::SUCCESS);
  EXPECT_EQ(std::string(id), "a\"b\\c\nd\x01\xef\xbf\xbd");
}

TEST(StaticTest, StatusHeadersAndRestParam) {
  Built b = ok(R"(path = "/f/{a}/*rest"
handler = "static"
status = 404
content_type = "text/plain"
headers = { X-One = "1", Cache-Control = "no-store" }
body = "no {a} at {rest}"
)");
  Reply r = b.call(get("/f/x/y/z").param("a", "x").param("rest", "y/z"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "no x at y/z");
  EXPECT_EQ(r.header("X-One"), "1");
  EXPECT_EQ(r.header("Cache-Control"), "no-store");
  EXPECT_EQ(r.header("Content-Type"), "text/plain");
  EXPECT_EQ(r.header("Server"), "lithe");
}

TEST(StaticTest, UnknownPlaceholderIsAConfigErrorAtTheBody) {
  EXPECT_EQ(only_error("path = \"/u/{id}\"\nhandler = \"static\"\nbody = \"user {idd}\"\n"),
            "4:8: placeholder '{idd}' in body names no parameter of route path '/u/{id}' "
            "(write '{{idd}' for the literal text)");
  // One error per unknown name; known ones pass.
  Built b = build("path = \"/\"\nhandler = \"static\"\nbody = \"{a} {b}\"\n");
  EXPECT_EQ(b.errors.size(), 2u);
}

TEST(StaticTest, ContentTypeWithControlCharacterIsAnError) {
  EXPECT_EQ(only_error("path = \"/\"\nhandler = \"static\"\nbody = \"x\"\n"
                       "content_type = \"text/html\\r\\nX-Evil: 1\"\n"),
            "5:16: route option 'content_type' has a control character");
}

TEST(StaticTest, BodyFileIsATemplateToo) {
  auto dir =
      std::filesystem::temp_directory_path() / ("lithe_handlers_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "page.html") << "<h1>{name}</h1>\n";
  std::ofstream(dir / "bad.html") << "line one\nline {two}\n";
  std::string source = (dir / "t.toml").string();
  Built b = build(
      "path = \"/p/{name}\"\nhandler = \"static\"\ncontent_type = \"text/html\"\n"
      "body_file = \"page.html\"\n",
      source);
  ASSERT_TRUE(b.errors.empty()) << b.errors.front();
  EXPECT_EQ(b.call(get("/p/x").param("name", "a<b")).body, "<h1>a&lt;b</h1>\n");
  Built bad =
      build("path = \"/p/{name}\"\nhandler = \"static\"\nbody_file = \"bad.html\"\n", source);
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_EQ(bad.errors[0],
            "4:13: placeholder '{two}' in body_file 'bad.html' (line 2) names no parameter of "
            "route path '/p/{name}' (write '{{two}' for the literal text)");
  std::filesystem::remove_all(dir);
}

TEST(StaticTest, NoHeapAllocationPerRequest) {
  Built b = ok(R"(path = "/p/{name}"
handler = "static"
content_type = "text/html"
headers = { X-A = "1" }
body = "<p>{name}</p>"
)");
  FakeRequest req = get("/p/x");
  req.param("name", std::string(300, '<'));
  EXPECT_EQ(steady_allocations(*b.handler, req), 0u);
}

// ---------------------------------------------------------------------------------------------
// redirect

TEST(RedirectTest, FixedLocationIsPrepared) {
  Built b = ok("path = \"/old\"\nhandler = \"redirect\"\nlocation = \"/new\"\n");
  Reply r = b.call(get("/old"));
  EXPECT_TRUE(r.prepared);
  EXPECT_EQ(r.status, 302);
  EXPECT_EQ(r.header("Location"), "/new");
  EXPECT_EQ(r.body, "Redirecting to /new\n");
  EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
}

TEST(RedirectTest, EveryRedirectStatus) {
  for (int status : {301, 302, 303, 307, 308}) {
    Built b =
        ok("path = \"/old/{id}\"\nhandler = \"redirect\"\nlocation = \"/new/{id}\"\n"
           "status = " +
           std::to_string(status) + "\n");
    Reply r = b.call(get("/old/1").param("id", "1"));
    EXPECT_EQ(r.status, status);
    EXPECT_EQ(r.header("Location"), "/new/1");
  }
}

TEST(RedirectTest, InvalidStatusIsAnErrorAtTheValue) {
  for (std::string status : {"200", "300", "304", "305", "309", "\"301\""}) {
    EXPECT_EQ(only_error("path = \"/a\"\nhandler = \"redirect\"\nlocation = \"/b\"\nstatus = " +
                         status + "\n"),
              "5:10: route option 'status' of a redirect must be 301, 302, 303, 307 or 308")
        << status;
  }
}

TEST(RedirectTest, LocationIsRequired) {
  EXPECT_EQ(only_error("path = \"/a\"\nhandler = \"redirect\"\n"),
            "3:11: handler 'redirect' needs a 'location' option");
  EXPECT_EQ(only_error("path = \"/a\"\nhandler = \"redirect\"\nlocation = \"\"\n"),
            "4:12: route option 'location' must not be empty");
  EXPECT_EQ(only_error("path = \"/a\"\nhandler = \"redirect\"\nlocation = \"/b\"\nbody = \"x\"\n"),
            "5:1: unknown option 'body' for handler 'redirect'");
}

TEST(RedirectTest, ParamsArePercentEncoded) {
  Built b = ok(R"(path = "/old/{id}/*rest"
handler = "redirect"
location = "/new/{id}/{rest}?id={id}"
)");
  Reply r = b.call(get("/old/x/y").param("id", "a b/c?d%\r\n\xc3\xa9&=+").param("rest", "x y/z?#"));
  EXPECT_EQ(
      r.header("Location"),
      "/new/a%20b%2Fc%3Fd%25%0D%0A%C3%A9&=+/x%20y/z%3F%23?id=a%20b/c?d%25%0D%0A%C3%A9%26%3D%2B");
  EXPECT_EQ(r.body, "Redirecting to " + r.header("Location") + "\n");
}

TEST(RedirectTest, QueryPlaceholder) {
  Built b = ok("path = \"/old\"\nhandler = \"redirect\"\nlocation = \"/new?{query}\"\n");
  EXPECT_EQ(b.call(get("/old?a=1&b=%20")).header("Location"), "/new?a=1&b=%20");
  // An empty query drops the '?' it would leave dangling.
  EXPECT_EQ(b.call(get("/old")).header("Location"), "/new");
  EXPECT_EQ(b.call(get("/old?")).header("Location"), "/new");
  Built amp = ok("path = \"/old\"\nhandler = \"redirect\"\nlocation = \"/new?x=1&{query}#top\"\n");
  EXPECT_EQ(amp.call(get("/old?y=2")).header("Location"), "/new?x=1&y=2#top");
  EXPECT_EQ(amp.call(get("/old")).header("Location"), "/new?x=1#top");
  // Raw query bytes a URI cannot hold are still encoded.
  EXPECT_EQ(b.call(get("/old?q=\"<x>\"")).header("Location"), "/new?q=%22%3Cx%3E%22");
}

TEST(RedirectTest, LiteralTextIsEncodedAtLoad) {
  Built b = ok("path = \"/old\"\nhandler = \"redirect\"\nlocation = \"/a b/é?x={{y}\"\n");
  Reply r = b.call(get("/old"));
  EXPECT_TRUE(r.prepared);
  EXPECT_EQ(r.header("Location"), "/a%20b/%C3%A9?x=%7By%7D");
}

TEST(RedirectTest, PlaceholderErrors) {
  EXPECT_EQ(only_error("path = \"/a/{id}\"\nhandler = \"redirect\"\nlocation = \"/b/{di}\"\n"),
            "4:12: placeholder '{di}' in 'location' names no parameter of route path '/a/{id}' "
            "(nor '{query}')");
  EXPECT_EQ(
      only_error("path = \"/a/{query}\"\nhandler = \"redirect\"\nlocation = \"/b?{query}\"\n"),
      "4:12: '{query}' in 'location' is ambiguous: the route path has a parameter named "
      "'query' too");
}

TEST(RedirectTest, NoHeapAllocationPerRequest) {
  Built b = ok(R"(path = "/old/{id}"
handler = "redirect"
location = "https://example.com/new/{id}?{query}"
status = 308
)");
  FakeRequest req = get("/old/x?a=b");
  req.param("id", "some id with spaces");
  EXPECT_EQ(steady_allocations(*b.handler, req), 0u);
}

// ---------------------------------------------------------------------------------------------
// echo

FakeRequest post(std::string_view body, std::string_view content_type = "") {
  return FakeRequest("POST", "/echo?x=1", content_type, body);
}

const char* const echo_route = "path = \"/echo\"\nmethods = [\"*\"]\nhandler = \"echo\"\n";

Built echo(std::string_view mode) {
  return ok(std::string(echo_route) + "mode = \"" + std::string(mode) + "\"\n");
}

TEST(EchoTest, BodyModeIsTheDefault) {
  Built b = ok(echo_route);
  Reply r = b.call(post(std::string_view("a\0b", 3), "application/x-thing"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, std::string("a\0b", 3));
  EXPECT_EQ(r.header("Content-Type"), "application/x-thing");
  r = b.call(post("raw"));
  EXPECT_EQ(r.header("Content-Type"), "application/octet-stream");
  r = b.call(post(""));
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.header("Content-Length"), "0");
}

TEST(EchoTest, HeadersModeListsEveryLineInOrder) {
  Built b = echo("headers");
  FakeRequest req = get("/echo");
  req.header("X-B", "2").header("x-a", "1").header("X-B", "3").header("Empty", "");
  Reply r = b.call(req);
  EXPECT_EQ(r.body, "Host: test\nX-B: 2\nx-a: 1\nX-B: 3\nEmpty: \n");
  EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
}

TEST(EchoTest, JsonModeDescribesTheRequest) {
  Built b = echo("json");
  FakeRequest req = post(R"( { "a" : [1, -2.5e3, true, false, null, "x\n\u00e9\"" ], "b": {} } )",
                         "application/json");
  req.header("X-Q", "say \"hi\"");
  Reply r = b.call(req);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_EQ(r.body, R"({"method":"POST","target":"/echo?x=1","path":"/echo","query":"x=1",)"
                    R"("headers":[["Host","test"],["Content-Type","application/json"],)"
                    R"(["X-Q","say \"hi\""]],)"
                    R"("body":{"a":[1,-2.5e3,true,false,null,"x\né\""],"b":{}}})");
  simdjson::dom::parser parser;
  EXPECT_EQ(parser.parse(r.body).error(), simdjson::SUCCESS);
}

TEST(EchoTest, JsonModeScalarsAndEmptyBody) {
  Built b = echo("json");
  auto body_of = [&](std::string_view in) {
    Reply r = b.call(post(in));
    EXPECT_EQ(r.status, 200) << in << " → " << r.body;
    auto at = r.body.find("\"body\":");
    return r.body.substr(at + 7, r.body.size() - at - 8);
  };
  EXPECT_EQ(body_of(""), "null");
  EXPECT_EQ(body_of("null"), "null");
  EXPECT_EQ(body_of(" 42 "), "42");
  EXPECT_EQ(body_of("\"s\""), "\"s\"");
  EXPECT_EQ(body_of("true"), "true");
  EXPECT_EQ(body_of("[]"), "[]");
  EXPECT_EQ(body_of("{\"\":{}}"), "{\"\":{}}");
  EXPECT_EQ(body_of("18446744073709551616"), "18446744073709551616");
  EXPECT_EQ(body_of("[18446744073709551616, 1]"), "[18446744073709551616,1]");
  EXPECT_EQ(body_of("[\"\\ud83d\\ude00\"]"), "[\"\xf0\x9f\x98\x80\"]");
  EXPECT_EQ(body_of("{\"k\\\"ey\":\"\\u0001\"}"), "{\"k\\\"ey\":\"\\u0001\"}");
}

// "LINE" of the 400 body: the error name and offset, as "NAME@OFFSET".
std::string json_error(const Built& b, std::string_view body) {
  Reply r = b.call(post(body));
  if (r.status != 400) return "status " + std::to_string(r.status) + ": " + r.body;
  EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
  const std::string prefix = "invalid JSON body at byte ";
  if (r.body.rfind(prefix, 0) != 0 || r.body.back() != '\n') return "bad message: " + r.body;
  auto colon = r.body.find(": ", prefix.size());
  auto name_end = r.body.find(": ", colon + 2);
  return r.body.substr(colon + 2, name_end - colon - 2) + "@" +
         r.body.substr(prefix.size(), colon - prefix.size());
}

TEST(EchoTest, InvalidJsonIs400WithErrorAndOffset) {
  Built b = echo("json");
  EXPECT_EQ(json_error(b, R"({"a":1,})"), "TAPE_ERROR@7");
  EXPECT_EQ(json_error(b, "[1,2"), "INCOMPLETE_ARRAY_OR_OBJECT@4");
  EXPECT_EQ(json_error(b, "nul"), "N_ATOM_ERROR@0");
  EXPECT_EQ(json_error(b, "[nul]"), "N_ATOM_ERROR@1");
  EXPECT_EQ(json_error(b, "tru"), "T_ATOM_ERROR@0");
  EXPECT_EQ(json_error(b, "[true, fals]"), "F_ATOM_ERROR@7");
  EXPECT_EQ(json_error(b, R"({"a":1 "b":2})"), "TAPE_ERROR@7");
  EXPECT_EQ(json_error(b, R"({"a"})"), "TAPE_ERROR@4");
  EXPECT_EQ(json_error(b, "[1,,2]"), "TAPE_ERROR@3");
  EXPECT_EQ(json_error(b, R"({"a":[1,2})"), "TAPE_ERROR@9");
  EXPECT_EQ(json_error(b, "  [1, 2 x]"), "TAPE_ERROR@8");
  EXPECT_EQ(json_error(b, "[01]"), "NUMBER_ERROR@1");
  EXPECT_EQ(json_error(b, "[1, 1.2.3]"), "NUMBER_ERROR@4");
  EXPECT_EQ(json_error(b, "-"), "NUMBER_ERROR@0");
  EXPECT_EQ(json_error(b, R"({"a":1)"), "INCOMPLETE_ARRAY_OR_OBJECT@6");
  EXPECT_EQ(json_error(b, "[1,2]x"), "TRAILING_CONTENT@5");
  EXPECT_EQ(json_error(b, "{} []"), "TRAILING_CONTENT@3");
  EXPECT_EQ(json_error(b, R"({"a":1}})"), "TRAILING_CONTENT@7");
  EXPECT_EQ(json_error(b, "1 2"), "TRAILING_CONTENT@2");
  EXPECT_EQ(json_error(b, "\"a\" 1"), "TRAILING_CONTENT@4");
  EXPECT_EQ(json_error(b, R"(["ok", "a\qb"])"), "STRING_ERROR@9");
  EXPECT_EQ(json_error(b, R"({"k\x":1})"), "STRING_ERROR@3");
  EXPECT_EQ(json_error(b, R"(["\ud800"])"), "STRING_ERROR@2");
  EXPECT_EQ(json_error(b, "[\"abc]"), "UNCLOSED_STRING@1");
  EXPECT_EQ(json_error(b, "[\"a\x01\"]"), "UNESCAPED_CHARS@3");
  EXPECT_EQ(json_error(b, "[\"a\xff\"]"), "UTF8_ERROR@3");
  EXPECT_EQ(json_error(b, "  "), "EMPTY@0");
}

TEST(EchoTest, PaddingBytesAreNeverPartOfTheDocument) {
  Built b = echo("json");
  auto run = [&](std::string_view body, char pad) {
    FakeRequest req("POST", "/echo");
    req.padded_body(body, pad);
    Reply r = b.call(req);
    if (r.status != 200) return std::to_string(r.status) + " " + r.body;
    auto at = r.body.find("\"body\":");
    return r.body.substr(at + 7, r.body.size() - at - 8);
  };
  for (char pad : {'0', '}', ']', '"', ' ', 'x'}) {
    EXPECT_EQ(run("123", pad), "123") << pad;
    EXPECT_EQ(run("[1,23]", pad), "[1,23]") << pad;
    EXPECT_EQ(run("{\"a\":{}}", pad), "{\"a\":{}}") << pad;
    EXPECT_EQ(run("tru", pad).substr(0, 3), "400") << pad;
    EXPECT_EQ(run("[1,2", pad).substr(0, 3), "400") << pad;
    EXPECT_EQ(run("{\"a\":1", pad).substr(0, 3), "400") << pad;
    EXPECT_EQ(run("{\"a\":{}", pad).substr(0, 3), "400") << pad;
    EXPECT_EQ(run("\"ab", pad).substr(0, 3), "400") << pad;
  }
}

TEST(EchoTest, InvalidJsonMessageNamesTheError) {
  Built b = echo("json");
  Reply r = b.call(post(R"({"a":1,})"));
  EXPECT_EQ(r.body,
            "invalid JSON body at byte 7: TAPE_ERROR: The JSON document has an improper "
            "structure: missing or superfluous commas, braces, missing keys, etc.\n");
}

TEST(EchoTest, DepthIsBounded) {
  Built b = echo("json");
  std::string ok64 = std::string(64, '[') + std::string(64, ']');
  Reply r = b.call(post(ok64));
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"body\":" + ok64 + "}"), std::string::npos);
  // 65 levels, alternating arrays and objects: refused at the 65th opening bracket.
  std::string deep, close;
  std::size_t last_open = 0;
  for (int i = 0; i < 65; ++i) {
    last_open = deep.size();
    deep += i % 2 ? "{\"k\":" : "[";
    close.insert(close.begin(), i % 2 ? '}' : ']');
  }
  deep += close;
  EXPECT_EQ(json_error(b, deep), "DEPTH_ERROR@" + std::to_string(last_open));
  r = b.call(post(deep));
  EXPECT_NE(r.body.find("too deep"), std::string::npos) << r.body;
}

TEST(EchoTest, InvalidModeIsAnError) {
  EXPECT_EQ(only_error(std::string(echo_route) + "mode = \"xml\"\n"),
            "5:8: route option 'mode' of echo must be \"body\", \"headers\" or \"json\"");
  EXPECT_EQ(only_error(std::string(echo_route) + "mode = 1\n"),
            "5:8: route option 'mode' of echo must be \"body\", \"headers\" or \"json\"");
}

TEST(EchoTest, NoHeapAllocationPerRequest) {
  FakeRequest json_req =
      post(R"({"a":[1,2,{"b":"c\n"}],"d":null,"e":"\u00e9"})", "application/json");
  for (const char* mode : {"body", "headers", "json"})
    EXPECT_EQ(steady_allocations(*echo(mode).handler, json_req), 0u) << mode;
  FakeRequest bad = post(R"({"a":1,})");
  EXPECT_EQ(steady_allocations(*echo("json").handler, bad), 0u) << "400 path";
}

}  // namespace
}  // namespace lithe::handlers
