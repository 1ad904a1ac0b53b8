// lithe's configuration as plain data: what the TOML file (SPEC §3) says, validated and typed.
// Nothing here depends on the TOML library; handler options travel as a neutral Value tree.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace lithe {

// Where something stands in a config file (1-based; 0 = unknown).
struct SourcePos {
  uint32_t line = 0;
  uint32_t column = 0;
};

// A TOML value copied out of the parser, with its position, for handler options.
struct Value {
  enum class Kind : uint8_t { boolean, integer, floating, string, datetime, array, table };
  Kind kind = Kind::table;
  bool boolean = false;
  int64_t integer = 0;
  double floating = 0;
  std::string string;  // string, or a datetime in its TOML (RFC 3339) text
  std::vector<Value> array;
  std::vector<std::pair<std::string, Value>> table;  // in file order
  SourcePos pos;
  SourcePos key_pos;  // the key naming this value in its table (= pos elsewhere)

  // Defined out of line: Value holds vectors of itself, which clang with libstdc++ 12 cannot
  // complete inside the class.
  Value();
  ~Value();
  Value(const Value&);
  Value(Value&&) noexcept;
  Value& operator=(const Value&);
  Value& operator=(Value&&) noexcept;

  // The table entry named key, or nullptr (also when this is not a table).
  const Value* find(std::string_view key) const;
};

struct ListenAddress {
  enum class Kind : uint8_t { tcp, unix_socket };
  Kind kind = Kind::tcp;
  std::string host;   // tcp: an IPv4 or IPv6 literal (without brackets) or a host name
  uint16_t port = 0;  // tcp: 0 = ephemeral
  std::string path;   // unix_socket
  std::string text;   // as written, for messages
};

// An IP network: IPv4 addresses are stored as IPv4-mapped IPv6 (::ffff:a.b.c.d) with the
// prefix shifted by 96, so a single comparison serves both families.
struct Cidr {
  std::array<uint8_t, 16> address{};
  uint8_t prefix = 0;  // 0..128, in the IPv6 form
  std::string text;    // as written
  bool contains(const std::array<uint8_t, 16>& v6_or_mapped) const;
};

struct ServerConfig {
  std::vector<ListenAddress> listen;  // default: 127.0.0.1:8080
  unsigned workers = 1;               // 0 = one per CPU
  int backlog = 1024;
  std::size_t max_connections = 10000;
  std::string server_header = "lithe";
  std::string pid_file;
  // Event interface for connections: "auto" (io_uring when the kernel allows it, else epoll),
  // "epoll" or "io_uring" (falls back to epoll, with a warning, when refused). Read at start.
  std::string io = "auto";
  // The header that carries request IDs (e.g. "X-Request-Id"): taken from a trusted peer when
  // valid, else made; sent in the response and logged. "" = none.
  std::string request_id_header;
};

struct LimitsConfig {
  std::size_t request_line = 8 * 1024;
  std::size_t header_section = 16 * 1024;
  std::size_t headers = 100;
  std::size_t body = 1024 * 1024;
  std::size_t pipeline_depth = 16;
  std::size_t requests_per_connection = 0;  // 0 = unlimited
  // Bytes a streamed response may queue unsent before its writes report backpressure.
  std::size_t stream_buffer = 256 * 1024;
};

struct TimeoutsConfig {
  std::chrono::milliseconds header{10'000};
  std::chrono::milliseconds body{30'000};
  std::chrono::milliseconds keepalive{60'000};
  std::chrono::milliseconds write{30'000};
  std::chrono::milliseconds shutdown{10'000};
  // A response a handler has not begun by then is a 504 (an answer deferred to a Responder);
  // 0 = none. A route's `timeout` replaces it.
  std::chrono::milliseconds handler{60'000};
};

struct LogConfig {
  std::string level = "info";  // trace, debug, info, warn, error, off
  std::string error = "stderr";
  std::string access = "off";
  std::string access_format = "combined";  // combined or json
};

struct ProxyConfig {
  std::vector<Cidr> trusted;
  std::string client_header = "X-Forwarded-For";  // or X-Real-IP, or Forwarded
  bool proxy_protocol = false;
};

// [compression]: fixed bodies (static, json, redirect) are compressed once at load in each of
// these codings that makes them smaller, and each response goes out in the one its request's
// Accept-Encoding prefers (README, "Compression").
struct CompressionConfig {
  // "zstd", "br", "gzip": the server's preference among codings a client weighs equally.
  // Empty: compression off.
  std::vector<std::string> encodings{"zstd", "br", "gzip"};
  std::size_t min_size = 256;  // smaller bodies go as they are
  // Media types worth compressing, "type/subtype" or "type/*", without parameters.
  std::vector<std::string> types{"text/*",          "application/json", "application/javascript",
                                 "application/xml", "image/svg+xml",    "application/wasm"};
};

// A route's `cors` table: the built-in CORS middleware (README, "CORS").
struct CorsConfig {
  // "*", or origins as browsers send them ("https://app.example.com", with a port when not the
  // scheme's); "https://*.example.com" allows every subdomain.
  std::vector<std::string> origins;
  std::vector<std::string> methods;  // for preflights; empty = the route's methods
  std::vector<std::string> headers;  // request headers allowed; empty = those a preflight asks
  std::chrono::seconds max_age{600};
  bool credentials = false;  // Access-Control-Allow-Credentials: true (needs listed origins)
};

struct RouteConfig {
  std::string path;
  std::vector<std::string> methods{"GET"};  // validated method tokens, or the single "*"
  std::string handler;
  Value options;          // every other key of the [[route]] table (a table Value)
  SourcePos pos;          // the [[route]] table
  SourcePos path_pos;     // its path value
  SourcePos methods_pos;  // its methods value (or the table when absent)
  SourcePos handler_pos;  // its handler value
  // `timeout`: replaces timeouts.handler for this route (0 = none).
  std::optional<std::chrono::milliseconds> timeout;
  // `heartbeat`: an idle event stream (lithe::EventStream) sends a comment this often; 0 = none.
  std::chrono::milliseconds heartbeat{0};
  // `body = "stream"`: the handler starts at the end of the head and pulls the body
  // (lithe::BodyReader); "buffer" (default) reads it whole first.
  bool stream_body = false;
  // `max_body`: replaces limits.body for this route.
  std::optional<std::size_t> max_body;
  // `middleware = ["auth", ...]`: hooks registered with Server::use under these names, run in
  // this order after the hooks for every request; with the position of each name.
  std::vector<std::string> middleware;
  std::vector<SourcePos> middleware_pos;
  // `cors = { ... }`: browsers' cross-origin requests, answered by the built-in middleware.
  std::optional<CorsConfig> cors;
  SourcePos cors_pos;
  // `compress = false`: this route's responses go as they are, whatever [compression] says.
  bool compress = true;
  // The source file of a Server::route call (its line and column are in the positions above),
  // named in the route's errors in place of the config file. Empty for the file's routes.
  std::string source;
};

struct Config {
  std::string source = "<default>";  // file name used in error messages
  ServerConfig server;
  LimitsConfig limits;
  TimeoutsConfig timeouts;
  LogConfig log;
  ProxyConfig proxy;
  CompressionConfig compression;
  std::vector<RouteConfig> routes;
};

// One problem with a config, reported as FILE:LINE:COL: message.
struct ConfigError {
  std::string file;
  SourcePos pos;
  std::string message;
  std::string to_string() const;
};

// Thrown when a config cannot be loaded; what() is every error, one per line.
class ConfigErrors : public std::runtime_error {
 public:
  explicit ConfigErrors(std::vector<ConfigError> errors);
  const std::vector<ConfigError>& errors() const { return errors_; }

 private:
  std::vector<ConfigError> errors_;
};

// Reads and validates a TOML config file. Throws ConfigErrors.
Config load_config(const std::string& path);

// Validates TOML text; source names it in errors. Throws ConfigErrors.
Config parse_config(std::string_view toml_text, std::string source);

// The built-in default config (the text of configs/default.toml, compiled in).
Config default_config();
std::string_view default_config_text();

}  // namespace lithe
