// Config loading (SPEC §3): defaults, a full file read back, the unit parsers, and one invalid
// fixture per kind of error, each checked to its exact FILE:LINE:COL: message.
#include "lithe/config.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/ip.hpp"
#include "config/units.hpp"

#ifndef LITHE_FIXTURES
#error "LITHE_FIXTURES must name tests/unit/fixtures"
#endif

namespace lithe {
namespace {

using namespace std::chrono_literals;
using base::parse_cidr;
using base::parse_ip;
using config::parse_duration;
using config::parse_listen_address;
using config::parse_size;

std::string fixture(const std::string& name) {
  return std::string(LITHE_FIXTURES) + "/" + name;
}

std::vector<ConfigError> file_errors(const std::string& name) {
  try {
    load_config(fixture(name));
  } catch (const ConfigErrors& e) {
    return e.errors();
  }
  ADD_FAILURE() << name << " loaded without errors";
  return {};
}

std::vector<ConfigError> text_errors(std::string_view text) {
  try {
    parse_config(text, "t.toml");
  } catch (const ConfigErrors& e) {
    return e.errors();
  }
  ADD_FAILURE() << "loaded without errors:\n" << text;
  return {};
}

std::vector<std::string> strings(const std::vector<ConfigError>& errors) {
  std::vector<std::string> out;
  for (const auto& error : errors) out.push_back(error.to_string());
  return out;
}

// The single error of a text, as "LINE:COL: message".
std::string only_error(std::string_view text) {
  auto errors = text_errors(text);
  if (errors.size() != 1) {
    ADD_FAILURE() << errors.size() << " errors for:\n" << text;
    return {};
  }
  return std::to_string(errors[0].pos.line) + ":" + std::to_string(errors[0].pos.column) + ": " +
         errors[0].message;
}

const RouteConfig* find_route(const Config& config, std::string_view path) {
  for (const auto& route : config.routes)
    if (route.path == path) return &route;
  return nullptr;
}

std::array<uint8_t, 16> ip(std::string_view text) {
  auto address = parse_ip(text);
  EXPECT_TRUE(address) << text;
  return address.value_or(std::array<uint8_t, 16>{});
}

// --- defaults --------------------------------------------------------------------------------

TEST(DefaultConfig, HasSpecDefaults) {
  Config c = default_config();
  EXPECT_EQ(c.source, "<default>");
  ASSERT_EQ(c.server.listen.size(), 1u);
  EXPECT_EQ(c.server.listen[0].kind, ListenAddress::Kind::tcp);
  EXPECT_EQ(c.server.listen[0].host, "127.0.0.1");
  EXPECT_EQ(c.server.listen[0].port, 8080);
  EXPECT_EQ(c.server.workers, 1u);
  EXPECT_EQ(c.server.backlog, 1024);
  EXPECT_EQ(c.server.max_connections, 10000u);
  EXPECT_EQ(c.server.server_header, "lithe");
  EXPECT_EQ(c.server.io, "auto");
  EXPECT_EQ(c.server.pid_file, "");
  EXPECT_EQ(c.limits.request_line, 8192u);
  EXPECT_EQ(c.limits.header_section, 16384u);
  EXPECT_EQ(c.limits.headers, 100u);
  EXPECT_EQ(c.limits.body, 1048576u);
  EXPECT_EQ(c.limits.pipeline_depth, 16u);
  EXPECT_EQ(c.limits.requests_per_connection, 0u);
  EXPECT_EQ(c.timeouts.header, 10s);
  EXPECT_EQ(c.timeouts.body, 30s);
  EXPECT_EQ(c.timeouts.keepalive, 60s);
  EXPECT_EQ(c.timeouts.write, 30s);
  EXPECT_EQ(c.timeouts.shutdown, 10s);
  EXPECT_EQ(c.timeouts.handler, 60s);
  EXPECT_EQ(c.log.level, "info");
  EXPECT_EQ(c.log.error, "stderr");
  EXPECT_EQ(c.log.access, "off");
  EXPECT_EQ(c.log.access_format, "combined");
  EXPECT_TRUE(c.proxy.trusted.empty());
  EXPECT_EQ(c.proxy.client_header, "X-Forwarded-For");
  EXPECT_FALSE(c.proxy.proxy_protocol);
}

TEST(DefaultConfig, HasTheRoutesOfDefaultToml) {
  Config c = default_config();
  struct Expected {
    const char* path;
    const char* handler;
  };
  for (auto [path, handler] : {Expected{"/", "static"}, Expected{"/plaintext", "static"},
                               Expected{"/json", "json"}, Expected{"/health", "health"}}) {
    const RouteConfig* route = find_route(c, path);
    ASSERT_NE(route, nullptr) << path;
    EXPECT_EQ(route->handler, handler) << path;
    EXPECT_EQ(route->methods, std::vector<std::string>{"GET"}) << path;
  }
  const Value* body = find_route(c, "/plaintext")->options.find("body");
  ASSERT_NE(body, nullptr);
  EXPECT_EQ(body->kind, Value::Kind::string);
  EXPECT_EQ(body->string, "Hello, World!");
  const Value* value = find_route(c, "/json")->options.find("value");
  ASSERT_NE(value, nullptr);
  ASSERT_EQ(value->kind, Value::Kind::table);
  ASSERT_NE(value->find("message"), nullptr);
  EXPECT_EQ(value->find("message")->string, "Hello, World!");
}

// The struct defaults, an empty file and the default file agree (routes aside).
TEST(DefaultConfig, EmptyFileGivesTheSameSettings) {
  Config empty = parse_config("", "empty.toml");
  Config def = default_config();
  Config plain;
  EXPECT_EQ(empty.source, "empty.toml");
  EXPECT_TRUE(empty.routes.empty());
  ASSERT_EQ(empty.server.listen.size(), 1u);
  EXPECT_EQ(empty.server.listen[0].text, "127.0.0.1:8080");
  EXPECT_EQ(empty.server.listen[0].text, def.server.listen[0].text);
  for (const Config* c : {&empty, &def}) {
    EXPECT_EQ(c->server.workers, plain.server.workers);
    EXPECT_EQ(c->server.backlog, plain.server.backlog);
    EXPECT_EQ(c->server.max_connections, plain.server.max_connections);
    EXPECT_EQ(c->server.server_header, plain.server.server_header);
    EXPECT_EQ(c->limits.request_line, plain.limits.request_line);
    EXPECT_EQ(c->limits.header_section, plain.limits.header_section);
    EXPECT_EQ(c->limits.headers, plain.limits.headers);
    EXPECT_EQ(c->limits.body, plain.limits.body);
    EXPECT_EQ(c->limits.pipeline_depth, plain.limits.pipeline_depth);
    EXPECT_EQ(c->timeouts.header, plain.timeouts.header);
    EXPECT_EQ(c->timeouts.body, plain.timeouts.body);
    EXPECT_EQ(c->timeouts.keepalive, plain.timeouts.keepalive);
    EXPECT_EQ(c->timeouts.write, plain.timeouts.write);
    EXPECT_EQ(c->timeouts.shutdown, plain.timeouts.shutdown);
    EXPECT_EQ(c->log.level, plain.log.level);
    EXPECT_EQ(c->log.access_format, plain.log.access_format);
    EXPECT_EQ(c->proxy.client_header, plain.proxy.client_header);
    EXPECT_EQ(c->compression.encodings, plain.compression.encodings);
    EXPECT_EQ(c->compression.min_size, plain.compression.min_size);
    EXPECT_EQ(c->compression.types, plain.compression.types);
  }
}

// --- a full valid file -----------------------------------------------------------------------

TEST(LoadConfig, FullFileReadsBackEveryKey) {
  Config c = load_config(fixture("full.toml"));
  EXPECT_EQ(c.source, fixture("full.toml"));

  const auto& listen = c.server.listen;
  ASSERT_EQ(listen.size(), 5u);
  EXPECT_EQ(listen[0].kind, ListenAddress::Kind::tcp);
  EXPECT_EQ(listen[0].host, "0.0.0.0");
  EXPECT_EQ(listen[0].port, 9000);
  EXPECT_EQ(listen[1].host, "::1");
  EXPECT_EQ(listen[1].port, 9001);
  EXPECT_EQ(listen[1].text, "[::1]:9001");
  EXPECT_EQ(listen[2].kind, ListenAddress::Kind::unix_socket);
  EXPECT_EQ(listen[2].path, "/run/lithe/lithe.sock");
  EXPECT_EQ(listen[3].host, "0.0.0.0");
  EXPECT_EQ(listen[3].port, 0);
  EXPECT_EQ(listen[3].text, "*:0");
  EXPECT_EQ(listen[4].host, "localhost");
  EXPECT_EQ(listen[4].port, 80);
  EXPECT_EQ(c.server.workers, 4u);
  EXPECT_EQ(c.server.backlog, 512);
  EXPECT_EQ(c.server.max_connections, 20000u);
  EXPECT_EQ(c.server.server_header, "lithe-test/1");
  EXPECT_EQ(c.server.pid_file, "/run/lithe.pid");

  EXPECT_EQ(c.limits.request_line, 4096u);
  EXPECT_EQ(c.limits.header_section, 32768u);
  EXPECT_EQ(c.limits.headers, 50u);
  EXPECT_EQ(c.limits.body, 2u * 1024 * 1024);
  EXPECT_EQ(c.limits.pipeline_depth, 8u);
  EXPECT_EQ(c.limits.requests_per_connection, 1000u);

  EXPECT_EQ(c.timeouts.header, 5s);
  EXPECT_EQ(c.timeouts.body, 250ms);
  EXPECT_EQ(c.timeouts.keepalive, 2min);
  EXPECT_EQ(c.timeouts.write, 1h);
  EXPECT_EQ(c.timeouts.shutdown, 3s);

  EXPECT_EQ(c.log.level, "debug");
  EXPECT_EQ(c.log.error, "/var/log/lithe/error.log");
  EXPECT_EQ(c.log.access, "stdout");
  EXPECT_EQ(c.log.access_format, "json");

  ASSERT_EQ(c.proxy.trusted.size(), 4u);
  EXPECT_EQ(c.proxy.trusted[0].text, "127.0.0.1/32");
  EXPECT_EQ(c.proxy.trusted[0].prefix, 128);
  EXPECT_EQ(c.proxy.trusted[1].prefix, 104);
  EXPECT_EQ(c.proxy.trusted[2].prefix, 128);
  EXPECT_EQ(c.proxy.trusted[3].prefix, 8);
  EXPECT_TRUE(c.proxy.trusted[1].contains(ip("10.9.8.7")));
  EXPECT_EQ(c.proxy.client_header, "X-Real-IP");  // canonical spelling of "x-real-ip"
  EXPECT_TRUE(c.proxy.proxy_protocol);

  ASSERT_EQ(c.routes.size(), 2u);
  const RouteConfig& users = c.routes[0];
  EXPECT_EQ(users.path, "/users/{id}");
  EXPECT_EQ(users.methods, (std::vector<std::string>{"GET", "POST", "M-SEARCH"}));
  EXPECT_EQ(users.handler, "static");
  EXPECT_EQ(users.pos.line, 37u);
  EXPECT_EQ(users.pos.column, 1u);
  EXPECT_EQ(users.path_pos.line, 38u);
  EXPECT_EQ(users.path_pos.column, 8u);
  EXPECT_EQ(users.methods_pos.line, 39u);
  EXPECT_EQ(users.methods_pos.column, 11u);
  EXPECT_EQ(users.handler_pos.line, 40u);
  EXPECT_EQ(users.handler_pos.column, 11u);

  // Every other key is an option, in file order, with its position.
  const Value& o = users.options;
  EXPECT_EQ(o.kind, Value::Kind::table);
  std::vector<std::string> names;
  for (const auto& [name, value] : o.table) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"status", "body", "ratio", "enabled", "when", "day",
                                             "list", "headers"}));
  ASSERT_NE(o.find("status"), nullptr);
  EXPECT_EQ(o.find("status")->kind, Value::Kind::integer);
  EXPECT_EQ(o.find("status")->integer, 201);
  EXPECT_EQ(o.find("status")->pos.line, 41u);
  EXPECT_EQ(o.find("status")->pos.column, 10u);
  EXPECT_EQ(o.find("body")->string, "user {id}");
  EXPECT_EQ(o.find("ratio")->kind, Value::Kind::floating);
  EXPECT_EQ(o.find("ratio")->floating, 0.5);
  EXPECT_EQ(o.find("enabled")->kind, Value::Kind::boolean);
  EXPECT_TRUE(o.find("enabled")->boolean);
  EXPECT_EQ(o.find("when")->kind, Value::Kind::datetime);
  EXPECT_EQ(o.find("when")->string, "1979-05-27T07:32:00Z");
  EXPECT_EQ(o.find("day")->kind, Value::Kind::datetime);
  EXPECT_EQ(o.find("day")->string, "1979-05-27");
  const Value* list = o.find("list");
  ASSERT_EQ(list->kind, Value::Kind::array);
  ASSERT_EQ(list->array.size(), 3u);
  EXPECT_EQ(list->array[0].integer, 1);
  EXPECT_EQ(list->array[1].string, "two");
  ASSERT_EQ(list->array[2].kind, Value::Kind::array);
  EXPECT_EQ(list->array[2].array.at(0).integer, 3);
  const Value* headers = o.find("headers");
  ASSERT_EQ(headers->kind, Value::Kind::table);
  ASSERT_EQ(headers->table.size(), 2u);
  EXPECT_EQ(headers->table[0].first, "X-One");  // file order, not sorted
  EXPECT_EQ(headers->table[1].first, "A-Two");
  EXPECT_EQ(headers->find("A-Two")->string, "2");
  EXPECT_EQ(o.find("missing"), nullptr);

  const RouteConfig& any = c.routes[1];
  EXPECT_EQ(any.path, "/any");
  EXPECT_EQ(any.methods, std::vector<std::string>{"*"});
  EXPECT_EQ(any.handler, "echo");
  const Value* nested = any.options.find("nested");
  ASSERT_NE(nested, nullptr);
  ASSERT_EQ(nested->table.size(), 2u);
  EXPECT_EQ(nested->table[0].first, "z");
  EXPECT_EQ(nested->table[1].first, "a");
}

TEST(LoadConfig, MethodsDefaultToGetAtTheTablePosition) {
  Config c = parse_config("\n[[route]]\npath = \"/\"\nhandler = \"health\"\n", "t.toml");
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].methods, std::vector<std::string>{"GET"});
  EXPECT_EQ(c.routes[0].methods_pos.line, 2u);
  EXPECT_EQ(c.routes[0].methods_pos.column, 1u);
  EXPECT_TRUE(c.routes[0].options.table.empty());
}

TEST(LoadConfig, AcceptsVariants) {
  Config c = parse_config(
      "server.listen = \"[::]:80\"\n"
      "limits.requests_per_connection = 0\n"
      "proxy.client_header = \"FORWARDED\"\n"
      "[[route]]\npath = \"/\"\nhandler = \"x\"\nmethods = [\"*\"]\n",
      "t.toml");
  ASSERT_EQ(c.server.listen.size(), 1u);
  EXPECT_EQ(c.server.listen[0].host, "::");
  EXPECT_EQ(c.limits.requests_per_connection, 0u);
  EXPECT_EQ(c.proxy.client_header, "Forwarded");
  EXPECT_EQ(c.routes.at(0).methods, std::vector<std::string>{"*"});
}

// --- unit parsers ----------------------------------------------------------------------------

TEST(Units, Durations) {
  EXPECT_EQ(parse_duration("250ms"), 250ms);
  EXPECT_EQ(parse_duration("10s"), 10s);
  EXPECT_EQ(parse_duration("2m"), 2min);
  EXPECT_EQ(parse_duration("1h"), 1h);
  EXPECT_EQ(parse_duration("0s"), 0ms);
  EXPECT_EQ(parse_duration("9223372036854775807ms"), std::chrono::milliseconds::max());
  for (const char* bad :
       {"", "s", "10", "-1s", "+1s", " 1s", "1s ", "1 s", "1.5s", "10sec", "10S", "1d", "1us",
        "9223372036854775808ms", "9223372036854775807s", "99999999999999999999999h"})
    EXPECT_FALSE(parse_duration(bad)) << bad;
}

TEST(Units, Sizes) {
  EXPECT_EQ(parse_size("512B"), 512u);
  EXPECT_EQ(parse_size("16KiB"), 16384u);
  EXPECT_EQ(parse_size("1MiB"), 1048576u);
  EXPECT_EQ(parse_size("1GiB"), 1073741824u);
  EXPECT_EQ(parse_size("2TiB"), 2ull << 40);
  EXPECT_EQ(parse_size("123"), 123u);
  EXPECT_EQ(parse_size("0"), 0u);
  EXPECT_EQ(parse_size("18446744073709551615"), 18446744073709551615ull);
  for (const char* bad : {"", "B", "KiB", "1KB", "1kib", "1K", "-1", "+1", "1 KiB", " 1", "1.5MiB",
                          "18446744073709551616", "17179869184GiB", "0x10"})
    EXPECT_FALSE(parse_size(bad)) << bad;
}

TEST(Units, ListenAddresses) {
  auto v4 = parse_listen_address("127.0.0.1:8080");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->kind, ListenAddress::Kind::tcp);
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 8080);
  EXPECT_EQ(v4->text, "127.0.0.1:8080");

  auto v6 = parse_listen_address("[2001:db8::1]:443");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "2001:db8::1");
  EXPECT_EQ(v6->port, 443);

  auto any = parse_listen_address("*:65535");
  ASSERT_TRUE(any);
  EXPECT_EQ(any->host, "0.0.0.0");
  EXPECT_EQ(any->port, 65535);

  auto named = parse_listen_address("api.example-1.com:0");
  ASSERT_TRUE(named);
  EXPECT_EQ(named->host, "api.example-1.com");
  EXPECT_EQ(named->port, 0);

  auto unix_socket = parse_listen_address("unix:/run/lithe.sock");
  ASSERT_TRUE(unix_socket);
  EXPECT_EQ(unix_socket->kind, ListenAddress::Kind::unix_socket);
  EXPECT_EQ(unix_socket->path, "/run/lithe.sock");
  EXPECT_EQ(unix_socket->host, "");

  struct Bad {
    std::string text;
    std::string why;
  };
  for (const auto& [text, why] : std::vector<Bad>{
           {"127.0.0.1", "missing :PORT"},
           {"127.0.0.1:", "missing port after ':'"},
           {"127.0.0.1:65536", "invalid port (expected 0..65535)"},
           {"127.0.0.1:-1", "invalid port (expected 0..65535)"},
           {"127.0.0.1:8a", "invalid port (expected 0..65535)"},
           {":80", "missing host (use *:PORT for all IPv4 addresses)"},
           {"::1:80", "an IPv6 address must be in brackets, as in [::1]:8080"},
           {"[::1]80", "missing :PORT"},
           {"[::1", "missing ']' after IPv6 address"},
           {"[1.2.3.4]:80", "invalid IPv6 address"},
           {"999.1.1.1:80", "invalid IPv4 address"},
           {"1.2.3:80", "invalid IPv4 address"},
           {"bad_host:80", "invalid host name"},
           {"-lead.com:80", "invalid host name"},
           {"a..b:80", "invalid host name"},
           {"unix:relative.sock", "a unix socket path must be absolute"},
           {"unix:", "a unix socket path must be absolute"},
           {"unix:/tmp/", "a unix socket path must name a file, not a directory"},
           {"unix:/" + std::string(107, 'x'), "unix socket path longer than 107 bytes"},
       }) {
    std::string error;
    EXPECT_FALSE(parse_listen_address(text, &error)) << text;
    EXPECT_EQ(error, why) << text;
  }
  EXPECT_TRUE(parse_listen_address("unix:/" + std::string(106, 'x')));
  EXPECT_FALSE(parse_listen_address("nothing"));  // without an error pointer
}

TEST(Units, IpAddresses) {
  std::array<uint8_t, 16> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 2};
  EXPECT_EQ(parse_ip("192.168.1.2"), mapped);
  EXPECT_EQ(parse_ip("::ffff:192.168.1.2"), mapped);
  std::array<uint8_t, 16> loopback{};
  loopback[15] = 1;
  EXPECT_EQ(parse_ip("::1"), loopback);
  for (const char* bad : {"", "1.2.3", "1.2.3.4.", "01.2.3.4", "1.2.3.256", " 1.2.3.4", "::g",
                          "fe80::1%eth0", "1.2.3.4/32"})
    EXPECT_FALSE(parse_ip(bad)) << bad;
}

TEST(Units, Cidrs) {
  auto net = parse_cidr("10.0.0.0/8");
  ASSERT_TRUE(net);
  EXPECT_EQ(net->prefix, 104);
  EXPECT_EQ(net->text, "10.0.0.0/8");
  EXPECT_EQ(net->address, ip("10.0.0.0"));

  auto host4 = parse_cidr("1.2.3.4");
  ASSERT_TRUE(host4);
  EXPECT_EQ(host4->prefix, 128);
  auto host6 = parse_cidr("::1");
  ASSERT_TRUE(host6);
  EXPECT_EQ(host6->prefix, 128);

  // Host bits beyond the prefix are masked off, not rejected.
  auto masked = parse_cidr("10.1.2.3/8");
  ASSERT_TRUE(masked);
  EXPECT_EQ(masked->address, ip("10.0.0.0"));
  EXPECT_EQ(masked->text, "10.1.2.3/8");
  auto masked6 = parse_cidr("2001:db8:ffff::1/33");
  ASSERT_TRUE(masked6);
  EXPECT_EQ(masked6->address, ip("2001:db8:8000::"));

  for (const char* bad :
       {"", "/8", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/8/8", "10.0.0.0/-1",
        "10.0.0.0/+8", "10.0.0.0/0008", "10.0.0.0/ 8", "10.0.0/8", "host/8"})
    EXPECT_FALSE(parse_cidr(bad)) << bad;
}

TEST(Units, CidrContains) {
  auto ten = *parse_cidr("10.0.0.0/8");
  EXPECT_TRUE(ten.contains(ip("10.0.0.0")));
  EXPECT_TRUE(ten.contains(ip("10.255.1.2")));
  EXPECT_FALSE(ten.contains(ip("11.0.0.1")));
  EXPECT_FALSE(ten.contains(ip("9.255.255.255")));
  EXPECT_FALSE(ten.contains(ip("::1")));

  auto half = *parse_cidr("192.168.1.0/25");  // a prefix that splits a byte
  EXPECT_TRUE(half.contains(ip("192.168.1.127")));
  EXPECT_FALSE(half.contains(ip("192.168.1.128")));

  auto all4 = *parse_cidr("0.0.0.0/0");
  EXPECT_TRUE(all4.contains(ip("255.255.255.255")));
  EXPECT_FALSE(all4.contains(ip("2001:db8::1")));

  auto one = *parse_cidr("127.0.0.1/32");
  EXPECT_TRUE(one.contains(ip("127.0.0.1")));
  EXPECT_FALSE(one.contains(ip("127.0.0.2")));

  auto ula = *parse_cidr("fd00::/8");
  EXPECT_TRUE(ula.contains(ip("fd12:3456::1")));
  EXPECT_FALSE(ula.contains(ip("fe80::1")));
  EXPECT_FALSE(ula.contains(ip("10.0.0.1")));

  auto doc = *parse_cidr("2001:db8::/33");
  EXPECT_TRUE(doc.contains(ip("2001:db8:7fff:ffff::1")));
  EXPECT_FALSE(doc.contains(ip("2001:db8:8000::")));

  auto exact6 = *parse_cidr("::1/128");
  EXPECT_TRUE(exact6.contains(ip("::1")));
  EXPECT_FALSE(exact6.contains(ip("::2")));

  EXPECT_TRUE(parse_cidr("::/0")->contains(ip("1.2.3.4")));
  EXPECT_TRUE(parse_cidr("::/0")->contains(ip("ffff::")));
}

// --- errors: shape ---------------------------------------------------------------------------

TEST(ConfigErrorsShape, ToStringAndWhat) {
  ConfigError one{"a.toml", {3, 11}, "server.workers must be an integer >= 0"};
  EXPECT_EQ(one.to_string(), "a.toml:3:11: server.workers must be an integer >= 0");
  ConfigErrors errors({one, ConfigError{"a.toml", {4, 1}, "second"}});
  EXPECT_STREQ(errors.what(),
               "a.toml:3:11: server.workers must be an integer >= 0\na.toml:4:1: second");
  EXPECT_EQ(errors.errors().size(), 2u);
}

TEST(ValueFind, OnlyTablesHaveEntries) {
  Value table;
  table.table.push_back({"a", Value{}});
  table.table.back().second.kind = Value::Kind::integer;
  table.table.back().second.integer = 7;
  ASSERT_NE(table.find("a"), nullptr);
  EXPECT_EQ(table.find("a")->integer, 7);
  EXPECT_EQ(table.find("b"), nullptr);
  Value string;
  string.kind = Value::Kind::string;
  string.table = table.table;  // ignored: not a table
  EXPECT_EQ(string.find("a"), nullptr);
}

// --- errors: one fixture per kind ------------------------------------------------------------

TEST(ConfigFileErrors, SyntaxErrorIsOneErrorAtItsPosition) {
  auto errors = file_errors("syntax_error.toml");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].file, fixture("syntax_error.toml"));
  EXPECT_EQ(errors[0].pos.line, 3u);
  EXPECT_EQ(errors[0].pos.column, 11u);
  EXPECT_NE(errors[0].message.find("Error while parsing"), std::string::npos) << errors[0].message;
}

TEST(ConfigFileErrors, UnknownTable) {
  EXPECT_EQ(strings(file_errors("unknown_table.toml")),
            std::vector<std::string>{fixture("unknown_table.toml") +
                                     ":4:2: unknown table [servr] (did you mean [server]?)"});
}

TEST(ConfigFileErrors, UnknownKey) {
  EXPECT_EQ(strings(file_errors("unknown_key.toml")),
            std::vector<std::string>{fixture("unknown_key.toml") +
                                     ":3:1: unknown key \"bdoy\" in [limits] (did you mean "
                                     "\"body\"?)"});
}

TEST(ConfigFileErrors, BadType) {
  EXPECT_EQ(strings(file_errors("bad_type.toml")),
            std::vector<std::string>{fixture("bad_type.toml") +
                                     ":3:11: server.workers must be an integer >= 0"});
}

TEST(ConfigFileErrors, BadDuration) {
  EXPECT_EQ(strings(file_errors("bad_duration.toml")),
            std::vector<std::string>{
                fixture("bad_duration.toml") +
                ":3:13: timeouts.keepalive: invalid duration \"10 seconds\" (expected a number "
                "with unit ms, s, m or h, as in \"10s\")"});
}

TEST(ConfigFileErrors, BadSize) {
  EXPECT_EQ(strings(file_errors("bad_size.toml")),
            std::vector<std::string>{
                fixture("bad_size.toml") +
                ":3:8: limits.body: invalid size \"1MB\" (expected a number with unit B, KiB, "
                "MiB, GiB or TiB, as in \"16KiB\")"});
}

TEST(ConfigErrors, RequestHeadLimitsAreCappedAt64MiB) {
  // A head must fit one read buffer, whose offsets are 32-bit.
  const std::string expected_tail =
      " must be a size >= 1 and <= 67108864: an integer (bytes) or a string like \"16KiB\"";
  EXPECT_EQ(only_error("[limits]\nrequest_line = \"65MiB\"\n"),
            "2:16: limits.request_line" + expected_tail);
  EXPECT_EQ(only_error("[limits]\nheader_section = 67108865\n"),
            "2:18: limits.header_section" + expected_tail);
  auto c =
      parse_config("[limits]\nrequest_line = \"64MiB\"\nheader_section = \"64MiB\"\n", "t.toml");
  EXPECT_EQ(c.limits.request_line, 64u * 1024 * 1024);
  EXPECT_EQ(c.limits.header_section, 64u * 1024 * 1024);
}

TEST(ConfigErrors, ServerIoNamesAnEventInterface) {
  EXPECT_EQ(only_error("[server]\nio = \"kqueue\"\n"),
            "2:6: server.io must be one of auto, epoll, io_uring");
  EXPECT_EQ(parse_config("[server]\nio = \"epoll\"\n", "t.toml").server.io, "epoll");
  EXPECT_EQ(parse_config("[server]\nio = \"io_uring\"\n", "t.toml").server.io, "io_uring");
}

TEST(ConfigErrors, CompressionNamesCodingsAndMediaTypes) {
  const Config c = parse_config(
      "[compression]\nencodings = [\"gzip\"]\nmin_size = \"1KiB\"\ntypes = [\"text/css\"]\n"
      "[[route]]\npath = \"/\"\nhandler = \"health\"\ncompress = false\n",
      "t.toml");
  EXPECT_EQ(c.compression.encodings, std::vector<std::string>{"gzip"});
  EXPECT_EQ(c.compression.min_size, 1024u);
  EXPECT_EQ(c.compression.types, std::vector<std::string>{"text/css"});
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_FALSE(c.routes[0].compress);
  EXPECT_TRUE(c.routes[0].options.table.empty());  // not passed on as a handler option
  EXPECT_TRUE(
      parse_config("[compression]\nencodings = []\n", "t.toml").compression.encodings.empty());
  EXPECT_EQ(only_error("[compression]\nencodings = [\"deflate\"]\n"),
            "2:14: compression.encodings entries must be \"zstd\", \"br\" or \"gzip\"");
  EXPECT_EQ(only_error("[compression]\nencodings = [\"br\", \"br\"]\n"),
            "2:13: compression.encodings names \"br\" twice");
  EXPECT_EQ(only_error("[compression]\ntypes = [\"text\"]\n"),
            "2:10: compression.types entries must be media types like \"text/*\" or "
            "\"application/json\"");
  EXPECT_EQ(only_error("[compression]\nlevel = 9\n"),
            "2:1: unknown key \"level\" in [compression]");
  EXPECT_EQ(only_error("[[route]]\npath = \"/\"\nhandler = \"health\"\ncompress = 1\n"),
            "4:12: route.compress must be true or false");
}

TEST(ConfigFileErrors, BadEnumValue) {
  EXPECT_EQ(strings(file_errors("bad_enum.toml")),
            std::vector<std::string>{
                fixture("bad_enum.toml") +
                ":2:9: log.level must be one of trace, debug, info, warn, error, off"});
}

TEST(ConfigFileErrors, BadCidr) {
  EXPECT_EQ(strings(file_errors("bad_cidr.toml")),
            std::vector<std::string>{fixture("bad_cidr.toml") +
                                     ":2:26: proxy.trusted: invalid CIDR \"10.0.0.0/33\""});
}

TEST(ConfigFileErrors, BadListenAddress) {
  EXPECT_EQ(strings(file_errors("bad_listen.toml")),
            std::vector<std::string>{
                fixture("bad_listen.toml") +
                ":2:29: server.listen: invalid address \"::1:8080\": an IPv6 address must be in "
                "brackets, as in [::1]:8080"});
}

TEST(ConfigFileErrors, RouteWithoutPathOrHandler) {
  EXPECT_EQ(
      strings(file_errors("route_missing.toml")),
      (std::vector<std::string>{fixture("route_missing.toml") + ":5:1: route has no path",
                                fixture("route_missing.toml") + ":8:1: route has no handler"}));
}

TEST(ConfigFileErrors, BadMethod) {
  EXPECT_EQ(strings(file_errors("bad_method.toml")),
            std::vector<std::string>{fixture("bad_method.toml") +
                                     ":3:19: route.methods: unknown method \"FETCH\""});
}

TEST(ConfigFileErrors, AllErrorsOfAFileTogetherInOrder) {
  std::string f = fixture("multiple_errors.toml");
  EXPECT_EQ(strings(file_errors("multiple_errors.toml")),
            (std::vector<std::string>{
                f + ":2:9: log.level must be one of trace, debug, info, warn, error, off",
                f + ":5:11: server.workers must be an integer >= 0",
                f + ":6:10: server.listen must be a non-empty array of addresses like "
                    "\"127.0.0.1:8080\"",
                f + ":7:1: unknown key \"colour\" in [server]",
                f + ":10:9: timeouts.write must be longer than 0",
                f + ":13:8: route.path must be a string starting with \"/\"",
            }));
  try {
    load_config(f);
    ADD_FAILURE() << "no exception";
  } catch (const ConfigErrors& e) {
    std::string what = e.what();
    EXPECT_EQ(std::count(what.begin(), what.end(), '\n'), 5);
    EXPECT_EQ(what.substr(0, what.find('\n')),
              f + ":2:9: log.level must be one of trace, debug, info, warn, error, off");
  }
}

TEST(ConfigFileErrors, MissingFile) {
  std::string path = fixture("does-not-exist.toml");
  EXPECT_EQ(strings(file_errors("does-not-exist.toml")),
            std::vector<std::string>{path + ":0:0: cannot read file: No such file or directory"});
}

TEST(ConfigFileErrors, DirectoryIsUnreadable) {
  try {
    load_config(LITHE_FIXTURES);
    ADD_FAILURE() << "a directory loaded";
  } catch (const ConfigErrors& e) {
    EXPECT_EQ(std::string(e.what()),
              std::string(LITHE_FIXTURES) + ":0:0: cannot read file: Is a directory");
  }
}

// --- errors: details, inline -----------------------------------------------------------------

TEST(ConfigTextErrors, TypesAndRanges) {
  EXPECT_EQ(only_error("[server]\nbacklog = 0"), "2:11: server.backlog must be an integer >= 1");
  EXPECT_EQ(only_error("[server]\nbacklog = 2147483648"),
            "2:11: server.backlog must be an integer <= 2147483647");
  EXPECT_EQ(only_error("[server]\nworkers = 4294967296"),
            "2:11: server.workers must be an integer <= 4294967295");
  EXPECT_EQ(only_error("[server]\nmax_connections = 0"),
            "2:19: server.max_connections must be an integer >= 1");
  EXPECT_EQ(only_error("[server]\nworkers = 1.5"), "2:11: server.workers must be an integer >= 0");
  EXPECT_EQ(only_error("[server]\npid_file = 1"), "2:12: server.pid_file must be a string");
  EXPECT_EQ(only_error("[server]\nserver_header = \"a\\r\\nX-Evil: 1\""),
            "2:17: server.server_header must be a string without control characters");
  EXPECT_EQ(only_error("[server]\nrequest_id_header = \"X Request\""),
            "2:21: server.request_id_header must be a header name or \"\"");
  EXPECT_EQ(only_error("[server]\nrequest_id_header = 1"),
            "2:21: server.request_id_header must be a header name or \"\"");
  EXPECT_EQ(only_error("[limits]\nheaders = 0"), "2:11: limits.headers must be an integer >= 1");
  EXPECT_EQ(only_error("[limits]\npipeline_depth = 0"),
            "2:18: limits.pipeline_depth must be an integer >= 1");
  EXPECT_EQ(only_error("[limits]\nrequests_per_connection = -1"),
            "2:27: limits.requests_per_connection must be an integer >= 0");
  EXPECT_EQ(only_error("[limits]\nbody = 0"),
            "2:8: limits.body must be a size >= 1: an integer (bytes) or a string like \"16KiB\"");
  EXPECT_EQ(only_error("[limits]\nbody = \"0KiB\""),
            "2:8: limits.body must be a size >= 1: an integer (bytes) or a string like \"16KiB\"");
  EXPECT_EQ(only_error("[limits]\nbody = -5"),
            "2:8: limits.body must be a size >= 1: an integer (bytes) or a string like \"16KiB\"");
  EXPECT_EQ(only_error("[limits]\nbody = true"),
            "2:8: limits.body must be a size >= 1: an integer (bytes) or a string like \"16KiB\"");
  EXPECT_EQ(only_error("[timeouts]\nheader = 10"),
            "2:10: timeouts.header must be a duration string like \"10s\" (units ms, s, m, h)");
  EXPECT_EQ(only_error("[timeouts]\nheader = \"0ms\""),
            "2:10: timeouts.header must be longer than 0");
  EXPECT_EQ(only_error("[timeouts]\nhandler = \"soon\""),
            "2:11: timeouts.handler: invalid duration \"soon\" (expected a number with unit ms, s, "
            "m or h, as in \"10s\")");
  EXPECT_EQ(only_error("[[route]]\npath = \"/\"\nhandler = \"static\"\ntimeout = 5"),
            "4:11: route.timeout must be a duration string like \"10s\" (units ms, s, m, h)");
  EXPECT_EQ(only_error("[log]\naccess_format = \"xml\""),
            "2:17: log.access_format must be one of combined, json");
  EXPECT_EQ(only_error("[log]\nerror = \"\""), "2:9: log.error must be \"stderr\" or a file path");
  EXPECT_EQ(only_error("[log]\naccess = 0"),
            "2:10: log.access must be \"off\", \"stdout\" or a file path");
  EXPECT_EQ(only_error("[log]\nlevel = \"INFO\""),
            "2:9: log.level must be one of trace, debug, info, warn, error, off");
  EXPECT_EQ(only_error("[proxy]\nclient_header = \"X-Client\""),
            "2:17: proxy.client_header must be one of X-Forwarded-For, X-Real-IP, Forwarded");
  EXPECT_EQ(only_error("[proxy]\nproxy_protocol = \"yes\""),
            "2:18: proxy.proxy_protocol must be true or false");
  EXPECT_EQ(only_error("[proxy]\ntrusted = \"10.0.0.0/8\""),
            "2:11: proxy.trusted must be an array of CIDRs like \"10.0.0.0/8\"");
  EXPECT_EQ(only_error("[proxy]\ntrusted = [8]"),
            "2:12: proxy.trusted entries must be strings like \"10.0.0.0/8\"");
  EXPECT_EQ(only_error("[server]\nlisten = [8080]"),
            "2:11: server.listen entries must be strings like \"127.0.0.1:8080\"");
  EXPECT_EQ(only_error("[server]\nlisten = \"localhost\""),
            "2:10: server.listen: invalid address \"localhost\": missing :PORT");
}

TEST(ConfigTextErrors, TablesAndKeys) {
  EXPECT_EQ(only_error("server = 5"), "1:10: server must be a table ([server])");
  EXPECT_EQ(only_error("workers = 2"),
            "1:1: unknown top-level key \"workers\" (it belongs in [server])");
  EXPECT_EQ(only_error("colour = 2"), "1:1: unknown top-level key \"colour\"");
  EXPECT_EQ(only_error("[[routes]]\npath = \"/\""),
            "1:3: unknown table [[routes]] (did you mean [[route]]?)");
  EXPECT_EQ(only_error("[metrics]"), "1:2: unknown table [metrics]");
  EXPECT_EQ(only_error("[server.tls]\ncert = \"x\""), "1:9: unknown key \"tls\" in [server]");
  // A key with a newline in it still gives a one-line message.
  EXPECT_EQ(only_error("[log]\n\"a\\nb\" = 1"), "2:1: unknown key \"a\\x0ab\" in [log]");
}

TEST(ConfigTextErrors, Routes) {
  EXPECT_EQ(only_error("[route]\npath = \"/\"\nhandler = \"x\""),
            "1:1: route must be an array of tables: write [[route]], not [route]");
  EXPECT_EQ(only_error("route = [1]"), "1:10: each route must be a table ([[route]])");
  EXPECT_EQ(only_error("[[route]]\npath = \"/\"\nhandler = \"\""),
            "3:11: route.handler must be a non-empty string");
  EXPECT_EQ(only_error("[[route]]\npath = 5\nhandler = \"x\""),
            "2:8: route.path must be a string starting with \"/\"");
  EXPECT_EQ(only_error("[[route]]\npath = \"/\"\nhandler = \"x\"\nmethods = []"),
            "4:11: route.methods must be a non-empty array of method names, or [\"*\"]");
  EXPECT_EQ(only_error("[[route]]\npath = \"/\"\nhandler = \"x\"\nmethods = \"GET\""),
            "4:11: route.methods must be a non-empty array of method names, or [\"*\"]");
  EXPECT_EQ(only_error("[[route]]\npath = \"/\"\nhandler = \"x\"\nmethods = [\"get\"]"),
            "4:12: route.methods: unknown method \"get\" (methods are case-sensitive: \"GET\")");
  EXPECT_EQ(only_error("[[route]]\npath = \"/\"\nhandler = \"x\"\nmethods = [\"GET\", \"*\"]"),
            "4:19: \"*\" (any method) must be alone in route.methods");
  EXPECT_EQ(only_error("[[route]]\npath = \"/\"\nhandler = \"x\"\nmethods = [1]"),
            "4:12: route.methods entries must be strings like \"GET\"");
  auto both = strings(text_errors("x = 1\n[[route]]\nbody = \"b\""));
  EXPECT_EQ(both, (std::vector<std::string>{"t.toml:1:1: unknown top-level key \"x\"",
                                            "t.toml:2:1: route has no path",
                                            "t.toml:2:1: route has no handler"}));
}

TEST(ConfigTextErrors, OnlyConfigErrorsEscape) {
  // NUL bytes, invalid UTF-8 and a truncated file are syntax errors, not crashes.
  for (std::string_view text : {std::string_view("a = 1\0", 6), std::string_view("a = \"\xff\""),
                                std::string_view("[server"), std::string_view("a = [1,")}) {
    try {
      parse_config(text, "t.toml");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const ConfigErrors& e) {
      ASSERT_EQ(e.errors().size(), 1u);
      EXPECT_EQ(e.errors()[0].file, "t.toml");
      EXPECT_GE(e.errors()[0].pos.line, 1u);
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
  }
}

// The handler deadline: "0s" means none (unlike the other timeouts), and a route's `timeout`
// is its own key, not a handler option.
TEST(ConfigTimeouts, HandlerDeadlineAndARoutesOwn) {
  Config c = parse_config(
      "[timeouts]\nhandler = \"0s\"\n[[route]]\npath = \"/a\"\nhandler = \"static\"\n"
      "timeout = \"250ms\"\n[[route]]\npath = \"/b\"\nhandler = \"static\"\n",
      "t.toml");
  EXPECT_EQ(c.timeouts.handler, 0ms);
  ASSERT_EQ(c.routes.size(), 2u);
  EXPECT_EQ(c.routes[0].timeout, std::optional(250ms));
  EXPECT_EQ(c.routes[0].options.find("timeout"), nullptr);
  EXPECT_FALSE(c.routes[1].timeout.has_value());
}

TEST(ConfigStreaming, RouteBodyModeMaxBodyHeartbeatAndStreamBuffer) {
  Config c = parse_config(
      "[limits]\nstream_buffer = \"64KiB\"\n"
      "[[route]]\npath = \"/up\"\nhandler = \"echo\"\nbody = \"stream\"\nmax_body = \"4GiB\"\n"
      "[[route]]\npath = \"/ev\"\nhandler = \"echo\"\nheartbeat = \"15s\"\n"
      // A static route's body is its response, whatever it says; another handler's body
      // that is not a mode is that handler's option.
      "[[route]]\npath = \"/s\"\nhandler = \"static\"\nbody = \"stream\"\n"
      "[[route]]\npath = \"/o\"\nhandler = \"mine\"\nbody = \"text\"\n",
      "t.toml");
  EXPECT_EQ(c.limits.stream_buffer, 64u * 1024);
  ASSERT_EQ(c.routes.size(), 4u);
  EXPECT_TRUE(c.routes[0].stream_body);
  EXPECT_EQ(c.routes[0].max_body, std::optional<std::size_t>(4ull << 30));
  EXPECT_EQ(c.routes[0].options.find("body"), nullptr);
  EXPECT_EQ(c.routes[0].options.find("max_body"), nullptr);
  EXPECT_FALSE(c.routes[1].stream_body);
  EXPECT_EQ(c.routes[1].heartbeat, 15s);
  EXPECT_FALSE(c.routes[2].stream_body);
  ASSERT_NE(c.routes[2].options.find("body"), nullptr);
  EXPECT_EQ(c.routes[2].options.find("body")->string, "stream");
  ASSERT_NE(c.routes[3].options.find("body"), nullptr);
  EXPECT_EQ(default_config().limits.stream_buffer, 256u * 1024);
}

TEST(ConfigStreaming, BadValuesNameTheirPosition) {
  EXPECT_EQ(text_errors("[[route]]\npath = \"/\"\nhandler = \"echo\"\nmax_body = \"lots\"\n")
                .at(0)
                .to_string(),
            "t.toml:4:12: route.max_body: invalid size \"lots\" (expected a number with unit B, "
            "KiB, MiB, GiB or TiB, as in \"16KiB\")");
  EXPECT_EQ(text_errors("[limits]\nstream_buffer = 0\n").at(0).pos.line, 2u);
}

// A route's middleware list and cors table (README, "Middleware" and "CORS").
TEST(ConfigApplication, MiddlewareAndCorsAreReadIntoTheRoute) {
  const Config c = parse_config(
      "[[route]]\npath = \"/a\"\nhandler = \"echo\"\nmiddleware = [\"auth\", \"audit\"]\n"
      "cors = { origins = [\"https://app.example\", \"https://*.t.example:8443\"], "
      "methods = [\"GET\", \"PUT\"], headers = [\"Content-Type\"], max_age = \"2m\", "
      "credentials = true }\n",
      "t.toml");
  const RouteConfig& r = c.routes.at(0);
  EXPECT_EQ(r.middleware, (std::vector<std::string>{"auth", "audit"}));
  EXPECT_EQ(r.middleware_pos.at(1).column, 23u);
  ASSERT_TRUE(r.cors.has_value());
  EXPECT_EQ(r.cors->origins.size(), 2u);
  EXPECT_EQ(r.cors->methods, (std::vector<std::string>{"GET", "PUT"}));
  EXPECT_EQ(r.cors->headers, (std::vector<std::string>{"Content-Type"}));
  EXPECT_EQ(r.cors->max_age, std::chrono::seconds(120));
  EXPECT_TRUE(r.cors->credentials);
  EXPECT_EQ(r.options.find("cors"), nullptr);  // not left to the handler
  EXPECT_EQ(r.options.find("middleware"), nullptr);
}

TEST(ConfigApplication, BadMiddlewareAndCorsNameTheirPosition) {
  const std::string route = "[[route]]\npath = \"/a\"\nhandler = \"echo\"\n";
  auto error = [&](const std::string& line) {  // every error, in the order reported
    std::string all;
    for (const ConfigError& e : text_errors(route + line + "\n"))
      all += (all.empty() ? "" : " | ") + e.to_string();
    return all.empty() ? std::string("<none>") : all;
  };
  EXPECT_EQ(error("middleware = \"auth\""),
            "t.toml:4:14: route.middleware must be an array of names registered with Server::use");
  EXPECT_EQ(error("cors = true"),
            "t.toml:4:8: route.cors must be a table, such as cors = { origins = "
            "[\"https://a.example\"] }");
  EXPECT_EQ(error("cors = { methods = [\"GET\"] }"),
            "t.toml:4:8: route.cors needs origins: \"*\" or the origins allowed");
  EXPECT_EQ(error("cors = { origins = [\"*\"], credentials = true }"),
            "t.toml:4:8: route.cors.credentials = true needs its origins listed: browsers refuse "
            "\"*\" with credentials");
  EXPECT_EQ(error("cors = { origins = [\"https://a.example/\"] }"),
            "t.toml:4:21: route.cors.origins entries must be \"*\" or origins like "
            "\"https://app.example.com\"");
  EXPECT_EQ(error("cors = { origins = [\"*\"], methods = [\"get\"] }"),
            "t.toml:4:38: route.cors.methods entries must be method names like \"GET\"");
  EXPECT_EQ(error("cors = { origin = [\"*\"] }"),
            "t.toml:4:8: route.cors needs origins: \"*\" or the origins allowed | t.toml:4:10: "
            "unknown key \"origin\" in [route.cors] (did you mean \"origins\"?)");
}

}  // namespace
}  // namespace lithe
