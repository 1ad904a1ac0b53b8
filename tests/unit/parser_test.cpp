// The parser adapter: requests fed whole, at every split point, and across separate buffers
// must produce the same request; errors name the status SPEC §4 gives.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/exchange.hpp"

namespace lithe::http {
namespace {

// What a parsed request looks like, copied out so it can be compared after the buffers die.
struct Parsed {
  std::string method, target, path, query, body;
  unsigned major = 0, minor = 0;
  bool keep_alive = false;
  std::vector<std::pair<std::string, std::string>> headers;
  bool operator==(const Parsed&) const = default;
};

Parsed snapshot(const RequestImpl& r) {
  Parsed p{std::string(r.method()), std::string(r.target()), std::string(r.path()),
           std::string(r.query()),  std::string(r.body()),   r.version_major(),
           r.version_minor(),       r.keep_alive(),          {}};
  for (const auto& h : r.headers()) p.headers.emplace_back(h.name, h.value);
  return p;
}

std::ostream& operator<<(std::ostream& os, const Parsed& p) {
  os << p.method << ' ' << p.target << " [" << p.path << "?" << p.query << "] HTTP/" << p.major
     << '.' << p.minor << (p.keep_alive ? " keep-alive" : " close") << " body=" << p.body.size();
  for (const auto& [n, v] : p.headers) os << " {" << n << ": " << v << "}";
  return os;
}

// Feeds `pieces` one after another (each its own buffer, kept alive) and collects every request.
std::vector<Parsed> parse_pieces(const std::vector<std::string>& pieces, uint16_t* error = nullptr,
                                 std::size_t max_headers = 100) {
  Exchange ex(max_headers);
  ex.parser.start(ex.request);
  std::vector<Parsed> out;
  for (const std::string& piece : pieces) {
    std::size_t pos = 0;
    while (pos < piece.size()) {
      auto r = ex.parser.feed(piece.data() + pos, piece.size() - pos);
      pos += r.consumed;
      if (r.status == RequestParser::Status::error) {
        if (error) *error = r.error_status;
        return out;
      }
      if (r.status == RequestParser::Status::need_more) break;
      out.push_back(snapshot(ex.request));
      ex.next();
    }
  }
  return out;
}

const std::vector<std::string> corpus = {
    "GET /plaintext HTTP/1.1\r\nHost: localhost:8080\r\n\r\n",
    "GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: h\r\nUser-Agent: test/1.0\r\nAccept: */*\r\n"
    "X-Empty:\r\nX-Spaces:   padded value  \r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\n"
    "hello world",
    "POST /chunked HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5\r\nhello\r\n6\r\n world\r\n0\r\nTrailer-Field: x\r\n\r\n",
    "GET / HTTP/1.0\r\n\r\n",
    "GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "GET /close HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET http://example.com/abs/path?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "DELETE /items/42 HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
};

TEST(ParserTest, ParsesCorpusWhole) {
  auto got = parse_pieces({corpus[1]});
  ASSERT_EQ(got.size(), 1u);
  const Parsed& p = got[0];
  EXPECT_EQ(p.method, "GET");
  EXPECT_EQ(p.target, "/a/b?x=1&y=%20");
  EXPECT_EQ(p.path, "/a/b");
  EXPECT_EQ(p.query, "x=1&y=%20");
  EXPECT_EQ(p.major, 1u);
  EXPECT_EQ(p.minor, 1u);
  EXPECT_TRUE(p.keep_alive);
  ASSERT_EQ(p.headers.size(), 5u);
  EXPECT_EQ(p.headers[1], (std::pair<std::string, std::string>{"User-Agent", "test/1.0"}));
  EXPECT_EQ(p.headers[3], (std::pair<std::string, std::string>{"X-Empty", ""}));
  EXPECT_EQ(p.headers[4], (std::pair<std::string, std::string>{"X-Spaces", "padded value"}));
}

TEST(ParserTest, BodiesContentLengthAndChunked) {
  auto cl = parse_pieces({corpus[2]});
  ASSERT_EQ(cl.size(), 1u);
  EXPECT_EQ(cl[0].body, "hello world");
  auto chunked = parse_pieces({corpus[3]});
  ASSERT_EQ(chunked.size(), 1u);
  EXPECT_EQ(chunked[0].body, "hello world");
}

TEST(ParserTest, KeepAliveRules) {
  EXPECT_FALSE(parse_pieces({corpus[4]}).at(0).keep_alive);  // HTTP/1.0 default
  EXPECT_TRUE(parse_pieces({corpus[5]}).at(0).keep_alive);   // HTTP/1.0 asked
  EXPECT_FALSE(parse_pieces({corpus[6]}).at(0).keep_alive);  // Connection: close
}

TEST(ParserTest, AsteriskAndAbsoluteForm) {
  EXPECT_EQ(parse_pieces({corpus[7]}).at(0).path, "*");
  auto abs = parse_pieces({corpus[8]}).at(0);
  EXPECT_EQ(abs.path, "/abs/path");
  EXPECT_EQ(abs.query, "q=1");
  EXPECT_EQ(abs.target, "http://example.com/abs/path?q=1");
}

// Every split point, in one stable buffer (how the connection reads) and in two separate
// buffers (fields joined in the arena): always the same request.
TEST(ParserTest, EverySplitPointGivesTheSameRequest) {
  for (const std::string& req : corpus) {
    const Parsed whole = parse_pieces({req}).at(0);
    for (std::size_t k = 1; k < req.size(); ++k) {
      auto two = parse_pieces({req.substr(0, k), req.substr(k)});
      ASSERT_EQ(two.size(), 1u) << "split at " << k << " of " << req;
      EXPECT_EQ(two[0], whole) << "split at " << k;
    }
  }
}

TEST(ParserTest, ByteAtATime) {
  for (const std::string& req : corpus) {
    std::vector<std::string> bytes;
    for (char c : req) bytes.emplace_back(1, c);
    auto got = parse_pieces(bytes);
    ASSERT_EQ(got.size(), 1u) << req;
    EXPECT_EQ(got[0], parse_pieces({req}).at(0));
  }
}

TEST(ParserTest, PipelinedRequestsInOneBufferAtEverySplit) {
  std::string all;
  std::vector<Parsed> expected;
  for (int i = 0; i < 3; ++i) {
    all += corpus[static_cast<std::size_t>(i + 1)];
    expected.push_back(parse_pieces({corpus[static_cast<std::size_t>(i + 1)]}).at(0));
  }
  EXPECT_EQ(parse_pieces({all}), expected);
  for (std::size_t k = 1; k < all.size(); ++k)
    EXPECT_EQ(parse_pieces({all.substr(0, k), all.substr(k)}), expected) << "split at " << k;
}

// The connection compacts its buffer mid-request; rebase must keep every view right.
TEST(ParserTest, RebaseAfterCompaction) {
  const std::string req = corpus[1];
  for (std::size_t k = 1; k < req.size(); ++k) {
    std::string buf(1024, '\0');
    const std::size_t offset = 100;  // the request starts here, then moves to 0
    req.copy(buf.data() + offset, k);
    Exchange ex(100);
    ex.parser.start(ex.request);
    auto r = ex.parser.feed(buf.data() + offset, k);
    ASSERT_EQ(r.status, RequestParser::Status::need_more);
    buf.replace(0, k, buf, offset, k);
    std::fill(buf.begin() + static_cast<std::ptrdiff_t>(k), buf.end(), 'X');  // stale bytes
    ex.request.rebase(buf.data() + offset, buf.data() + offset + k,
                      -static_cast<std::ptrdiff_t>(offset));
    req.copy(buf.data() + k, req.size() - k, k);
    r = ex.parser.feed(buf.data() + k, req.size() - k);
    ASSERT_EQ(r.status, RequestParser::Status::complete) << k;
    EXPECT_EQ(snapshot(ex.request), parse_pieces({req}).at(0)) << "split at " << k;
  }
}

TEST(ParserTest, PinCopiesViewsOutOfTheBuffer) {
  std::string buf = corpus[2];
  Exchange ex(100);
  ex.parser.start(ex.request);
  ASSERT_EQ(ex.parser.feed(buf.data(), buf.size() - 3).status, RequestParser::Status::need_more);
  ex.request.pin();
  std::string rest = buf.substr(buf.size() - 3);
  std::fill(buf.begin(), buf.end(), 'Z');  // the read buffer is reused
  ASSERT_EQ(ex.parser.feed(rest.data(), rest.size()).status, RequestParser::Status::complete);
  EXPECT_EQ(ex.request.target(), "/echo");
  EXPECT_EQ(ex.request.header("content-type"), "text/plain");
  EXPECT_EQ(ex.request.body(), "hello world");
}

TEST(ParserTest, HeaderLookupIsCaseInsensitive) {
  Exchange ex(100);
  ex.parser.start(ex.request);
  const std::string req = corpus[1];
  ASSERT_EQ(ex.parser.feed(req.data(), req.size()).status, RequestParser::Status::complete);
  EXPECT_EQ(ex.request.header("user-agent"), "test/1.0");
  EXPECT_EQ(ex.request.header("USER-AGENT"), "test/1.0");
  EXPECT_TRUE(ex.request.has_header("x-empty"));
  EXPECT_FALSE(ex.request.has_header("x-missing"));
}

TEST(ParserTest, QueryParamsAreFormDecoded) {
  Exchange ex(100);
  ex.parser.start(ex.request);
  const std::string req =
      "GET /s?q=a+b%26c&empty=&flag&n%61me=%E2%9C%93&q=second&bad=%zz HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(ex.parser.feed(req.data(), req.size()).status, RequestParser::Status::complete);
  const lithe::Request& r = ex.request;
  EXPECT_EQ(r.query_param("q"), "a b&c");  // the first of two
  EXPECT_EQ(r.query_param("empty"), "");
  EXPECT_EQ(r.query_param("flag"), "");
  EXPECT_EQ(r.query_param("name"), "\xE2\x9C\x93");  // the name is decoded too
  EXPECT_EQ(r.query_param("bad"), "%zz");            // a malformed escape stays as sent
  EXPECT_EQ(r.query_param("missing"), "");
  EXPECT_EQ(r.query(), "q=a+b%26c&empty=&flag&n%61me=%E2%9C%93&q=second&bad=%zz");  // untouched
}

TEST(ParserTest, CookiesByName) {
  Exchange ex(100);
  ex.parser.start(ex.request);
  const std::string req =
      "GET / HTTP/1.1\r\nHost: x\r\nCookie: session=abc123; theme=\"dark\";lang=en\r\n"
      "cookie: extra=1\r\n\r\n";
  ASSERT_EQ(ex.parser.feed(req.data(), req.size()).status, RequestParser::Status::complete);
  const lithe::Request& r = ex.request;
  EXPECT_EQ(r.cookie("session"), "abc123");
  EXPECT_EQ(r.cookie("theme"), "dark");
  EXPECT_EQ(r.cookie("lang"), "en");
  EXPECT_EQ(r.cookie("extra"), "1");  // a second Cookie header
  EXPECT_EQ(r.cookie("sess"), "");
  EXPECT_EQ(r.cookie("missing"), "");
}

TEST(ParserTest, MalformedRequestLineIs400) {
  uint16_t status = 0;
  EXPECT_TRUE(parse_pieces({"GARBAGE\r\n\r\n"}, &status).empty());
  EXPECT_EQ(status, 400);
}

TEST(ParserTest, TooManyHeadersIs431) {
  Exchange ex(3);
  ex.parser.start(ex.request);
  std::string req = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
  auto r = ex.parser.feed(req.data(), req.size());
  EXPECT_EQ(r.status, RequestParser::Status::error);
  EXPECT_EQ(r.error_status, 431);
}

// The field past the limit is refused once llhttp accepts its name, at every split: a name
// llhttp rejects is a 400 whether or not a read ended inside it (the fuzzer found 431 for a
// read ending there, 400 for the whole).
TEST(ParserTest, FieldPastTheLimitGetsTheSameStatusAtEverySplit) {
  const std::string valid = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nCname: 3\r\n\r\n";
  const std::string invalid = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC(me: 3\r\n\r\n";
  for (const auto& [req, expected] : {std::pair{valid, 431}, std::pair{invalid, 400}}) {
    for (std::size_t k = 0; k <= req.size(); ++k) {
      uint16_t status = 0;
      parse_pieces({req.substr(0, k), req.substr(k)}, &status, 3);
      EXPECT_EQ(status, expected) << "split at " << k << " of " << req;
    }
  }
}

// The same for trailers: past header_section a trailer field is refused once llhttp accepts it,
// so a name or value llhttp rejects is a 400 wherever a read ended inside it (the fuzzer found
// 431 for a read ending inside an over-long trailer name that llhttp then rejected, 400 for the
// whole).
TEST(ParserTest, TrailerPastTheLimitGetsTheSameStatusAtEverySplit) {
  const std::string start =
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"
      "X-T: " +
      std::string(ParserLimits{}.header_section - 10, 'a') + "\r\n";
  const std::string b(50, 'b');
  const std::pair<std::string, uint16_t> cases[] = {
      {start + b + ": v\r\n\r\n", 431},                              // a valid name past the limit
      {start + b + "(: v\r\n\r\n", 400},                             // a name llhttp rejects
      {start + "Y: " + b + std::string(1, '\0') + "\r\n\r\n", 400},  // a value llhttp rejects
  };
  for (const auto& [req, expected] : cases) {
    for (std::size_t k = start.size() - 8; k <= req.size(); ++k) {
      uint16_t status = 0;
      parse_pieces({req.substr(0, k), req.substr(k)}, &status);
      EXPECT_EQ(status, expected) << "split at " << k << " of " << req.size();
    }
  }
}

}  // namespace
}  // namespace lithe::http

namespace lithe::http {
namespace {

// A pooled parser is reused by the next connection after a failed request: nothing of the old
// stream may leak into the new one (it once left a trailer pointer that looked like obs-fold).
TEST(ParserTest, PooledParserStartsCleanAfterAnError) {
  Exchange ex(20);
  ParserLimits limits{1024, 64, 1024};
  const std::string bad =
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: " +
      std::string(100, 'a') + "\r\n\r\n";
  ex.parser.start(ex.request, limits);
  auto r = ex.parser.feed(bad.data(), bad.size());
  ASSERT_EQ(r.status, RequestParser::Status::error);
  EXPECT_EQ(r.error_status, 431);
  ex.next();
  const std::string good =
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: "
      "abcdef\r\n\r\n";
  for (std::size_t k = 1; k < good.size(); ++k) {
    ex.parser.start(ex.request, limits);
    auto first = ex.parser.feed(good.data(), k);
    ASSERT_NE(first.status, RequestParser::Status::error) << "split at " << k;
    if (first.status == RequestParser::Status::complete) continue;
    auto second = ex.parser.feed(good.data() + k, good.size() - k);
    ASSERT_EQ(second.status, RequestParser::Status::complete) << "split at " << k;
    EXPECT_EQ(ex.request.body(), "abc");
    ex.next();
  }
}

}  // namespace
}  // namespace lithe::http
