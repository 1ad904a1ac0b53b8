// Response rendering: what bytes a client receives for prepared and built responses.
#include <gtest/gtest.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

#include "http/exchange.hpp"
#include "http/response_writer.hpp"
#include "http/status.hpp"
#include "lithe/responder.hpp"

namespace lithe::http {
namespace {

constexpr std::string_view date = "Date: Wed, 25 Nov 2026 04:25:19 GMT\r\n";
constexpr std::string_view server = "Server: lithe\r\n";

std::string flatten(OutputBuffer& out) {
  out.seal();
  std::string s;
  for (int i = 0; i < out.iov_count(); ++i)
    s.append(static_cast<const char*>(out.iov()[i].iov_base), out.iov()[i].iov_len);
  return s;
}

TEST(ResponseTest, PreparedResponseAddsDateAndBlankLine) {
  PreparedResponse p(200, "text/plain; charset=utf-8", "Hello, World!", {}, "lithe");
  Exchange ex(10);
  ex.response.prepared(p);
  OutputBuffer out;
  EXPECT_EQ(render(ex.response, {date, server, true, false, false, {}, {}}, out),
            13u);  // body bytes
  EXPECT_EQ(flatten(out),
            "HTTP/1.1 200 OK\r\nServer: lithe\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 13\r\nDate: Wed, 25 Nov 2026 04:25:19 GMT\r\n\r\nHello, World!");
}

TEST(ResponseTest, HeadKeepsContentLengthAndDropsBody) {
  PreparedResponse p(200, "text/plain", "abc", {}, "");
  Exchange ex(10);
  ex.response.prepared(p);
  OutputBuffer out;
  EXPECT_EQ(render(ex.response, {date, "", true, false, true, {}, {}}, out), 0u);
  EXPECT_EQ(flatten(out),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
            "Date: Wed, 25 Nov 2026 04:25:19 GMT\r\n\r\n");
}

TEST(ResponseTest, ConnectionHeaderForCloseAndHttp10KeepAlive) {
  Exchange ex(10);
  ex.response.text("x");
  OutputBuffer close_out, ka10_out, ka11_out;
  render(ex.response, {date, server, false, false, false, {}, {}}, close_out);
  render(ex.response, {date, server, true, true, false, {}, {}}, ka10_out);
  render(ex.response, {date, server, true, false, false, {}, {}}, ka11_out);
  EXPECT_NE(flatten(close_out).find("\r\nConnection: close\r\n"), std::string::npos);
  EXPECT_NE(flatten(ka10_out).find("\r\nConnection: keep-alive\r\n"), std::string::npos);
  EXPECT_EQ(flatten(ka11_out).find("Connection:"), std::string::npos);
}

TEST(ResponseTest, BuiltResponseWithHeadersAndOwnedBody) {
  Exchange ex(10);
  ex.response.status(201).header("X-One", "1").header("Location", "/items/7");
  ex.response.text("{\"id\":7}", "application/json");
  OutputBuffer out;
  render(ex.response, {date, server, true, false, false, {}, {}}, out);
  EXPECT_EQ(flatten(out),
            "HTTP/1.1 201 Created\r\nServer: lithe\r\nDate: Wed, 25 Nov 2026 04:25:19 GMT\r\n"
            "Content-Type: application/json\r\nX-One: 1\r\nLocation: /items/7\r\n"
            "Content-Length: 8\r\n\r\n{\"id\":7}");
}

TEST(ResponseTest, NoBodyStatusesCarryNoContentLength) {
  for (int status : {204, 304}) {
    Exchange ex(10);
    ex.response.status(status);
    ex.response.text("ignored");
    OutputBuffer out;
    render(ex.response, {date, server, true, false, false, {}, {}}, out);
    std::string s = flatten(out);
    EXPECT_EQ(s.find("Content-Length"), std::string::npos) << status;
    EXPECT_EQ(s.substr(s.size() - 4), "\r\n\r\n") << status;
  }
}

TEST(ResponseTest, HeaderInjectionIsRefused) {
  Exchange ex(10);
  EXPECT_THROW(ex.response.header("X-A", "1\r\nSet-Cookie: evil"), std::invalid_argument);
  EXPECT_THROW(ex.response.header("X-A\n", "1"), std::invalid_argument);
  EXPECT_THROW(ex.response.status(1000), std::invalid_argument);
}

TEST(ResponseTest, LargeBodiesAreReferencedNotCopied) {
  std::string big(OutputBuffer::reference_threshold + 10, 'b');
  Exchange ex(10);
  ex.response.body_view(big, "application/octet-stream");
  OutputBuffer out;
  render(ex.response, {date, server, true, false, false, {}, {}}, out);
  out.seal();
  ASSERT_EQ(out.iov_count(), 2);
  EXPECT_EQ(out.iov()[1].iov_base, big.data());
  EXPECT_EQ(out.iov()[1].iov_len, big.size());
}

// A prepared body of 64 KiB or more lives in a sealed memory file and is sent with sendfile: the
// batch holds the head, then a file entry for exactly the body's bytes. Nothing can change it.
TEST(ResponseTest, LargePreparedBodiesAreSentFromASealedFile) {
  const std::string body(64 * 1024, 'b');
  PreparedResponse p(200, "text/plain", body, {}, "");
  ASSERT_GE(p.body_fd(), 0);
  EXPECT_TRUE(p.body().empty());
  EXPECT_EQ(p.body_size(), body.size());
  std::string stored(body.size() + 1, '\0');
  EXPECT_EQ(::pread(p.body_fd(), stored.data(), stored.size(), 0),
            static_cast<ssize_t>(body.size()));
  stored.resize(body.size());
  EXPECT_EQ(stored, body);
  EXPECT_LT(::pwrite(p.body_fd(), "x", 1, 0), 0);  // sealed against writes
  EXPECT_NE(::ftruncate(p.body_fd(), 1), 0);       // and against shrinking

  Exchange ex(10);
  ex.response.prepared(p);
  OutputBuffer out;
  EXPECT_EQ(render(ex.response, {date, "", true, false, false, {}, {}}, out), body.size());
  out.seal();
  ASSERT_EQ(out.iov_count(), 2);
  EXPECT_EQ(out.memory_run(), 1);             // the head
  EXPECT_EQ(out.iov()[1].iov_base, nullptr);  // then the file
  EXPECT_EQ(out.iov()[1].iov_len, body.size());

  PreparedResponse small(200, "text/plain", body.substr(1), {}, "");
  EXPECT_LT(small.body_fd(), 0);  // below the threshold a copy is cheaper than sendfile
  EXPECT_EQ(small.body().size(), body.size() - 1);
}

// server.request_id_header: after Date in every kind of response.
TEST(ResponseTest, TheRequestIdFollowsDateInEveryResponse) {
  const RenderContext ctx{date, "", true, false, false, "X-Request-Id", "4f2a"};
  PreparedResponse p(200, "text/plain", "abc", {}, "");
  Exchange ex(10);
  ex.response.prepared(p);
  OutputBuffer prepared, plain, error;
  render(ex.response, ctx, prepared);
  EXPECT_EQ(flatten(prepared),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
            "Date: Wed, 25 Nov 2026 04:25:19 GMT\r\nX-Request-Id: 4f2a\r\n\r\nabc");
  ex.next();
  ex.response.text("x");
  render(ex.response, ctx, plain);
  EXPECT_NE(flatten(plain).find("GMT\r\nX-Request-Id: 4f2a\r\nContent-Type"), std::string::npos)
      << flatten(plain);
  render_error(400, ctx, error);
  EXPECT_NE(flatten(error).find("GMT\r\nX-Request-Id: 4f2a\r\nContent-Type"), std::string::npos)
      << flatten(error);
}

// A prepared response is public API: what would split a head is refused when it is built.
TEST(ResponseTest, APreparedResponseRefusesWhatWouldSplitItsHead) {
  EXPECT_THROW(PreparedResponse(200, "text/plain", "x", {{"X-A", "1\r\nX-B: 2"}}),
               std::invalid_argument);
  EXPECT_THROW(PreparedResponse(200, "text/plain\n", "x"), std::invalid_argument);
  EXPECT_THROW(PreparedResponse(200, "text/plain", "x", {}, "lithe\r\n"), std::invalid_argument);
  EXPECT_THROW(PreparedResponse(99, "text/plain", "x"), std::invalid_argument);
  EXPECT_EQ(PreparedResponse(204, "text/plain", "ignored").head(),
            "HTTP/1.1 204 No Content\r\n"
            "Server: lithe\r\n");  // no Content-Type or Content-Length where no body may be
}

TEST(ResponseTest, PipelinedBatchKeepsOrderAndPartialWritesAdvance) {
  PreparedResponse a(200, "text/plain", "A", {}, "");
  PreparedResponse b(404, "text/plain", "B", {}, "");
  Exchange ex(10);
  OutputBuffer out;
  ex.response.prepared(a);
  render(ex.response, {date, "", true, false, false, {}, {}}, out);
  ex.response.prepared(b);
  render(ex.response, {date, "", true, false, false, {}, {}}, out);
  std::string s = flatten(out);
  auto first = s.find("HTTP/1.1 200 OK"), second = s.find("HTTP/1.1 404 Not Found");
  ASSERT_NE(second, std::string::npos);
  EXPECT_LT(first, second);
  EXPECT_EQ(s.back(), 'B');
  // Partial writes: advancing byte by byte ends exactly at the last byte.
  std::size_t total = out.pending_bytes();
  for (std::size_t i = 0; i + 1 < total; ++i) ASSERT_FALSE(out.advance(1));
  EXPECT_TRUE(out.advance(1));
}

TEST(ResponseTest, ErrorResponsesClose) {
  OutputBuffer out;
  EXPECT_EQ(render_error(400, {date, server, false, false, false, {}, {}}, out), 12u);
  EXPECT_EQ(flatten(out),
            "HTTP/1.1 400 Bad Request\r\nServer: lithe\r\nDate: Wed, 25 Nov 2026 04:25:19 GMT\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 12\r\n"
            "Connection: close\r\n\r\nBad Request\n");
}

TEST(StatusTest, LinesAndPhrases) {
  EXPECT_EQ(status_line(200), "HTTP/1.1 200 OK\r\n");
  EXPECT_EQ(status_line(431), "HTTP/1.1 431 Request Header Fields Too Large\r\n");
  EXPECT_EQ(status_line(599), "HTTP/1.1 599 Unknown\r\n");
  EXPECT_FALSE(status_has_body(204));
  EXPECT_FALSE(status_has_body(304));
  EXPECT_FALSE(status_has_body(100));
  EXPECT_TRUE(status_has_body(404));
}

// A default-constructed Responder (a member not yet assigned, say) is inert: every call is
// harmless, and io(), which has no loop to give, says so instead of dereferencing null.
TEST(ResponderTest, ADefaultResponderIsInactiveAndItsIoThrows) {
  lithe::Responder r;
  EXPECT_FALSE(r.active());
  EXPECT_EQ(r.request().method(), "");
  r.response().text("nobody");
  r.on_cancel([] {});
  r.send();
  EXPECT_THROW(r.io(), std::logic_error);
}

}  // namespace
}  // namespace lithe::http
