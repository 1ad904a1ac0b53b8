// The `files` handler, driven in process: requests go through the real parser and router into
// the handler built from a parsed config, over a temporary root of files, directories,
// dotfiles, special files and symlinks in and out of root.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "base/text.hpp"
#include "handlers/handler.hpp"
#include "handlers/mime.hpp"
#include "http/exchange.hpp"
#include "router/router.hpp"

namespace lithe::handlers {
namespace {

namespace fs = std::filesystem;

// 1994-11-06 08:49:37 UTC, RFC 9110's example date.
constexpr time_t kMtime = 784111777;
constexpr std::string_view kMtimeText = "Sun, 06 Nov 1994 08:49:37 GMT";

void write_file(const fs::path& p, std::string_view content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
}

void set_mtime(const fs::path& p, time_t t) {
  timespec times[2] = {{t, 0}, {t, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << p;
}

// base/secret.txt lies outside the served root base/public.
class TempRoot {
 public:
  TempRoot() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/lithe-files-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    base = tmpl;
    root = base / "public";
    fs::create_directories(root / "sub");
    fs::create_directories(root / "noindex");
    fs::create_directories(root / ".git");
    fs::create_directories(root / "index_is_dir" / "index.html");
    write_file(base / "secret.txt", "TOP SECRET");
    write_file(root / "hello.txt", "hello world\n");
    write_file(root / "index.html", "<h1>home</h1>");
    write_file(root / "style.CSS", "body{}");
    write_file(root / "blob", "no extension");
    write_file(root / "empty.txt", "");
    write_file(root / "digits.txt", "0123456789");
    write_file(root / ".env", "SECRET=1");
    write_file(root / ".git" / "config", "gitconfig");
    write_file(root / "sub" / "index.html", "sub index");
    write_file(root / "sub" / "page.html", "sub page");
    write_file(root / "noindex" / "file.txt", "file");
    write_file(root / "%2e%2e", "literal percent name");
    ::mkfifo((root / "fifo").c_str(), 0600);
    fs::create_symlink("hello.txt", root / "link.txt");
    fs::create_directory_symlink("sub", root / "linkdir");
    fs::create_symlink("sub/../hello.txt", root / "up_in.txt");
    fs::create_symlink("../secret.txt", root / "escape.txt");
    fs::create_symlink(base / "secret.txt", root / "abs.txt");
    fs::create_symlink("/etc/passwd", root / "passwd");
    fs::create_directory_symlink("..", root / "escdir");
    fs::create_symlink("loop", root / "loop");
    fs::create_symlink("../../secret.txt", root / "sub" / "deep_escape");
    fs::create_symlink("../linkdir/../escape.txt", root / "sub" / "chain");
    set_mtime(root / "hello.txt", kMtime);
  }
  ~TempRoot() {
    std::error_code ec;
    fs::remove_all(base, ec);
  }
  TempRoot(const TempRoot&) = delete;
  TempRoot& operator=(const TempRoot&) = delete;

  fs::path base;
  fs::path root;
};

// A config with one `files` route, options appended as TOML lines.
std::string route_toml(const std::string& options, const std::string& path = "/static/*path") {
  return "[[route]]\npath = \"" + path + "\"\nhandler = \"files\"\n" + options + "\n";
}

std::string root_option(const fs::path& root) {
  return "root = '" + root.string() + "'\n";
}

struct Built {
  std::unique_ptr<Handler> handler;
  std::vector<ConfigError> errors;
  std::string messages() const {
    std::string s;
    for (const auto& e : errors) s += e.to_string() + "\n";
    return s;
  }
};

Built build(const std::string& toml, const std::string& source = "test.toml") {
  Built b;
  Config cfg = parse_config(toml, source);
  Options options(cfg, cfg.routes.at(0), b.errors);
  ServerState state;
  BuildContext ctx{options, state};
  Registry registry;  // outlives the call: find() points into it
  const Factory* factory = registry.find("files");
  if (!factory) throw std::runtime_error("no 'files' handler registered");
  b.handler = (*factory)(ctx);
  return b;
}

struct Reply {
  int status = 0;
  bool parser_rejected = false;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // the in-memory body, or the file bytes the response would send
  bool file = false;
  uint64_t offset = 0;
  uint64_t length = 0;

  std::string header(std::string_view name) const {
    for (const auto& [n, v] : headers)
      if (base::iequals(n, name)) return v;
    return {};
  }
  bool has(std::string_view name) const {
    for (const auto& [n, v] : headers)
      if (base::iequals(n, name)) return true;
    return false;
  }
};

// Parses the request like a connection does, routes it, runs the handler and reads back what
// the response would send (the file bytes at offset/length).
Reply run(Handler& h, std::string_view target, std::string_view extra = "",
          std::string_view method = "GET", std::string_view pattern = "/static/*path") {
  Reply reply;
  std::string raw = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" +
                    std::string(extra) + "\r\n";
  http::Exchange ex(100);
  ex.parser.start(ex.request);
  auto parsed = ex.parser.feed(raw.data(), raw.size());
  if (parsed.status != http::RequestParser::Status::complete) {
    reply.parser_rejected = true;
    reply.status = parsed.error_status;
    return reply;
  }
  router::Router router;
  if (!router.add(pattern, base::all_methods, 0).empty()) throw std::runtime_error("bad pattern");
  router::Param params[router::max_params];
  router::Match m = router.match(ex.request.method_id(), ex.request.path(), params);
  if (m.status != router::Match::Status::found) {
    reply.status = 404;
    return reply;
  }
  ex.request.set_params(params, m.param_count);
  h.handle(ex.request, ex.response);
  http::ResponseImpl& res = ex.response;
  reply.status = res.status();
  reply.content_type = std::string(res.content_type());
  for (const auto& hd : res.extra_headers()) reply.headers.emplace_back(hd.name, hd.value);
  if (res.has_file()) {
    auto f = res.take_file();
    reply.file = true;
    reply.offset = f.offset;
    reply.length = f.length;
    reply.body.resize(f.length);
    ssize_t n = ::pread(f.fd, reply.body.data(), f.length, static_cast<off_t>(f.offset));
    reply.body.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
    ::close(f.fd);
  } else {
    reply.body = std::string(res.body());
  }
  return reply;
}

// Every path the resolver must serve or refuse, checked without gtest macros so the same list
// runs in a child process whose openat2 is disabled. Returns what went wrong.
std::vector<std::string> resolver_failures(Handler& h) {
  struct Case {
    std::string_view target;
    int status;             // expected; 0 = anything but 200 (the parser may refuse the bytes)
    std::string_view body;  // expected body when 200
  };
  static const Case cases[] = {
      {"/static/hello.txt", 200, "hello world\n"},
      {"/static/", 200, "<h1>home</h1>"},
      {"/static/sub", 200, "sub index"},
      {"/static/sub/", 200, "sub index"},
      {"/static//sub//page.html", 200, "sub page"},
      {"/static/link.txt", 200, "hello world\n"},
      {"/static/linkdir/page.html", 200, "sub page"},
      {"/static/linkdir/", 200, "sub index"},
      {"/static/up_in.txt", 200, "hello world\n"},
      {"/static/%252e%252e", 200, "literal percent name"},
      {"/static/hello%2etxt", 200, "hello world\n"},
      // Traversal, raw and encoded.
      {"/static/../secret.txt", 0, {}},
      {"/static/../../../../etc/passwd", 0, {}},
      {"/static/sub/../../secret.txt", 0, {}},
      {"/static/%2e%2e/secret.txt", 404, {}},
      {"/static/%2E%2e/secret.txt", 404, {}},
      {"/static/.%2e/secret.txt", 404, {}},
      {"/static/%2e./secret.txt", 404, {}},
      {"/static/sub/%2e%2e/%2e%2e/secret.txt", 404, {}},
      {"/static/..%2fsecret.txt", 404, {}},
      {"/static/..%2Fsecret.txt", 404, {}},
      {"/static/%2e%2e%2fsecret.txt", 404, {}},
      {"/static/..%2f..%2fetc/passwd", 404, {}},
      {"/static/%2fetc/passwd", 404, {}},
      {"/static/..%5csecret.txt", 404, {}},
      {"/static/..%5Csecret.txt", 404, {}},
      {"/static/..\\secret.txt", 0, {}},
      {"/static/sub%5cpage.html", 404, {}},
      {"/static/hello.txt%00", 404, {}},
      {"/static/hello.txt%00.html", 404, {}},
      {"/static/%00", 404, {}},
      {"/static/%252e%252e/secret.txt", 404, {}},
      {"/static/%25%32%65%25%32%65/secret.txt", 404, {}},
      {"/static/./hello.txt", 0, {}},
      {"/static/%2e/hello.txt", 404, {}},
      {"/static//etc/passwd", 404, {}},
      {"http://t/static/../secret.txt", 0, {}},
      // Symlinks that leave root, loops, and what is not a regular file.
      {"/static/escape.txt", 404, {}},
      {"/static/abs.txt", 404, {}},
      {"/static/passwd", 404, {}},
      {"/static/escdir/secret.txt", 404, {}},
      {"/static/escdir/public/hello.txt", 404, {}},
      {"/static/escdir", 404, {}},
      {"/static/sub/deep_escape", 404, {}},
      {"/static/sub/chain", 404, {}},
      {"/static/loop", 404, {}},
      {"/static/fifo", 404, {}},
      {"/static/noindex/", 404, {}},
      {"/static/index_is_dir/", 404, {}},
      {"/static/missing.txt", 404, {}},
      {"/static/hello.txt/", 404, {}},
      {"/static/hello.txt/x", 404, {}},
      // Hidden unless dotfiles = true.
      {"/static/.env", 404, {}},
      {"/static/%2eenv", 404, {}},
      {"/static/.git/config", 404, {}},
      {"/static/.git/", 404, {}},
  };
  std::vector<std::string> failures;
  for (const Case& c : cases) {
    Reply r = run(h, c.target);
    bool ok = c.status == 0 ? r.status != 200 : r.status == c.status;
    if (ok && r.status == 200) ok = r.body == c.body;
    if (r.status != 200 &&
        (r.body.find("SECRET") != std::string::npos || r.body.find("root:") != std::string::npos))
      ok = false;
    if (!ok)
      failures.push_back(std::string(c.target) + " → " + std::to_string(r.status) + " body '" +
                         r.body.substr(0, 40) + "'");
  }
  return failures;
}

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Built b = build(route_toml(root_option(t_.root)));
    ASSERT_TRUE(b.errors.empty()) << b.messages();
    handler_ = std::move(b.handler);
  }
  Reply get(std::string_view target, std::string_view extra = "") {
    return run(*handler_, target, extra);
  }
  std::string etag_of(std::string_view target) { return get(target).header("ETag"); }

  TempRoot t_;
  std::unique_ptr<Handler> handler_;
};

// --- MIME types ---

TEST(MimeTest, ThePlaceOfATypeGivesTheSameType) {
  for (const char* name : {"a.html", "A.JS", "x.woff2", "noext", "x.unknown", "dir/.hidden"})
    EXPECT_EQ(mime_type_at(mime_index(name)), mime_type(name)) << name;
  EXPECT_EQ(mime_index("x.unknown"), mime_type_count() - 1);
  EXPECT_EQ(mime_type_at(mime_type_count() - 1), "application/octet-stream");
  EXPECT_NE(mime_index("a.css"), mime_index("a.js"));
}

TEST(MimeTest, CommonWebTypes) {
  EXPECT_EQ(mime_type("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(mime_type("a.htm"), "text/html; charset=utf-8");
  EXPECT_EQ(mime_type("a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(mime_type("app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(mime_type("app.mjs"), "text/javascript; charset=utf-8");
  EXPECT_EQ(mime_type("d.json"), "application/json");
  EXPECT_EQ(mime_type("app.js.map"), "application/json");
  EXPECT_EQ(mime_type("r.txt"), "text/plain; charset=utf-8");
  EXPECT_EQ(mime_type("r.md"), "text/markdown; charset=utf-8");
  EXPECT_EQ(mime_type("r.csv"), "text/csv; charset=utf-8");
  EXPECT_EQ(mime_type("f.xml"), "application/xml");
  EXPECT_EQ(mime_type("i.svg"), "image/svg+xml");
  EXPECT_EQ(mime_type("i.png"), "image/png");
  EXPECT_EQ(mime_type("i.jpg"), "image/jpeg");
  EXPECT_EQ(mime_type("i.jpeg"), "image/jpeg");
  EXPECT_EQ(mime_type("i.gif"), "image/gif");
  EXPECT_EQ(mime_type("i.webp"), "image/webp");
  EXPECT_EQ(mime_type("i.avif"), "image/avif");
  EXPECT_EQ(mime_type("favicon.ico"), "image/x-icon");
  EXPECT_EQ(mime_type("f.woff"), "font/woff");
  EXPECT_EQ(mime_type("f.woff2"), "font/woff2");
  EXPECT_EQ(mime_type("f.ttf"), "font/ttf");
  EXPECT_EQ(mime_type("f.otf"), "font/otf");
  EXPECT_EQ(mime_type("d.pdf"), "application/pdf");
  EXPECT_EQ(mime_type("m.wasm"), "application/wasm");
  EXPECT_EQ(mime_type("v.mp4"), "video/mp4");
  EXPECT_EQ(mime_type("v.webm"), "video/webm");
  EXPECT_EQ(mime_type("a.mp3"), "audio/mpeg");
  EXPECT_EQ(mime_type("a.ogg"), "audio/ogg");
  EXPECT_EQ(mime_type("a.wav"), "audio/wav");
  EXPECT_EQ(mime_type("z.zip"), "application/zip");
  EXPECT_EQ(mime_type("z.tar.gz"), "application/gzip");
}

TEST(MimeTest, CaseInsensitiveAndDefaults) {
  EXPECT_EQ(mime_type("PHOTO.PNG"), "image/png");
  EXPECT_EQ(mime_type("Index.HtMl"), "text/html; charset=utf-8");
  EXPECT_EQ(mime_type("sub/dir/a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(mime_type("README"), "application/octet-stream");
  EXPECT_EQ(mime_type("a.unknownext"), "application/octet-stream");
  EXPECT_EQ(mime_type("trailingdot."), "application/octet-stream");
  EXPECT_EQ(mime_type("dir.html/file"), "application/octet-stream");
  EXPECT_EQ(mime_type(".bashrc"), "application/octet-stream");
  EXPECT_EQ(mime_type("a.averyveryverylongextension"), "application/octet-stream");
  EXPECT_EQ(mime_type(""), "application/octet-stream");
}

// --- serving ---

TEST_F(FilesTest, ServesARegularFileWithValidators) {
  Reply r = get("/static/hello.txt");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.file);
  EXPECT_EQ(r.offset, 0u);
  EXPECT_EQ(r.length, 12u);
  EXPECT_EQ(r.body, "hello world\n");
  EXPECT_EQ(r.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(r.header("Accept-Ranges"), "bytes");
  EXPECT_EQ(r.header("Last-Modified"), kMtimeText);
  char expected[64];
  std::snprintf(expected, sizeof(expected), "\"%llx-c\"",
                static_cast<unsigned long long>(kMtime) * 1000000000ull);
  EXPECT_EQ(r.header("ETag"), expected);
  EXPECT_FALSE(r.has("Cache-Control"));
  EXPECT_FALSE(r.has("Content-Range"));
}

TEST_F(FilesTest, ContentTypeFromExtension) {
  EXPECT_EQ(get("/static/style.CSS").content_type, "text/css; charset=utf-8");
  EXPECT_EQ(get("/static/blob").content_type, "application/octet-stream");
  EXPECT_EQ(get("/static/").content_type, "text/html; charset=utf-8");
  EXPECT_EQ(get("/static/sub").content_type, "text/html; charset=utf-8");
}

TEST_F(FilesTest, EmptyFile) {
  Reply r = get("/static/empty.txt");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.file);
  EXPECT_EQ(r.length, 0u);
}

TEST_F(FilesTest, HeadHandsTheFileOverLikeGet) {
  Reply r = run(*handler_, "/static/hello.txt", "", "HEAD");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.file);  // the writer sends no body for HEAD but needs the length
  EXPECT_EQ(r.length, 12u);
  EXPECT_EQ(r.header("ETag"), etag_of("/static/hello.txt"));
}

TEST_F(FilesTest, ResolverServesInsideAndRefusesEverythingElse) {
  std::vector<std::string> failures = resolver_failures(*handler_);
  for (const auto& f : failures) ADD_FAILURE() << f;
}

TEST_F(FilesTest, ResolverWithoutOpenat2) {
  // The portable walker, as it runs where openat2 is missing: a child process whose seccomp
  // filter makes openat2 fail with ENOSYS builds its own handler and runs the same cases.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof(filter) / sizeof(filter[0])), filter};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
      ::_exit(77);
    errno = 0;
    if (::syscall(SYS_openat2, AT_FDCWD, ".", nullptr, 0) != -1 || errno != ENOSYS) ::_exit(78);
    Built b = build(route_toml(root_option(t_.root)));
    if (!b.errors.empty()) ::_exit(79);
    std::vector<std::string> failures = resolver_failures(*b.handler);
    for (const auto& f : failures) std::fprintf(stderr, "walker: %s\n", f.c_str());
    std::fflush(stderr);
    ::_exit(failures.empty() ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child died with status " << status;
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "seccomp filters are not available here";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "see the walker: lines above (78: filter inactive)";
}

TEST_F(FilesTest, DotfilesShownWhenAllowed) {
  Built b = build(route_toml(root_option(t_.root) + "dotfiles = true"));
  ASSERT_TRUE(b.errors.empty()) << b.messages();
  EXPECT_EQ(run(*b.handler, "/static/.env").body, "SECRET=1");
  EXPECT_EQ(run(*b.handler, "/static/.git/config").body, "gitconfig");
  // `.` and `..` stay refused whatever dotfiles says.
  EXPECT_EQ(run(*b.handler, "/static/%2e%2e/secret.txt").status, 404);
  EXPECT_EQ(run(*b.handler, "/static/.%2e/secret.txt").status, 404);
  EXPECT_EQ(run(*b.handler, "/static/%2e/hello.txt").status, 404);
  EXPECT_EQ(run(*b.handler, "/static/escape.txt").status, 404);
}

TEST_F(FilesTest, CustomIndex) {
  write_file(t_.root / "sub" / "default.htm", "default page");
  Built b = build(route_toml(root_option(t_.root) + "index = 'default.htm'"));
  ASSERT_TRUE(b.errors.empty()) << b.messages();
  Reply r = run(*b.handler, "/static/sub/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "default page");
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(run(*b.handler, "/static/").status, 404);  // no default.htm at the top
}

TEST_F(FilesTest, WildcardNameDoesNotMatter) {
  Built b = build(route_toml(root_option(t_.root), "/{site}/assets/*anything"));
  ASSERT_TRUE(b.errors.empty()) << b.messages();
  Reply r = run(*b.handler, "/blog/assets/sub/page.html", "", "GET", "/{site}/assets/*anything");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "sub page");
}

TEST_F(FilesTest, MaxAgeSetsCacheControl) {
  Built b = build(route_toml(root_option(t_.root) + "max_age = '1h'"));
  ASSERT_TRUE(b.errors.empty()) << b.messages();
  Reply r = run(*b.handler, "/static/hello.txt");
  EXPECT_EQ(r.header("Cache-Control"), "max-age=3600");
  Reply not_modified =
      run(*b.handler, "/static/hello.txt", "If-None-Match: " + r.header("ETag") + "\r\n");
  EXPECT_EQ(not_modified.status, 304);
  EXPECT_EQ(not_modified.header("Cache-Control"), "max-age=3600");
}

TEST_F(FilesTest, RelativeRootIsResolvedAgainstTheConfigFile) {
  Built b = build(route_toml("root = 'public'"), (t_.base / "site.toml").string());
  ASSERT_TRUE(b.errors.empty()) << b.messages();
  EXPECT_EQ(run(*b.handler, "/static/hello.txt").body, "hello world\n");
}

TEST_F(FilesTest, FileChangedBetweenRequests) {
  fs::path p = t_.root / "changing.bin";
  write_file(p, std::string(1000, 'a'));
  Reply first = get("/static/changing.bin");
  EXPECT_EQ(first.length, 1000u);
  write_file(p, "short");
  set_mtime(p, kMtime);  // even with an older mtime the size changes the tag
  Reply second = get("/static/changing.bin");
  EXPECT_EQ(second.length, 5u);
  EXPECT_EQ(second.body, "short");
  EXPECT_NE(second.header("ETag"), first.header("ETag"));
  // The old tag no longer matches: full response, not 304.
  EXPECT_EQ(get("/static/changing.bin", "If-None-Match: " + first.header("ETag") + "\r\n").status,
            200);
}

// --- conditional requests ---

TEST_F(FilesTest, IfNoneMatch) {
  std::string tag = etag_of("/static/hello.txt");
  ASSERT_FALSE(tag.empty());
  auto inm = [&](const std::string& v) {
    return get("/static/hello.txt", "If-None-Match: " + v + "\r\n");
  };
  Reply r = inm(tag);
  EXPECT_EQ(r.status, 304);
  EXPECT_FALSE(r.file);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(r.header("ETag"), tag);
  EXPECT_EQ(r.header("Last-Modified"), kMtimeText);
  EXPECT_EQ(inm("\"nope\", " + tag).status, 304);
  EXPECT_EQ(inm("\"a\",\"b\"," + tag + " ,\"c\"").status, 304);
  EXPECT_EQ(inm("W/" + tag).status, 304);  // weak comparison
  EXPECT_EQ(inm("*").status, 304);
  EXPECT_EQ(inm("\"nope\"").status, 200);
  EXPECT_EQ(inm("\"nope\", W/\"other\"").status, 200);
  EXPECT_EQ(inm("garbage").status, 200);
  EXPECT_EQ(inm(tag.substr(0, tag.size() - 1)).status, 200);  // unterminated
  // Two header lines form one list.
  EXPECT_EQ(
      get("/static/hello.txt", "If-None-Match: \"x\"\r\nIf-None-Match: " + tag + "\r\n").status,
      304);
}

TEST_F(FilesTest, IfModifiedSince) {
  auto ims = [&](std::string_view v) {
    return get("/static/hello.txt", "If-Modified-Since: " + std::string(v) + "\r\n");
  };
  Reply r = ims(kMtimeText);
  EXPECT_EQ(r.status, 304);
  EXPECT_FALSE(r.file);
  EXPECT_EQ(r.header("Last-Modified"), kMtimeText);
  EXPECT_FALSE(r.header("ETag").empty());
  EXPECT_EQ(ims("Mon, 07 Nov 1994 00:00:00 GMT").status, 304);
  EXPECT_EQ(ims("Sun, 06 Nov 1994 08:49:36 GMT").status, 200);
  EXPECT_EQ(ims("Sat, 01 Jan 1994 00:00:00 GMT").status, 200);
  // The two obsolete date forms RFC 9110 still asks recipients to accept.
  EXPECT_EQ(ims("Sunday, 06-Nov-94 08:49:37 GMT").status, 304);
  EXPECT_EQ(ims("Sun Nov  6 08:49:37 1994").status, 304);
  EXPECT_EQ(ims("Sun Nov  6 08:49:36 1994").status, 200);
  // Not a date: ignored.
  EXPECT_EQ(ims("yesterday").status, 200);
  EXPECT_EQ(ims("Sun, 06 Nov 1994 08:49:37 UTC").status, 200);
  EXPECT_EQ(ims("Sun, 36 Nov 1994 08:49:37 GMT").status, 200);
  EXPECT_EQ(ims("Sun, 06 Nov 1994 08:49:37 GMT trailing").status, 200);
}

TEST_F(FilesTest, IfNoneMatchTakesPrecedenceOverIfModifiedSince) {
  std::string tag = etag_of("/static/hello.txt");
  std::string ims = "If-Modified-Since: " + std::string(kMtimeText) + "\r\n";
  EXPECT_EQ(get("/static/hello.txt", "If-None-Match: \"other\"\r\n" + ims).status, 200);
  EXPECT_EQ(get("/static/hello.txt", "If-None-Match: " + tag + "\r\n" + ims).status, 304);
}

TEST_F(FilesTest, IfMatchAndIfUnmodifiedSince) {
  std::string tag = etag_of("/static/hello.txt");
  EXPECT_EQ(get("/static/hello.txt", "If-Match: " + tag + "\r\n").status, 200);
  EXPECT_EQ(get("/static/hello.txt", "If-Match: *\r\n").status, 200);
  EXPECT_EQ(get("/static/hello.txt", "If-Match: \"other\"\r\n").status, 412);
  EXPECT_EQ(get("/static/hello.txt", "If-Match: W/" + tag + "\r\n").status, 412);  // strong
  EXPECT_EQ(
      get("/static/hello.txt", "If-Unmodified-Since: Sat, 01 Jan 1994 00:00:00 GMT\r\n").status,
      412);
  EXPECT_EQ(
      get("/static/hello.txt", "If-Unmodified-Since: " + std::string(kMtimeText) + "\r\n").status,
      200);
}

// --- ranges ---

TEST_F(FilesTest, SingleRanges) {
  auto range = [&](std::string_view v) {
    return get("/static/digits.txt", "Range: " + std::string(v) + "\r\n");
  };
  Reply r = range("bytes=2-5");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.offset, 2u);
  EXPECT_EQ(r.length, 4u);
  EXPECT_EQ(r.body, "2345");
  EXPECT_EQ(r.header("Content-Range"), "bytes 2-5/10");
  EXPECT_EQ(r.header("Accept-Ranges"), "bytes");
  EXPECT_EQ(r.content_type, "text/plain; charset=utf-8");

  r = range("bytes=7-");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, "789");
  EXPECT_EQ(r.header("Content-Range"), "bytes 7-9/10");

  r = range("bytes=-3");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, "789");
  EXPECT_EQ(r.header("Content-Range"), "bytes 7-9/10");

  r = range("bytes=-100");  // longer than the file: all of it
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, "0123456789");
  EXPECT_EQ(r.header("Content-Range"), "bytes 0-9/10");

  r = range("bytes=8-1000");  // last-pos clamps to the end
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, "89");
  EXPECT_EQ(r.header("Content-Range"), "bytes 8-9/10");

  r = range("bytes=0-0");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, "0");

  r = range("BYTES = 9-9");  // the unit is case-insensitive
  EXPECT_EQ(r.status, 200);  // but no spaces around '=' (a syntax error is ignored)
  r = range("Bytes=9-9");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, "9");
}

TEST_F(FilesTest, UnsatisfiableRanges) {
  for (std::string_view v : {"bytes=10-", "bytes=10-20", "bytes=-0", "bytes=99999999999-"}) {
    Reply r = get("/static/digits.txt", "Range: " + std::string(v) + "\r\n");
    EXPECT_EQ(r.status, 416) << v;
    EXPECT_FALSE(r.file) << v;
    EXPECT_EQ(r.header("Content-Range"), "bytes */10") << v;
  }
  Reply empty = get("/static/empty.txt", "Range: bytes=0-\r\n");
  EXPECT_EQ(empty.status, 416);
  EXPECT_EQ(empty.header("Content-Range"), "bytes */0");
  EXPECT_EQ(get("/static/empty.txt", "Range: bytes=-5\r\n").status, 416);
}

TEST_F(FilesTest, IgnoredRangesSendTheWholeFile) {
  for (std::string_view v :
       {"bytes=0-1,4-5", "bytes=0-1, 4-5", "bytes=5-2", "bytes=a-b", "bytes=1", "items=0-1",
        "bytes=-", "bytes=--1", "bytes=+1-2", "bytes=1-2-3", "bytes=99999999999999999999-"}) {
    Reply r = get("/static/digits.txt", "Range: " + std::string(v) + "\r\n");
    EXPECT_EQ(r.status, 200) << v;
    EXPECT_EQ(r.body, "0123456789") << v;
    EXPECT_FALSE(r.has("Content-Range")) << v;
  }
  // Range is defined for GET only: HEAD answers as for a plain GET.
  Reply head = run(*handler_, "/static/digits.txt", "Range: bytes=0-1\r\n", "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.length, 10u);
}

TEST_F(FilesTest, IfRange) {
  std::string tag = etag_of("/static/hello.txt");
  auto with = [&](const std::string& if_range) {
    return get("/static/hello.txt", "Range: bytes=0-4\r\nIf-Range: " + if_range + "\r\n");
  };
  EXPECT_EQ(with(tag).status, 206);
  EXPECT_EQ(with(tag).body, "hello");
  EXPECT_EQ(with("\"stale\"").status, 200);
  EXPECT_EQ(with("W/" + tag).status, 200);  // weak tags never match If-Range
  EXPECT_EQ(with(std::string(kMtimeText)).status, 206);
  EXPECT_EQ(with("Mon, 07 Nov 1994 00:00:00 GMT").status, 200);
  EXPECT_EQ(with("nonsense").status, 200);
}

// --- load-time errors ---

TEST_F(FilesTest, ConfigErrors) {
  auto errors_of = [&](const std::string& toml) { return build(toml).messages(); };
  EXPECT_NE(errors_of(route_toml("")).find("'root'"), std::string::npos);
  std::string missing = errors_of(route_toml("root = '" + (t_.base / "nope").string() + "'"));
  EXPECT_NE(missing.find("cannot open root"), std::string::npos) << missing;
  EXPECT_NE(missing.find("test.toml:4:"), std::string::npos) << missing;  // at the value
  std::string file = errors_of(route_toml("root = '" + (t_.root / "hello.txt").string() + "'"));
  EXPECT_NE(file.find("not a directory"), std::string::npos) << file;
  EXPECT_NE(errors_of(route_toml("root = 42")).find("must be a non-empty string"),
            std::string::npos);
  std::string no_wildcard = errors_of(route_toml(root_option(t_.root), "/static/{name}"));
  EXPECT_NE(no_wildcard.find("*name"), std::string::npos) << no_wildcard;
  EXPECT_NE(no_wildcard.find("test.toml:2:"), std::string::npos) << no_wildcard;
  EXPECT_NE(errors_of(route_toml(root_option(t_.root) + "colour = 'red'")).find("unknown option"),
            std::string::npos);
  EXPECT_NE(errors_of(route_toml(root_option(t_.root) + "max_age = '1 hour'")).find("max_age"),
            std::string::npos);
  EXPECT_NE(errors_of(route_toml(root_option(t_.root) + "max_age = 3600")).find("max_age"),
            std::string::npos);
  EXPECT_NE(errors_of(route_toml(root_option(t_.root) + "index = 'a/b.html'")).find("index"),
            std::string::npos);
  EXPECT_NE(errors_of(route_toml(root_option(t_.root) + "index = '..'")).find("index"),
            std::string::npos);
  EXPECT_NE(errors_of(route_toml(root_option(t_.root) + "dotfiles = 'yes'")).find("dotfiles"),
            std::string::npos);
  EXPECT_EQ(errors_of(route_toml(root_option(t_.root) +
                                 "index = 'home.htm'\nmax_age = '30s'\ndotfiles = false")),
            "");
}

}  // namespace
}  // namespace lithe::handlers
