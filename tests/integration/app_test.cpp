// The application features of SPEC §10 as a client and the access log see them: request IDs,
// middleware and CORS.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <regex>
#include <set>
#include <string>
#include <vector>

#include "harness.hpp"

namespace lithe::test {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Request IDs

const std::regex made_id("[0-9a-f]{32}");

std::string id_config(std::string_view extra = "") {
  return "[server]\nrequest_id_header = \"X-Request-Id\"\n" + std::string(extra) +
         "\n[[route]]\npath = \"/id\"\nhandler = \"id\"\n"
         "\n[[route]]\npath = \"/static\"\nhandler = \"static\"\nbody = \"fixed\"\n";
}

// Answers with the ID the handler sees.
void register_id(lithe::Server& server) {
  server.handle("id", [](const lithe::Request& req, lithe::Response& res) {
    res.text(std::string(req.request_id()));
  });
}

std::string id_of(const HttpResponse& r) {
  return r.header("X-Request-Id").value_or("<none>");
}

TEST(RequestId, MadeForEachRequestAndTheHandlerSeesIt) {
  TestServer s(id_config(), register_id);
  RawClient c(s.port());
  c.send(get("/id"));
  const HttpResponse a = c.read_response();
  c.send(get("/id"));
  const HttpResponse b = c.read_response();
  EXPECT_TRUE(std::regex_match(id_of(a), made_id)) << a.raw;
  EXPECT_EQ(a.body, id_of(a));
  EXPECT_EQ(b.body, id_of(b));
  EXPECT_NE(id_of(a), id_of(b));
  EXPECT_EQ(a.header_count("X-Request-Id"), 1u);
}

TEST(RequestId, EveryResponseCarriesOne) {
  TestServer s(id_config(), register_id);
  RawClient c(s.port());
  c.send(get("/static"));  // a prepared response
  const HttpResponse prepared = c.read_response();
  EXPECT_EQ(prepared.body, "fixed");
  EXPECT_TRUE(std::regex_match(id_of(prepared), made_id)) << prepared.raw;
  c.send(get("/missing"));
  EXPECT_TRUE(std::regex_match(id_of(c.read_response()), made_id));
  c.send(request("OPTIONS", "/id"));
  EXPECT_TRUE(std::regex_match(id_of(c.read_response()), made_id));
  c.send("GET /id HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");  // rejected by the parser
  const HttpResponse rejected = c.read_response();
  EXPECT_EQ(rejected.status, 400);
  EXPECT_TRUE(std::regex_match(id_of(rejected), made_id)) << rejected.raw;
}

TEST(RequestId, OffByDefault) {
  TestServer s("[[route]]\npath = \"/id\"\nhandler = \"id\"\n", register_id);
  const HttpResponse r = fetch(s.port(), get("/id", "X-Request-Id: abc\r\n"));
  EXPECT_FALSE(r.has_header("X-Request-Id"));
  EXPECT_EQ(r.body, "");
}

TEST(RequestId, AnUntrustedClientsIdIsReplaced) {
  TestServer s(id_config(), register_id);
  const HttpResponse r = fetch(s.port(), get("/id", "X-Request-Id: chosen-by-client\r\n"));
  EXPECT_TRUE(std::regex_match(id_of(r), made_id)) << r.raw;
  EXPECT_EQ(r.body, id_of(r));
}

TEST(RequestId, ATrustedProxysValidIdIsKept) {
  TestServer s(id_config("\n[proxy]\ntrusted = [\"127.0.0.1/32\"]\n"), register_id);
  const std::string sent = "Root=1-67891233-abcdef012345678912345678;edge:7";
  HttpResponse r = fetch(s.port(), get("/id", "x-request-id: " + sent + "\r\n"));
  EXPECT_EQ(id_of(r), sent);
  EXPECT_EQ(r.body, sent);

  // The same from a peer outside [proxy] trusted.
  RawClient other(s.port(), "127.0.0.2");
  other.send(get("/id", "X-Request-Id: " + sent + "\r\n"));
  EXPECT_TRUE(std::regex_match(id_of(other.read_response()), made_id));

  // Values that cannot be repeated safely are replaced, even from a trusted peer.
  for (const std::string& bad : std::vector<std::string>{
           "X-Request-Id: has space\r\n", "X-Request-Id: a,b\r\n", "X-Request-Id: \"q\"\r\n",
           "X-Request-Id: " + std::string(129, 'a') + "\r\n", "X-Request-Id: \r\n",
           "X-Request-Id: one\r\nX-Request-Id: two\r\n"}) {
    r = fetch(s.port(), get("/id", bad));
    EXPECT_TRUE(std::regex_match(id_of(r), made_id)) << bad << r.raw;
  }
  r = fetch(s.port(), get("/id", "X-Request-Id: " + std::string(128, 'a') + "\r\n"));
  EXPECT_EQ(id_of(r), std::string(128, 'a'));
}

TEST(RequestId, DistinctAcrossWorkers) {
  TestServer s(id_config("workers = 2\n"), register_id);
  std::set<std::string> ids;
  std::set<std::string> prefixes;  // the process's bits and the worker's index
  for (int i = 0; i < 64; ++i) {
    const std::string id = id_of(fetch(s.port(), get("/id")));
    ASSERT_TRUE(std::regex_match(id, made_id)) << id;
    ids.insert(id);
    prefixes.insert(id.substr(0, 16));
  }
  EXPECT_EQ(ids.size(), 64u);
  EXPECT_LE(prefixes.size(), 2u);
}

TEST(RequestId, WrittenInTheAccessLog) {
  TempDir dir;
  for (const std::string format : {"combined", "json"}) {
    const fs::path log = dir.path() / (format + ".log");
    std::string id;
    {
      TestServer s(id_config("\n[log]\naccess = \"" + log.string() + "\"\naccess_format = \"" +
                             format + "\"\n"),
                   register_id);
      id = id_of(fetch(s.port(), get("/id")));
    }
    const std::string line = read_file(log);
    ASSERT_TRUE(std::regex_match(id, made_id));
    if (format == "combined") {
      EXPECT_TRUE(line.ends_with(" " + id + "\n")) << line;
    } else {
      simdjson::dom::parser parser;
      simdjson::dom::element e = parser.parse(line);
      EXPECT_EQ(std::string_view(e["request_id"]), id) << line;
    }
  }
}

}  // namespace
}  // namespace lithe::test
