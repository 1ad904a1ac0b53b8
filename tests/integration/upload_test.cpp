// The built-in `upload` handler (SPEC §9) as a client and the file system see it: a PUT lands
// byte-identical under its name with 201 + Location, the file appears only once complete, an
// existing file is refused (409, before 100 Continue) or replaced (204), names that could leave
// `dir` are refused, and an upload that fails or is cut off leaves nothing, not even an open
// descriptor.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "handlers/handler.hpp"
#include "harness.hpp"

namespace lithe::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string config_for(const fs::path& dir, const fs::path& access_log) {
  return R"(
[limits]
body = "1KiB"

[log]
access = ")" +
         access_log.string() +
         R"("
access_format = "json"

[[route]]
path = "/up/*name"
handler = "upload"
dir = ')" +
         dir.string() +
         R"('
max_body = "64MiB"

[[route]]
path = "/replace/*name"
methods = ["PUT", "POST"]
handler = "upload"
dir = ')" +
         dir.string() +
         R"('
overwrite = true
fsync = true
max_body = "64MiB"

[[route]]
path = "/small/*name"
handler = "upload"
dir = ')" +
         dir.string() +
         R"('
max_body = 10

[[route]]
path = "/buffered/*name"
handler = "upload"
dir = ')" +
         dir.string() +
         R"('
body = "buffer"
max_body = "4KiB"

[[route]]
path = "/plain"
handler = "static"
body = "plain"
)";
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(dir)) names.push_back(e.path().string());
  return names;
}

// This process's descriptors that point into dir: the handler's root, plus the parent and the
// unnamed file of each upload in progress.
int descriptors_into(const fs::path& dir) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc/self/fd", ec)) {
    const fs::path target = fs::read_symlink(e.path(), ec);
    if (!ec && target.string().rfind(dir.string(), 0) == 0) ++n;
  }
  return n;
}

class Uploads : public ::testing::Test {
 protected:
  TempDir dir;
  TempDir logs;
  TestServer server{config_for(dir.path(), logs.path() / "access.log")};
  const int baseline = descriptors_into(dir.path());
};

TEST_F(Uploads, APutLandsByteIdenticalWith201AndLocation) {
  const std::string body = pattern(3 * 1024 * 1024);  // far above limits.body
  RawClient c(server.port());
  c.send(put("/up/data.bin", body) + get("/plain"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.header("Location"), "/up/data.bin");
  EXPECT_EQ(read_file(dir.path() / "data.bin"), body);
  EXPECT_EQ(c.read_response().body, "plain");  // the connection goes on
  EXPECT_TRUE(wait_until([&] { return descriptors_into(dir.path()) == baseline; }));
}

TEST_F(Uploads, AChunkedBodySplitAnywhereLandsTheSameInASubdirectory) {
  fs::create_directory(dir.path() / "sub");
  const std::string body = pattern(300 * 1024 + 7);
  const std::string wire =
      "PUT /up/sub/c.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
      chunked(body, 999);
  RawClient c(server.port());
  for (std::size_t at = 0; at < wire.size(); at += 4093) c.send(wire.substr(at, 4093));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.header("Location"), "/up/sub/c.txt");
  EXPECT_EQ(read_file(dir.path() / "sub" / "c.txt"), body);
  // The access log counts the body bytes the handler pulled, without the chunk framing.
  const std::string want =
      "\"status\":201,\"bytes\":0,\"bytes_received\":" + std::to_string(body.size()) + ",";
  EXPECT_TRUE(wait_until([&] {
    return read_file(logs.path() / "access.log").find(want) != std::string::npos;
  })) << read_file(logs.path() / "access.log");
}

TEST_F(Uploads, AnExistingFileIsRefusedBeforeContinueOrReplacedWith204) {
  dir.write("taken.txt", "old");
  RawClient c(server.port());
  c.send(
      "PUT /up/taken.txt HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
      "Content-Length: 5\r\n\r\n");
  HttpResponse refused = c.read_response();  // the final status, not 100
  EXPECT_EQ(refused.status, 409);
  EXPECT_EQ(read_file(dir.path() / "taken.txt"), "old");

  RawClient d(server.port());
  d.send(put("/replace/taken.txt", "new body"));
  HttpResponse replaced = d.read_response();
  EXPECT_EQ(replaced.status, 204);
  EXPECT_FALSE(replaced.has_header("Location"));
  EXPECT_EQ(read_file(dir.path() / "taken.txt"), "new body");
  EXPECT_EQ(names_in(dir.path()).size(), 1u);  // no hidden name left behind
  d.send(put("/replace/fresh.txt", "x"));      // overwrite allows, not requires, a file
  EXPECT_EQ(d.read_response().status, 201);
}

TEST_F(Uploads, NamesThatCouldLeaveDirOrAreNoFileAreRefused) {
  fs::create_directory(dir.path() / "sub");
  fs::create_directory_symlink("/tmp", dir.path() / "out");
  auto status_of = [&](std::string_view path) {
    RawClient c(server.port());
    c.send(put(path, "x"));
    return c.read_response().status;
  };
  EXPECT_EQ(status_of("/up/../escape"), 400);
  EXPECT_EQ(status_of("/up/sub/%2e%2e/%2e%2e/escape"), 400);
  EXPECT_EQ(status_of("/up/a%2Fb"), 400);
  EXPECT_EQ(status_of("/up/.hidden"), 400);
  EXPECT_EQ(status_of("/up/sub/"), 400);
  EXPECT_EQ(status_of("/up/sub"), 409);           // a directory in the way
  EXPECT_EQ(status_of("/up/missing/file"), 409);  // no parent (not created)
  EXPECT_EQ(status_of("/up/out/escape"), 403);    // a symlink out of dir
  EXPECT_FALSE(fs::exists("/tmp/escape"));
  EXPECT_EQ(names_in(dir.path()).size(), 2u);  // sub and out only

  RawClient g(server.port());  // methods default to PUT
  g.send(get("/up/x"));
  EXPECT_EQ(g.read_response().status, 405);
}

TEST_F(Uploads, OneByteOverMaxBodyIs413AndLeavesNothing) {
  RawClient c(server.port());
  c.send(put("/small/ten", "0123456789"));
  EXPECT_EQ(c.read_response().status, 201);
  c.send("PUT /small/eleven HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
         chunked("0123456789A", 4));
  EXPECT_EQ(c.read_response().status, 413);
  EXPECT_EQ(read_file(dir.path() / "ten"), "0123456789");
  EXPECT_FALSE(fs::exists(dir.path() / "eleven"));
  EXPECT_TRUE(wait_until([&] { return descriptors_into(dir.path()) == baseline; }));
}

TEST_F(Uploads, AResetMidUploadLeavesNothingAtAnyMoment) {
  // A watcher lists dir for as long as the upload lives: no name may ever appear.
  std::atomic<bool> watching{true};
  std::atomic<int> seen{0};
  std::thread watcher([&] {
    while (watching) seen += static_cast<int>(names_in(dir.path()).size());
  });
  {
    RawClient c(server.port());
    c.send("PUT /up/cut.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n");
    c.send(pattern(2 * 1024 * 1024));
    // The upload is under way: its unnamed file and its directory are open.
    ASSERT_TRUE(wait_until([&] { return descriptors_into(dir.path()) >= baseline + 2; }));
    c.reset();
  }
  EXPECT_TRUE(wait_until([&] { return descriptors_into(dir.path()) == baseline; }));
  watching = false;
  watcher.join();
  EXPECT_EQ(seen.load(), 0);
  EXPECT_TRUE(names_in(dir.path()).empty());
  RawClient after(server.port());
  after.send(get("/plain"));
  EXPECT_EQ(after.read_response().status, 200);
}

TEST_F(Uploads, ABufferedRouteWritesTheBodyItRead) {
  RawClient c(server.port());
  c.send(put("/buffered/b.txt", "buffered body"));
  HttpResponse r = c.read_response();
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(read_file(dir.path() / "b.txt"), "buffered body");
}

// --- load-time errors ---

std::string build_errors(const std::string& toml) {
  std::vector<ConfigError> errors;
  Config cfg = parse_config(toml, "test.toml");
  handlers::Options options(cfg, cfg.routes.at(0), errors);
  handlers::ServerState state;
  handlers::BuildContext ctx{options, state};
  handlers::Registry registry;
  auto handler = (*registry.find("upload"))(ctx);
  std::string s;
  for (const auto& e : errors) s += e.to_string() + "\n";
  return s;
}

TEST(UploadConfig, ErrorsNameTheKeyAndItsPlace) {
  TempDir t;
  const std::string route = "[[route]]\npath = \"/up/*name\"\nhandler = \"upload\"\n";
  EXPECT_NE(build_errors(route).find("needs the option 'dir'"), std::string::npos);
  const std::string missing = build_errors(route + "dir = '" + (t.path() / "nope").string() + "'");
  EXPECT_NE(missing.find("test.toml:4:7: cannot open dir"), std::string::npos) << missing;
  const std::string file =
      build_errors(route + "dir = '" + t.write("f", "x").string() + "'\nfsync = 'yes'");
  EXPECT_NE(file.find("is not a directory"), std::string::npos) << file;
  EXPECT_NE(file.find("test.toml:5:"), std::string::npos) << file;  // fsync must be a boolean
  const std::string plain = build_errors(
      "[[route]]\npath = \"/up\"\nhandler = \"upload\"\ndir = '" + t.path().string() + "'\n");
  EXPECT_NE(plain.find("test.toml:2:8: handler 'upload' needs a route path ending in '*name' "
                       "(the file's path below dir)"),
            std::string::npos)
      << plain;
  EXPECT_NE(build_errors(route + "dir = '" + t.path().string() + "'\nmode = 1").find("'mode'"),
            std::string::npos);

  // An upload route streams its body and takes PUT unless it says otherwise.
  Config cfg = parse_config(route + "dir = 'x'", "test.toml");
  EXPECT_EQ(cfg.routes.at(0).methods, std::vector<std::string>{"PUT"});
  EXPECT_TRUE(cfg.routes.at(0).stream_body);
}

}  // namespace
}  // namespace lithe::test
