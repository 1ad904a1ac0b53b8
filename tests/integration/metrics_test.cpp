// The `metrics` handler over a real socket: its Prometheus text parsed back line by line, and
// the counters checked against the requests this test made.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <sstream>
#include <string>

#include "harness.hpp"

namespace lithe::test {
namespace {

constexpr const char* kConfig = R"(
[[route]]
path = "/plaintext"
handler = "static"
body = "Hello, World!"

[[route]]
path = "/users/{id}"
methods = ["GET", "POST"]
handler = "json"
value = { ok = true }

[[route]]
path = "/metrics"
handler = "metrics"
)";

struct Exposition {
  std::map<std::string, std::string> types;  // family → counter, gauge, histogram
  std::map<std::string, double> samples;     // `name{labels}` exactly as written → value
  std::vector<std::string> bad_lines;
};

// Parses text format 0.0.4: # HELP / # TYPE lines and `name{label="v",...} value` samples.
Exposition parse(const std::string& text) {
  static const std::regex type_re(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram))");
  static const std::regex help_re(R"(# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+)");
  static const std::regex sample_re(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})?) ([-+0-9.eE]+|\+Inf))");
  Exposition e;
  std::istringstream in(text);
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, type_re)) {
      e.types[m[1]] = m[2];
    } else if (std::regex_match(line, help_re)) {
    } else if (std::regex_match(line, m, sample_re)) {
      e.samples[m[1]] = std::stod(m[5]);
    } else {
      e.bad_lines.push_back(line);
    }
  }
  return e;
}

double value(const Exposition& e, const std::string& key) {
  auto it = e.samples.find(key);
  return it == e.samples.end() ? -1 : it->second;
}

TEST(Metrics, TextParsesBackAndCountsWhatHappened) {
  TestServer server(kConfig);
  {
    RawClient c(server.port());
    for (int i = 0; i < 3; ++i) {
      c.send(get("/plaintext"));
      EXPECT_EQ(c.read_response().status, 200);
    }
    c.send(get("/users/7"));
    EXPECT_EQ(c.read_response().status, 200);
    c.send(request("POST", "/users/7", "Content-Length: 2\r\n") + "{}");
    EXPECT_EQ(c.read_response().status, 200);
    c.send(request("DELETE", "/users/7"));
    EXPECT_EQ(c.read_response().status, 405);
    c.send(get("/nowhere"));
    EXPECT_EQ(c.read_response().status, 404);
  }
  {
    RawClient bad(server.port());
    bad.send("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    EXPECT_EQ(bad.read_response().status, 400);
  }
  RawClient scrape(server.port());
  scrape.send(get("/metrics"));
  HttpResponse r = scrape.read_response();
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");

  const Exposition e = parse(r.body);
  EXPECT_TRUE(e.bad_lines.empty()) << e.bad_lines.front();
  EXPECT_EQ(e.types.at("lithe_requests_total"), "counter");
  EXPECT_EQ(e.types.at("lithe_request_duration_seconds"), "histogram");
  EXPECT_EQ(e.types.at("lithe_connections_open"), "gauge");
  EXPECT_EQ(e.types.at("lithe_connections_total"), "counter");
  EXPECT_EQ(e.types.at("lithe_received_bytes_total"), "counter");
  EXPECT_EQ(e.types.at("lithe_sent_bytes_total"), "counter");
  EXPECT_EQ(e.types.at("lithe_parse_errors_total"), "counter");
  EXPECT_EQ(e.types.at("lithe_reloads_total"), "counter");

  EXPECT_EQ(value(e, R"(lithe_requests_total{route="/plaintext",code="200"})"), 3);
  // GET and POST share the path, so they share the label.
  EXPECT_EQ(value(e, R"(lithe_requests_total{route="/users/{id}",code="200"})"), 2);
  EXPECT_EQ(value(e, R"(lithe_requests_total{route="<unmatched>",code="405"})"), 1);
  EXPECT_EQ(value(e, R"(lithe_requests_total{route="<unmatched>",code="404"})"), 1);
  EXPECT_EQ(value(e, R"(lithe_parse_errors_total{kind="bad_request"})"), 1);
  EXPECT_EQ(value(e, R"(lithe_parse_errors_total{kind="timeout"})"), 0);
  EXPECT_EQ(value(e, "lithe_connections_total"), 3);
  EXPECT_EQ(value(e, "lithe_connections_open"), 1);  // the scrape itself
  EXPECT_GT(value(e, "lithe_received_bytes_total"), 100);
  EXPECT_GT(value(e, "lithe_sent_bytes_total"), 500);
  EXPECT_EQ(value(e, "lithe_reloads_total"), 0);

  // The histogram: cumulative buckets, +Inf equal to the count, a sum that is a duration.
  const std::string route = R"(route="/plaintext")";
  double previous = 0;
  int buckets = 0;
  for (const auto& [key, v] : e.samples) {
    if (key.rfind("lithe_request_duration_seconds_bucket{" + route, 0) != 0) continue;
    ++buckets;
    EXPECT_LE(v, 3) << key;
  }
  EXPECT_EQ(buckets, 18);  // 17 bounds and +Inf
  for (const char* le : {"5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
                         "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"}) {
    const double v =
        value(e, "lithe_request_duration_seconds_bucket{" + route + ",le=\"" + le + "\"}");
    ASSERT_GE(v, 0) << le;
    EXPECT_GE(v, previous) << le;
    previous = v;
  }
  EXPECT_EQ(previous, 3);
  EXPECT_EQ(value(e, "lithe_request_duration_seconds_count{" + route + "}"), 3);
  const double sum = value(e, "lithe_request_duration_seconds_sum{" + route + "}");
  EXPECT_GE(sum, 0);
  EXPECT_LT(sum, 30);
}

}  // namespace
}  // namespace lithe::test
