// Content codings as a client sees them ([compression], README "Compression"): fixed bodies in
// gzip, br and zstd that the command-line tools decode to the same bytes, chosen by the
// Accept-Encoding table of tests/conformance, with Vary, an ETag per coding, HEAD and 304.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"

namespace lithe::test {
namespace {

// A page worth compressing: 4 KiB of HTML-like text.
std::string page() {
  std::string s = "<!doctype html><title>lithe</title><ul>\n";
  for (int i = 0; s.size() < 4096; ++i)
    s += "<li class=\"item\">item " + std::to_string(i * 7919 % 1000) + ": lithe serves it</li>\n";
  return s;
}

std::string config(std::string_view compression = "") {
  return std::string(compression) + "\n[[route]]\npath = \"/page\"\nhandler = \"static\"\n" +
         "content_type = \"text/html; charset=utf-8\"\nbody = '''" + page() + "'''\n" +
         "[[route]]\npath = \"/api\"\nhandler = \"json\"\nvalue = { items = [" +
         [] {
           std::string items;
           for (int i = 0; i < 40; ++i)
             items += "{ id = " + std::to_string(i) + ", name = \"n\" },";
           return items;
         }() +
         "] }\n" +
         "[[route]]\npath = \"/small\"\nhandler = \"static\"\nbody = \"tiny\"\n"
         "[[route]]\npath = \"/image\"\nhandler = \"static\"\ncontent_type = \"image/png\"\n" +
         "body = '''" + page() + "'''\n" +
         "[[route]]\npath = \"/off\"\nhandler = \"static\"\ncompress = false\n" +
         "content_type = \"text/html\"\nbody = '''" + page() + "'''\n" +
         "[[route]]\npath = \"/metrics\"\nhandler = \"metrics\"\n";
}

std::string accept(std::string_view codings) {
  return "Accept-Encoding: " + std::string(codings) + "\r\n";
}

// What the coding's command-line tool makes of a body.
std::string decode(std::string_view coding, const std::string& body) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto in = dir / ("lithe-compression-" + std::to_string(::getpid()) + ".in");
  const auto out = dir / ("lithe-compression-" + std::to_string(::getpid()) + ".out");
  std::ofstream(in, std::ios::binary) << body;
  const std::string tool = coding == "gzip" ? "gzip" : coding == "br" ? "brotli" : "zstd -q";
  const std::string command = tool + " -dc < '" + in.string() + "' > '" + out.string() + "'";
  const int status = std::system(command.c_str());
  std::ifstream result(out, std::ios::binary);
  std::string decoded((std::istreambuf_iterator<char>(result)), {});
  std::filesystem::remove(in);
  std::filesystem::remove(out);
  return status == 0 ? decoded : "<" + command + " failed>";
}

TEST(Compression, EveryCodingDecodesWithItsToolToTheBody) {
  TestServer s(config());
  const HttpResponse plain = fetch(s.port(), get("/page"));
  ASSERT_EQ(plain.status, 200);
  EXPECT_EQ(plain.body, page());
  EXPECT_FALSE(plain.header("Content-Encoding"));
  EXPECT_EQ(plain.header("Vary").value_or(""), "Accept-Encoding");
  const std::string identity_tag = plain.header("ETag").value_or("");
  EXPECT_TRUE(identity_tag.size() > 2 && identity_tag.front() == '"' && identity_tag.back() == '"')
      << identity_tag;
  std::set<std::string> tags{identity_tag};
  for (std::string coding : {"gzip", "br", "zstd"}) {
    for (const char* path : {"/page", "/api"}) {
      const HttpResponse r = fetch(s.port(), get(path, accept(coding)));
      ASSERT_EQ(r.status, 200) << path << " " << coding;
      EXPECT_EQ(r.header("Content-Encoding").value_or(""), coding) << path;
      EXPECT_EQ(r.header("Vary").value_or(""), "Accept-Encoding") << path;
      EXPECT_EQ(r.header("Content-Length").value_or(""), std::to_string(r.body.size()));
      const std::string identity = fetch(s.port(), get(path)).body;
      EXPECT_LT(r.body.size(), identity.size()) << path << " " << coding;
      EXPECT_EQ(decode(coding, r.body), identity) << path << " " << coding;
      const std::string tag = r.header("ETag").value_or("");
      EXPECT_TRUE(tag.ends_with("-" + coding + "\"")) << tag;
      if (std::string(path) == "/page") tags.insert(tag);
    }
  }
  EXPECT_EQ(tags.size(), 4u);  // a strong tag per representation
}

// The table's cases against a server offering exactly the codings of their `offered:` line.
TEST(Compression, TheAcceptEncodingTableAgainstTheServer) {
  std::ifstream file(LITHE_ACCEPT_ENCODING_CASES);
  ASSERT_TRUE(file);
  std::map<std::string, std::vector<std::pair<std::string, std::vector<std::string>>>> sections;
  std::string offered, line;
  std::vector<std::string> order;
  while (std::getline(file, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("offered:", 0) == 0) {
      offered = line.substr(8);
      order.push_back(offered);
      continue;
    }
    const auto arrow = line.find("<-");
    std::string expected = line.substr(0, arrow);
    expected.erase(expected.find_last_not_of(' ') + 1);
    std::vector<std::string> fields;
    std::string rest = line.substr(arrow + 2);
    for (auto open = rest.find('"'); open != std::string::npos; open = rest.find('"')) {
      const auto close = rest.find('"', open + 1);
      fields.push_back(rest.substr(open + 1, close - open - 1));
      rest = rest.substr(close + 1);
    }
    sections[offered].emplace_back(expected, fields);
  }
  ASSERT_EQ(order.size(), 4u);
  int checked = 0;
  for (const std::string& list : order) {
    // "zstd, br, gzip" -> encodings = ["zstd", "br", "gzip"]; empty -> compression off.
    std::string encodings;
    std::stringstream in(list);
    for (std::string item; std::getline(in, item, ',');) {
      item.erase(0, item.find_first_not_of(' '));
      item.erase(item.find_last_not_of(' ') + 1);
      if (!item.empty()) encodings += (encodings.empty() ? "\"" : ", \"") + item + "\"";
    }
    TestServer s(config("[compression]\nencodings = [" + encodings + "]\n"));
    RawClient c(s.port());
    for (const auto& [expected, fields] : sections[list]) {
      std::string headers;
      for (const std::string& f : fields) headers += "Accept-Encoding: " + f + "\r\n";
      c.send(get("/page", headers));
      const HttpResponse r = c.read_response();
      ASSERT_EQ(r.status, 200);
      EXPECT_EQ(r.header("Content-Encoding").value_or("identity"), expected)
          << "offered: " << list << "; fields: " << headers;
      ++checked;
    }
  }
  EXPECT_GT(checked, 50);
}

TEST(Compression, HeadAndNotModifiedApplyToTheChosenCoding) {
  TestServer s(config());
  RawClient c(s.port());
  c.send(get("/page", accept("br")));
  const HttpResponse br = c.read_response();
  c.send(request("HEAD", "/page", accept("br")));
  const HttpResponse head = c.read_response(true);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(head.header("Content-Encoding").value_or(""), "br");
  EXPECT_EQ(head.header("Content-Length"), br.header("Content-Length"));
  EXPECT_EQ(head.header("ETag"), br.header("ETag"));

  const std::string tag = br.header("ETag").value_or("");
  c.send(get("/page", accept("br") + "If-None-Match: " + tag + "\r\n"));
  const HttpResponse not_modified = c.read_response();
  EXPECT_EQ(not_modified.status, 304);
  EXPECT_EQ(not_modified.body, "");
  EXPECT_EQ(not_modified.header("ETag").value_or(""), tag);
  EXPECT_EQ(not_modified.header("Vary").value_or(""), "Accept-Encoding");
  // The br tag does not name the gzip form: that one is sent whole.
  c.send(get("/page", accept("gzip") + "If-None-Match: \"x\", " + tag + "\r\n"));
  const HttpResponse other = c.read_response();
  EXPECT_EQ(other.status, 200);
  EXPECT_EQ(other.header("Content-Encoding").value_or(""), "gzip");
  c.send(get("/page", accept("gzip") + "If-None-Match: *\r\n"));
  EXPECT_EQ(c.read_response().status, 304);
}

TEST(Compression, SmallBodiesOtherTypesAndRoutesThatOptOutGoAsTheyAre) {
  TestServer s(config());
  for (const char* path : {"/small", "/image", "/off"}) {
    const HttpResponse r = fetch(s.port(), get(path, accept("gzip, br, zstd")));
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_FALSE(r.header("Content-Encoding")) << path;
    EXPECT_FALSE(r.header("Vary")) << path;
    EXPECT_FALSE(r.header("ETag")) << path;
  }
  EXPECT_EQ(fetch(s.port(), get("/small", accept("gzip"))).body, "tiny");
  // A body no coding makes smaller has one form: nothing varies.
  TestServer tiny(config("[compression]\nmin_size = \"0B\"\n"));
  const HttpResponse r = fetch(tiny.port(), get("/small", accept("gzip, br, zstd")));
  EXPECT_FALSE(r.header("Content-Encoding"));
  EXPECT_FALSE(r.header("Vary"));
  // Compression off for the whole server.
  TestServer off(config("[compression]\nencodings = []\n"));
  EXPECT_FALSE(fetch(off.port(), get("/page", accept("gzip"))).header("Content-Encoding"));
}

TEST(Compression, MetricsCountResponsesByEncoding) {
  TestServer s(config());
  RawClient c(s.port());
  for (const char* coding : {"br", "br", "gzip", "zstd", "identity"}) {
    c.send(get("/page", accept(coding)));
    EXPECT_EQ(c.read_response().status, 200);
  }
  c.send(get("/metrics"));
  const std::string metrics = c.read_response().body;
  EXPECT_NE(metrics.find("lithe_responses_by_encoding_total{encoding=\"br\"} 2\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("lithe_responses_by_encoding_total{encoding=\"gzip\"} 1\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("lithe_responses_by_encoding_total{encoding=\"zstd\"} 1\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("lithe_responses_by_encoding_total{encoding=\"identity\"} 1\n"),
            std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Precompressed sidecars of `files`

// A root with app.js and its sidecars made by the command-line tools, a stale one, one without
// its original, one that is a symlink out of the root, and a type not worth compressing.
struct SidecarRoot {
  TempDir root;
  TempDir outside;
  std::string js = page();

  SidecarRoot() {
    const std::string dir = root.path().string();
    root.write("app.js", js);
    root.write("stale.css", js);
    root.write("stale.css.gz", "stale bytes");
    root.write("only.js.gz", "no original");
    root.write("link.js", js);
    root.write("image.png", js);
    root.write("image.png.gz", "compressed image");
    EXPECT_EQ(std::system(("cd '" + dir + "' && gzip -k -9 app.js && brotli -k app.js && " +
                           "zstd -q -k app.js && gzip -k link.js")
                              .c_str()),
              0);
    // Older than the file it stands for: ignored.
    std::filesystem::last_write_time(
        root.path() / "stale.css.gz",
        std::filesystem::last_write_time(root.path() / "stale.css") - std::chrono::hours(1));
    const auto secret = outside.write("secret.br", "outside the root");
    std::filesystem::create_symlink(secret, root.path() / "link.js.br");
  }

  std::string sidecar(std::string_view name) const { return read_file(root.path() / name); }

  std::string config() const {
    return "[[route]]\npath = \"/files/*path\"\nhandler = \"files\"\nroot = \"" +
           root.path().string() + "\"\n[[route]]\npath = \"/raw/*path\"\nhandler = \"files\"\n" +
           "precompressed = false\nroot = \"" + root.path().string() + "\"\n";
  }
};

TEST(Sidecars, EachCodingSendsItsFileAsItIs) {
  SidecarRoot files;
  TestServer s(files.config());
  RawClient c(s.port());
  c.send(get("/files/app.js"));
  const HttpResponse plain = c.read_response();
  EXPECT_EQ(plain.body, files.js);
  EXPECT_FALSE(plain.header("Content-Encoding"));
  EXPECT_EQ(plain.header("Vary").value_or(""), "Accept-Encoding");
  for (auto [coding, suffix] : {std::pair{"gzip", ".gz"}, {"br", ".br"}, {"zstd", ".zst"}}) {
    c.send(get("/files/app.js", accept(coding)));
    const HttpResponse r = c.read_response();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("Content-Encoding").value_or(""), coding);
    EXPECT_EQ(r.header("Content-Type"), plain.header("Content-Type"));
    EXPECT_EQ(r.header("Vary").value_or(""), "Accept-Encoding");
    EXPECT_EQ(r.body, files.sidecar(std::string("app.js") + suffix)) << coding;
    EXPECT_EQ(decode(coding, r.body), files.js) << coding;
    EXPECT_TRUE(r.header("ETag").value_or("").ends_with("-" + std::string(coding) + "\""));
  }
  // The client's weights first, then the server's order (zstd, br, gzip).
  c.send(get("/files/app.js", accept("gzip, br")));
  EXPECT_EQ(c.read_response().header("Content-Encoding").value_or(""), "br");
  c.send(get("/files/app.js", accept("gzip, br;q=0.5")));
  EXPECT_EQ(c.read_response().header("Content-Encoding").value_or(""), "gzip");
  c.send(get("/files/app.js", accept("gzip;q=0.5, identity")));
  EXPECT_FALSE(c.read_response().header("Content-Encoding"));
  // precompressed = false: the file itself, nothing varies.
  c.send(get("/raw/app.js", accept("br")));
  const HttpResponse raw = c.read_response();
  EXPECT_EQ(raw.body, files.js);
  EXPECT_FALSE(raw.header("Content-Encoding"));
  EXPECT_FALSE(raw.header("Vary"));
}

TEST(Sidecars, RangeHeadAndNotModifiedApplyToTheCompressedBytes) {
  SidecarRoot files;
  TestServer s(files.config());
  RawClient c(s.port());
  const std::string br = files.sidecar("app.js.br");
  c.send(get("/files/app.js", accept("br") + "Range: bytes=0-9\r\n"));
  const HttpResponse part = c.read_response();
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.header("Content-Encoding").value_or(""), "br");
  EXPECT_EQ(part.body, br.substr(0, 10));
  EXPECT_EQ(part.header("Content-Range").value_or(""), "bytes 0-9/" + std::to_string(br.size()));
  c.send(request("HEAD", "/files/app.js", accept("br")));
  const HttpResponse head = c.read_response(true);
  EXPECT_EQ(head.header("Content-Length").value_or(""), std::to_string(br.size()));
  EXPECT_EQ(head.header("Content-Encoding").value_or(""), "br");
  const std::string tag = head.header("ETag").value_or("");
  c.send(get("/files/app.js", accept("br") + "If-None-Match: " + tag + "\r\n"));
  const HttpResponse not_modified = c.read_response();
  EXPECT_EQ(not_modified.status, 304);
  EXPECT_EQ(not_modified.header("Vary").value_or(""), "Accept-Encoding");
  c.send(get("/files/app.js", accept("gzip") + "If-None-Match: " + tag + "\r\n"));
  EXPECT_EQ(c.read_response().status, 200);  // the br tag is not the gzip file's
}

TEST(Sidecars, StaleLeavingTheRootWithoutOriginalOrOfAnotherTypeAreNotSent) {
  SidecarRoot files;
  TestServer s(files.config());
  RawClient c(s.port());
  c.send(get("/files/stale.css", accept("gzip")));
  const HttpResponse stale = c.read_response();
  EXPECT_EQ(stale.body, files.js);
  EXPECT_FALSE(stale.header("Content-Encoding"));
  // link.js.br leads out of the root: the next coding the client takes is sent instead.
  c.send(get("/files/link.js", accept("br, gzip")));
  const HttpResponse link = c.read_response();
  EXPECT_EQ(link.header("Content-Encoding").value_or(""), "gzip");
  EXPECT_EQ(decode("gzip", link.body), files.js);
  c.send(get("/files/link.js", accept("br")));
  EXPECT_EQ(c.read_response().body, files.js);
  c.send(get("/files/only.js", accept("gzip")));
  EXPECT_EQ(c.read_response().status, 404);
  c.send(get("/files/image.png", accept("gzip")));
  const HttpResponse image = c.read_response();
  EXPECT_EQ(image.body, files.js);
  EXPECT_FALSE(image.header("Content-Encoding"));
  EXPECT_FALSE(image.header("Vary"));
}

// ---------------------------------------------------------------------------------------------
// Compressed streams (Response::compressed_stream)

std::string stream_text() {
  std::string text;
  for (int i = 0; i < 200; ++i) text += "line " + std::to_string(i) + " of a streamed body\n";
  return text;
}

// The handle of the stream the "held" handler started, for the test to go on with.
struct Held {
  std::mutex m;
  lithe::Stream stream;
};
Held held;

void register_streams(lithe::Server& server) {
  server.handle("pieces", [](const lithe::Request& req, lithe::Response& res) {
    res.body_view({}, req.query_param("type").empty() ? "text/plain; charset=utf-8"
                                                      : std::string(req.query_param("type")));
    lithe::Stream s = res.compressed_stream();
    const std::string text = stream_text();
    for (std::size_t at = 0; at < text.size(); at += 1000) s.write(text.substr(at, 1000));
    s.end();
  });
  server.handle("held", [](const lithe::Request&, lithe::Response& res) {
    res.body_view({}, "text/plain");
    lithe::Stream s = res.compressed_stream();
    s.write("first piece\n");
    std::lock_guard lock(held.m);
    held.stream = s;
  });
}

std::string stream_config() {
  return "[[route]]\npath = \"/pieces\"\nhandler = \"pieces\"\nmethods = [\"GET\"]\n"
         "[[route]]\npath = \"/raw\"\nhandler = \"pieces\"\ncompress = false\n"
         "[[route]]\npath = \"/held\"\nhandler = \"held\"\n";
}

TEST(CompressedStreams, EachCodingDecodesToWhatWasWritten) {
  TestServer s(stream_config(), register_streams);
  RawClient c(s.port());
  for (std::string coding : {"gzip", "br", "zstd"}) {
    c.send(get("/pieces", accept(coding)));
    const HttpResponse r = c.read_response();
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("Content-Encoding").value_or(""), coding);
    EXPECT_EQ(r.header("Vary").value_or(""), "Accept-Encoding");
    EXPECT_EQ(r.header("Transfer-Encoding").value_or(""), "chunked");
    EXPECT_LT(r.body.size(), stream_text().size() / 2) << coding;
    EXPECT_EQ(decode(coding, r.body), stream_text()) << coding;
  }
  c.send(get("/pieces"));  // no Accept-Encoding: as written, and it still varies
  const HttpResponse plain = c.read_response();
  EXPECT_EQ(plain.body, stream_text());
  EXPECT_FALSE(plain.header("Content-Encoding"));
  EXPECT_EQ(plain.header("Vary").value_or(""), "Accept-Encoding");
  c.send(request("HEAD", "/pieces", accept("br")));
  const HttpResponse head = c.read_response(true);
  EXPECT_EQ(head.header("Content-Encoding").value_or(""), "br");
  EXPECT_EQ(head.body, "");
  // A route with compress = false, and a type not in compression.types: plain streams.
  for (const char* path : {"/raw", "/pieces?type=image/png"}) {
    c.send(get(path, accept("gzip, br, zstd")));
    const HttpResponse r = c.read_response();
    EXPECT_EQ(r.body, stream_text()) << path;
    EXPECT_FALSE(r.header("Content-Encoding")) << path;
    EXPECT_FALSE(r.header("Vary")) << path;
  }
}

TEST(CompressedStreams, EachWriteCanBeDecodedWhenItArrives) {
  TestServer s(stream_config(), register_streams);
  RawClient c(s.port());
  c.send(get("/held", accept("gzip")));
  // The head, then the first chunk whole: "SIZE\r\n" DATA "\r\n", nothing after it yet.
  c.peek_until("\r\n\r\n");
  const auto first_chunk = [&]() -> std::optional<std::string> {
    const std::string& b = c.buffered();
    const std::size_t body = b.find("\r\n\r\n") + 4;
    const std::size_t line = b.find("\r\n", body);
    if (line == std::string::npos) return std::nullopt;
    const std::size_t size = std::stoul(b.substr(body, line - body), nullptr, 16);
    if (b.size() < line + 2 + size) return std::nullopt;
    return b.substr(line + 2, size);
  };
  std::optional<std::string> chunk;
  while (!(chunk = first_chunk())) ASSERT_FALSE(c.is_closed(io_timeout));
  // gzip's flush point: what has arrived inflates to the first piece, with no end yet.
  z_stream z{};
  ASSERT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
  std::string out(256, '\0');
  z.next_in = reinterpret_cast<Bytef*>(chunk->data());
  z.avail_in = static_cast<uInt>(chunk->size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&z, Z_SYNC_FLUSH), Z_OK);
  out.resize(out.size() - z.avail_out);
  inflateEnd(&z);
  EXPECT_EQ(out, "first piece\n");

  lithe::Stream stream;
  {
    std::lock_guard lock(held.m);
    stream = std::move(held.stream);
  }
  std::promise<void> written;
  boost::asio::post(stream.io(), [&] {
    stream.write("second piece\n");
    stream.end();
    stream = lithe::Stream();
    written.set_value();
  });
  written.get_future().wait();
  const HttpResponse r = c.read_response();
  EXPECT_EQ(decode("gzip", r.body), "first piece\nsecond piece\n");
}

}  // namespace
}  // namespace lithe::test
