// The `files` handler over a socket: headers, bodies, conditionals and ranges as a client sees
// them, every traversal form sent as raw bytes, and files that change between requests.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "harness.hpp"

namespace lithe::test {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSecret = "TOP SECRET do not serve";

class FilesServer : public ::testing::Test {
 protected:
  FilesServer() : server_(make_config()) {}

  // dir/secret.txt lies beside the served root dir/public.
  std::string make_config() {
    const fs::path& base = dir_.path();
    root_ = base / "public";
    fs::create_directories(root_ / "sub");
    fs::create_directories(root_ / "empty_dir");
    dir_.write("secret.txt", kSecret);
    dir_.write("public/hello.txt", "hello world\n");
    dir_.write("public/index.html", "<h1>home</h1>");
    dir_.write("public/app.js", "console.log(1)");
    dir_.write("public/digits.txt", "0123456789");
    dir_.write("public/.env", "DOTENV=1");
    dir_.write("public/sub/index.html", "sub index");
    dir_.write("public/%2e%2e", "literal percent name");
    fs::create_symlink("hello.txt", root_ / "link.txt");
    fs::create_symlink("../secret.txt", root_ / "escape.txt");
    fs::create_symlink(base / "secret.txt", root_ / "abs.txt");
    fs::create_directory_symlink("..", root_ / "up");
    const std::string root = "root = '" + root_.string() + "'\n";
    return R"([[route]]
path = "/static/*path"
handler = "files"
)" + root + R"(
[[route]]
path = "/dot/*path"
handler = "files"
dotfiles = true
)" + root + R"(
[[route]]
path = "/cached/*path"
handler = "files"
max_age = "1h"
)" + root;
  }

  HttpResponse fetch(std::string_view target, std::string_view extra = "") {
    RawClient c(server_.port());
    c.send(get(target, extra));
    return c.read_response();
  }

  TempDir dir_;  // before server_: the root must exist when the server loads its config
  fs::path root_;
  TestServer server_;
};

TEST_F(FilesServer, ServesAFileWithItsHeaders) {
  HttpResponse r = fetch("/static/hello.txt");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello world\n");
  EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(r.header("Content-Length"), "12");
  EXPECT_EQ(r.header("Accept-Ranges"), "bytes");
  ASSERT_TRUE(r.has_header("ETag"));
  std::string tag = *r.header("ETag");
  EXPECT_TRUE(tag.size() > 2 && tag.front() == '"' && tag.back() == '"') << tag;
  EXPECT_NE(tag.find('-'), std::string::npos) << tag;
  ASSERT_TRUE(r.has_header("Last-Modified"));
  EXPECT_TRUE(is_imf_fixdate(*r.header("Last-Modified"))) << *r.header("Last-Modified");
  EXPECT_TRUE(r.has_header("Date"));
  EXPECT_EQ(r.header("Server"), "lithe");
  EXPECT_FALSE(r.has_header("Cache-Control"));
  EXPECT_EQ(fetch("/static/app.js").header("Content-Type"), "text/javascript; charset=utf-8");
}

TEST_F(FilesServer, HeadThenGetOnOneConnection) {
  RawClient c(server_.port());
  c.send(request("HEAD", "/static/hello.txt"));
  HttpResponse head = c.read_response(/*no_body=*/true);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("Content-Length"), "12");
  EXPECT_EQ(head.header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_TRUE(head.body.empty());
  c.send(get("/static/hello.txt"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.body, "hello world\n");
  EXPECT_EQ(r.header("ETag"), head.header("ETag"));
  EXPECT_EQ(r.header("Last-Modified"), head.header("Last-Modified"));
  EXPECT_TRUE(c.buffered().empty());
}

TEST_F(FilesServer, DirectoryIndex) {
  EXPECT_EQ(fetch("/static/").body, "<h1>home</h1>");
  EXPECT_EQ(fetch("/static/").header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(fetch("/static/sub/").body, "sub index");
  EXPECT_EQ(fetch("/static/sub").body, "sub index");
  EXPECT_EQ(fetch("/static/empty_dir/").status, 404);
}

TEST_F(FilesServer, NotModified) {
  HttpResponse first = fetch("/static/hello.txt");
  std::string tag = *first.header("ETag");
  std::string modified = *first.header("Last-Modified");
  RawClient c(server_.port());
  // Several on one connection: a 304 must not leave body bytes behind.
  for (const std::string& extra :
       {"If-None-Match: " + tag + "\r\n", "If-None-Match: \"x\", W/" + tag + "\r\n",
        std::string("If-None-Match: *\r\n"), "If-Modified-Since: " + modified + "\r\n"}) {
    c.send(get("/static/hello.txt", extra));
    HttpResponse r = c.read_response();
    EXPECT_EQ(r.status, 304) << extra;
    EXPECT_TRUE(r.body.empty()) << extra;
    EXPECT_EQ(r.header("ETag"), tag) << extra;
    EXPECT_FALSE(r.has_header("Content-Length")) << extra;
  }
  c.send(get("/static/hello.txt", "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n"));
  EXPECT_EQ(c.read_response().status, 200);
  c.send(get("/static/hello.txt",
             "If-None-Match: \"other\"\r\nIf-Modified-Since: " + modified + "\r\n"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 200);  // If-None-Match decides; If-Modified-Since is then ignored
  EXPECT_EQ(r.body, "hello world\n");
  EXPECT_TRUE(c.buffered().empty());
}

TEST_F(FilesServer, Ranges) {
  RawClient c(server_.port());
  struct Case {
    const char* range;
    const char* body;
    const char* content_range;
  };
  for (const Case& k :
       {Case{"bytes=2-5", "2345", "bytes 2-5/10"}, Case{"bytes=7-", "789", "bytes 7-9/10"},
        Case{"bytes=-3", "789", "bytes 7-9/10"}}) {
    c.send(get("/static/digits.txt", std::string("Range: ") + k.range + "\r\n"));
    HttpResponse r = c.read_response();
    EXPECT_EQ(r.status, 206) << k.range;
    EXPECT_EQ(r.body, k.body) << k.range;
    EXPECT_EQ(r.header("Content-Range"), k.content_range) << k.range;
    EXPECT_EQ(r.header("Content-Length"), std::to_string(std::string_view(k.body).size()));
    EXPECT_EQ(r.header("Accept-Ranges"), "bytes");
  }
  c.send(get("/static/digits.txt", "Range: bytes=10-\r\n"));
  HttpResponse unsatisfiable = c.read_response();
  EXPECT_EQ(unsatisfiable.status, 416);
  EXPECT_EQ(unsatisfiable.header("Content-Range"), "bytes */10");
  EXPECT_EQ(unsatisfiable.body.find("0123"), std::string::npos);

  c.send(get("/static/digits.txt", "Range: bytes=0-1,4-5\r\n"));
  HttpResponse multiple = c.read_response();
  EXPECT_EQ(multiple.status, 200);
  EXPECT_EQ(multiple.body, "0123456789");
  EXPECT_FALSE(multiple.has_header("Content-Range"));
  EXPECT_TRUE(c.buffered().empty());
}

// Every way of climbing out of root, sent as raw bytes. The parser may refuse some with 400;
// what matters is that nothing is served.
TEST_F(FilesServer, TraversalNeverLeavesRoot) {
  const std::vector<std::string> targets = {
      "/static/../secret.txt",
      "/static/../../../../../../etc/passwd",
      "/static/..%2fsecret.txt",
      "/static/..%2f..%2f..%2f..%2f..%2f..%2fetc/passwd",
      "/static/%2e%2e/secret.txt",
      "/static/%2e%2e/",
      "/static/../",
      "/static/%2E%2e/secret.txt",
      "/static/.%2e/secret.txt",
      "/static/%2e./secret.txt",
      "/static/%2e%2e%2fsecret.txt",
      "/static/sub/..%2f..%2fsecret.txt",
      "/static/..%5csecret.txt",
      "/static/..%5Csecret.txt",
      "/static/..\\secret.txt",
      "/static/%252e%252e/secret.txt",
      "/static/%252e%252e%252fsecret.txt",
      "/static/secret.txt%00",
      "/static/hello.txt%00/../../secret.txt",
      "/static/%00../secret.txt",
      "/static//etc/passwd",
      "/static/%2fetc%2fpasswd",
      "/static/./../secret.txt",
      "/static/escape.txt",
      "/static/abs.txt",
      "/static/up/secret.txt",
      "/static/up/public/hello.txt",
      "http://test/static/../secret.txt",
      "/dot/../secret.txt",
      "/dot/%2e%2e/secret.txt",
      "/dot/.%2e/secret.txt",
      "/dot/escape.txt",
  };
  for (const std::string& t : targets) {
    RawClient c(server_.port());
    c.send("GET " + t + " HTTP/1.1\r\nHost: test\r\n\r\n");
    HttpResponse r = c.read_response();
    EXPECT_NE(r.status, 200) << t;
    EXPECT_TRUE(r.status == 404 || r.status == 400) << t << " → " << r.status;
    EXPECT_EQ(r.raw.find("TOP SECRET"), std::string::npos) << t;
    EXPECT_EQ(r.raw.find("root:"), std::string::npos) << t;
  }
}

TEST_F(FilesServer, DecodesOnlyOnce) {
  // %252e%252e is the literal name "%2e%2e", never "..".
  HttpResponse r = fetch("/static/%252e%252e");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "literal percent name");
  EXPECT_EQ(fetch("/static/hello%2etxt").body, "hello world\n");
}

TEST_F(FilesServer, SymlinkInsideRootIsFollowed) {
  HttpResponse r = fetch("/static/link.txt");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello world\n");
}

TEST_F(FilesServer, Dotfiles) {
  EXPECT_EQ(fetch("/static/.env").status, 404);
  EXPECT_EQ(fetch("/static/%2eenv").status, 404);
  HttpResponse shown = fetch("/dot/.env");
  EXPECT_EQ(shown.status, 200);
  EXPECT_EQ(shown.body, "DOTENV=1");
}

TEST_F(FilesServer, SpecialFilesAreNotServed) {
  ASSERT_EQ(::mkfifo((root_ / "fifo").c_str(), 0600), 0);
  EXPECT_EQ(fetch("/static/fifo").status, 404);  // and it answers: opening did not block
  EXPECT_EQ(fetch("/static/missing.txt").status, 404);
  EXPECT_EQ(fetch("/static/hello.txt/").status, 404);
}

TEST_F(FilesServer, MaxAge) {
  HttpResponse r = fetch("/cached/hello.txt");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Cache-Control"), "max-age=3600");
  EXPECT_FALSE(fetch("/static/hello.txt").has_header("Cache-Control"));
}

TEST_F(FilesServer, OneMebibyteIntact) {
  std::string data(1 << 20, '\0');
  std::mt19937 rng(42);
  for (auto& ch : data) ch = static_cast<char>(rng());
  dir_.write("public/big.bin", data);
  RawClient c(server_.port());
  for (int i = 0; i < 2; ++i) {  // twice on one connection: framing holds after a large body
    c.send(get("/static/big.bin"));
    HttpResponse r = c.read_response();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("Content-Type"), "application/octet-stream");
    EXPECT_EQ(r.header("Content-Length"), std::to_string(data.size()));
    EXPECT_TRUE(r.body == data) << "body differs (" << r.body.size() << " bytes)";
  }
  c.send(get("/static/big.bin", "Range: bytes=1000000-\r\n"));
  HttpResponse tail = c.read_response();
  EXPECT_EQ(tail.status, 206);
  EXPECT_TRUE(tail.body == data.substr(1000000));
}

TEST_F(FilesServer, TruncatedBetweenRequests) {
  fs::path p = dir_.write("public/changing.txt", std::string(1000, 'x'));
  RawClient c(server_.port());
  c.send(get("/static/changing.txt"));
  HttpResponse before = c.read_response();
  EXPECT_EQ(before.header("Content-Length"), "1000");
  fs::resize_file(p, 10);
  c.send(get("/static/changing.txt"));
  HttpResponse after = c.read_response();
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(after.header("Content-Length"), "10");
  EXPECT_EQ(after.body, std::string(10, 'x'));
  EXPECT_NE(after.header("ETag"), before.header("ETag"));
  EXPECT_TRUE(c.buffered().empty());
}

TEST_F(FilesServer, ShrinkingWhileSentClosesInsteadOfLying) {
  // A body larger than the socket buffers, truncated while it is being sent: the client must
  // get fewer bytes than Content-Length and then EOF, never a hang or someone else's bytes.
  const std::size_t size = 32u << 20;
  fs::path p = dir_.write("public/shrinking.bin", std::string(size, 'z'));
  RawClient c(server_.port());
  c.send(get("/static/shrinking.bin"));
  std::string got;
  char buf[65536];
  std::size_t head_end = std::string::npos;
  while (head_end == std::string::npos) {
    ssize_t n = ::recv(c.fd(), buf, sizeof(buf), 0);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<std::size_t>(n));
    head_end = got.find("\r\n\r\n");
  }
  ASSERT_NE(got.find("Content-Length: " + std::to_string(size)), std::string::npos);
  fs::resize_file(p, 0);
  std::size_t body = got.size() - head_end - 4;
  while (true) {
    ssize_t n = ::recv(c.fd(), buf, sizeof(buf), 0);
    ASSERT_GE(n, 0) << "recv failed or timed out (errno " << errno << ")";
    if (n == 0) break;
    for (ssize_t i = 0; i < n; ++i) ASSERT_EQ(buf[i], 'z');
    body += static_cast<std::size_t>(n);
  }
  EXPECT_LT(body, size);
}

}  // namespace
}  // namespace lithe::test
