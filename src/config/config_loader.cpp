// Reads the TOML config (SPEC §3) into lithe::Config. Every problem of a file is collected with
// its position and reported at once, so a user fixes a config in one round trip.
#include <fcntl.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <sstream>

#include "base/ip.hpp"
#include "base/method.hpp"
#include "base/text.hpp"
#include "config/units.hpp"
#include "lithe/config.hpp"

namespace lithe {

namespace {

// limits.request_line and limits.header_section, at most (see their readers).
constexpr std::size_t kMaxHeadPart = 64 * 1024 * 1024;

// compression.encodings: the codings src/encoding/ can produce, as HTTP names them.
bool valid_coding(std::string_view name) {
  return name == "zstd" || name == "br" || name == "gzip";
}

// compression.types: "type/subtype" or "type/*", tokens without parameters.
bool valid_media_range(std::string_view range) {
  const std::size_t slash = range.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == range.size()) return false;
  auto tokens = [](std::string_view t) {
    return std::all_of(t.begin(), t.end(),
                       [](char c) { return base::is_tchar(static_cast<unsigned char>(c)); });
  };
  const std::string_view subtype = range.substr(slash + 1);
  return tokens(range.substr(0, slash)) && (subtype == "*" || tokens(subtype));
}

SourcePos pos_of(const toml::source_region& region) {
  return {region.begin.line, region.begin.column};
}

bool pos_less(const SourcePos& a, const SourcePos& b) {
  return a.line != b.line ? a.line < b.line : a.column < b.column;
}

// A value quoted for a message: control bytes escaped so that an error stays one line.
std::string quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[byte >> 4];
      out += hex[byte & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

// Case-insensitive edit distance, for "did you mean" hints.
std::size_t distance(std::string_view a, std::string_view b) {
  std::string x = lower(a);
  std::string y = lower(b);
  std::vector<std::size_t> row(y.size() + 1);
  for (std::size_t j = 0; j <= y.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= x.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= y.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (x[i - 1] != y[j - 1])});
      diagonal = above;
    }
  }
  return row[y.size()];
}

// The closest known name within two edits, or "".
std::string_view suggest(std::string_view name, std::initializer_list<std::string_view> known) {
  std::string_view best;
  std::size_t best_distance = 3;
  for (std::string_view candidate : known) {
    std::size_t d = distance(name, candidate);
    if (d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

// The keys each section accepts, for unknown-key errors and hints.
constexpr std::string_view section_names[] = {"server", "limits", "timeouts",
                                              "log",    "proxy",  "compression"};
const std::initializer_list<std::string_view> server_keys = {
    "listen",        "workers",  "backlog", "max_connections",
    "server_header", "pid_file", "io",      "request_id_header"};
const std::initializer_list<std::string_view> limits_keys = {
    "request_line",   "header_section",          "headers",      "body",
    "pipeline_depth", "requests_per_connection", "stream_buffer"};
const std::initializer_list<std::string_view> timeouts_keys = {"header", "body",     "keepalive",
                                                               "write",  "shutdown", "handler"};
const std::initializer_list<std::string_view> log_keys = {"level", "error", "access",
                                                          "access_format"};
const std::initializer_list<std::string_view> proxy_keys = {"trusted", "client_header",
                                                            "proxy_protocol"};
const std::initializer_list<std::string_view> compression_keys = {"encodings", "min_size", "types"};
const std::initializer_list<std::string_view> cors_keys = {"origins", "methods", "headers",
                                                           "max_age", "credentials"};

std::initializer_list<std::string_view> keys_of(std::string_view section) {
  if (section == "server") return server_keys;
  if (section == "limits") return limits_keys;
  if (section == "timeouts") return timeouts_keys;
  if (section == "log") return log_keys;
  if (section == "route.cors") return cors_keys;
  if (section == "compression") return compression_keys;
  return proxy_keys;
}

// Table entries in file order (toml++ keeps them sorted by name).
std::vector<std::pair<const toml::key*, const toml::node*>> in_file_order(
    const toml::table& table) {
  std::vector<std::pair<const toml::key*, const toml::node*>> entries;
  entries.reserve(table.size());
  for (auto&& [key, node] : table) entries.emplace_back(&key, &node);
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return pos_less(pos_of(a.first->source()), pos_of(b.first->source()));
  });
  return entries;
}

Value to_value(const toml::node& node) {
  Value value;
  value.pos = value.key_pos = pos_of(node.source());
  switch (node.type()) {
    case toml::node_type::table:
      value.kind = Value::Kind::table;
      for (auto [key, child] : in_file_order(*node.as_table())) {
        value.table.emplace_back(std::string(key->str()), to_value(*child));
        value.table.back().second.key_pos = pos_of(key->source());
      }
      break;
    case toml::node_type::array:
      value.kind = Value::Kind::array;
      for (const toml::node& child : *node.as_array()) value.array.push_back(to_value(child));
      break;
    case toml::node_type::string:
      value.kind = Value::Kind::string;
      value.string = node.as_string()->get();
      break;
    case toml::node_type::integer:
      value.kind = Value::Kind::integer;
      value.integer = node.as_integer()->get();
      break;
    case toml::node_type::floating_point:
      value.kind = Value::Kind::floating;
      value.floating = node.as_floating_point()->get();
      break;
    case toml::node_type::boolean:
      value.kind = Value::Kind::boolean;
      value.boolean = node.as_boolean()->get();
      break;
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time: {
      // toml++ prints dates and times in their TOML (RFC 3339) form.
      std::ostringstream text;
      if (const auto* d = node.as_date()) text << d->get();
      if (const auto* t = node.as_time()) text << t->get();
      if (const auto* dt = node.as_date_time()) text << dt->get();
      value.kind = Value::Kind::datetime;
      value.string = std::move(text).str();
      break;
    }
    case toml::node_type::none:
      break;
  }
  return value;
}

class Loader {
 public:
  explicit Loader(std::string source) : source_(std::move(source)) {}

  Config load(std::string_view text);

 private:
  using Reader = std::function<void(const toml::node&)>;
  struct Field {
    std::string_view name;
    Reader read;
  };

  void error(SourcePos pos, std::string message) {
    errors_.push_back({source_, pos, std::move(message)});
  }
  void error(const toml::node& node, std::string message) {
    error(pos_of(node.source()), std::move(message));
  }

  void read_section(const toml::key& key, const toml::node& node, Config& config);
  void read_fields(const toml::table& table, std::string_view section,
                   std::initializer_list<Field> fields);

  template <typename T>
  Reader integer(std::string name, int64_t min, T& out);
  Reader size(std::string name, std::size_t min, std::size_t& out,
              std::size_t max = std::numeric_limits<std::size_t>::max());
  // zero_means_none: "0s" is accepted (no limit) rather than refused.
  Reader duration(std::string name, std::chrono::milliseconds& out, bool zero_means_none = false);
  Reader string(std::string name, std::string& out);
  Reader path_or(std::string name, std::string_view keywords, std::string& out);
  Reader one_of(std::string name, std::initializer_list<std::string_view> options, bool any_case,
                std::string& out);
  Reader boolean(std::string name, bool& out);
  Reader listen(std::vector<ListenAddress>& out);
  Reader trusted(std::vector<Cidr>& out);

  void read_routes(const toml::node& node, std::vector<RouteConfig>& out);
  void read_route(const toml::table& table, RouteConfig& route);
  void read_methods(const toml::node& node, RouteConfig& route);
  void read_middleware(const toml::node& node, RouteConfig& route);
  void read_cors(const toml::node& node, RouteConfig& route);
  // An array of strings, each checked by valid (which names what it wants in errors).
  Reader strings(std::string name, std::string_view wanted, bool (*valid)(std::string_view),
                 std::vector<std::string>& out);

  std::string source_;
  std::vector<ConfigError> errors_;
};

Config Loader::load(std::string_view text) {
  toml::table root;
  try {
    root = toml::parse(text, std::string_view{source_});
  } catch (const toml::parse_error& e) {
    // The parser stops at its first error; report that one alone, one line.
    std::string message(e.description());
    for (char& c : message)
      if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    throw ConfigErrors({ConfigError{source_, pos_of(e.source()), std::move(message)}});
  }

  Config config;
  config.source = source_;
  for (auto&& [key, node] : root) read_section(key, node, config);

  // Absent listen: the default. (Present but empty is an error reported above.)
  if (config.server.listen.empty()) {
    config.server.listen.push_back(*config::parse_listen_address("127.0.0.1:8080"));
  }

  if (!errors_.empty()) {
    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const auto& a, const auto& b) { return pos_less(a.pos, b.pos); });
    throw ConfigErrors(std::move(errors_));
  }
  return config;
}

void Loader::read_section(const toml::key& key, const toml::node& node, Config& config) {
  std::string_view name = key.str();
  if (name == "route") {
    read_routes(node, config.routes);
    return;
  }
  bool known = std::find(std::begin(section_names), std::end(section_names), name) !=
               std::end(section_names);
  if (!known) {
    std::string hint;
    if (node.is_table()) {
      std::string_view guess =
          suggest(name, {"server", "limits", "timeouts", "log", "proxy", "compression", "route"});
      if (!guess.empty()) hint = " (did you mean [" + std::string(guess) + "]?)";
      error(pos_of(key.source()), "unknown table [" + std::string(name) + "]" + hint);
    } else if (node.is_array_of_tables()) {
      if (!suggest(name, {"route"}).empty()) hint = " (did you mean [[route]]?)";
      error(pos_of(key.source()), "unknown table [[" + std::string(name) + "]]" + hint);
    } else {
      // A section key written above every table header: say where it belongs.
      for (std::string_view section : section_names) {
        auto keys = keys_of(section);
        if (std::find(keys.begin(), keys.end(), name) != keys.end()) {
          hint = " (it belongs in [" + std::string(section) + "])";
          break;
        }
      }
      error(pos_of(key.source()), "unknown top-level key " + quote(name) + hint);
    }
    return;
  }
  const auto* table = node.as_table();
  if (!table) {
    error(node, std::string(name) + " must be a table ([" + std::string(name) + "])");
    return;
  }

  if (name == "server") {
    ServerConfig& s = config.server;
    read_fields(*table, name,
                {{"listen", listen(s.listen)},
                 {"workers", integer("server.workers", 0, s.workers)},
                 {"backlog", integer("server.backlog", 1, s.backlog)},
                 {"max_connections", integer("server.max_connections", 1, s.max_connections)},
                 {"server_header",
                  [this, &s](const toml::node& value) {
                    const auto* text = value.as_string();
                    bool ok = text != nullptr;
                    if (ok) {
                      for (char c : text->get()) {
                        auto byte = static_cast<unsigned char>(c);
                        if (byte < 0x20 || byte == 0x7f) ok = false;
                      }
                    }
                    if (!ok) {
                      error(value,
                            "server.server_header must be a string without control "
                            "characters");
                      return;
                    }
                    s.server_header = text->get();
                  }},
                 {"pid_file", string("server.pid_file", s.pid_file)},
                 {"io", one_of("server.io", {"auto", "epoll", "io_uring"}, false, s.io)},
                 {"request_id_header", [this, &s](const toml::node& value) {
                    const auto* text = value.as_string();
                    const bool ok =
                        text && std::all_of(text->get().begin(), text->get().end(), [](char c) {
                          return base::is_tchar(static_cast<unsigned char>(c));
                        });
                    if (!ok) {
                      error(value, "server.request_id_header must be a header name or \"\"");
                      return;
                    }
                    s.request_id_header = text->get();
                  }}});
  } else if (name == "limits") {
    LimitsConfig& l = config.limits;
    read_fields(
        *table, name,
        // At most 64 MiB each: a request head must fit one read buffer, whose
        // offsets are 32-bit (it is sized request_line + header_section + 4 KiB).
        {{"request_line", size("limits.request_line", 1, l.request_line, kMaxHeadPart)},
         {"header_section", size("limits.header_section", 1, l.header_section, kMaxHeadPart)},
         {"headers", integer("limits.headers", 1, l.headers)},
         {"body", size("limits.body", 1, l.body)},
         {"pipeline_depth", integer("limits.pipeline_depth", 1, l.pipeline_depth)},
         {"requests_per_connection",
          integer("limits.requests_per_connection", 0, l.requests_per_connection)},
         {"stream_buffer", size("limits.stream_buffer", 1, l.stream_buffer)}});
  } else if (name == "timeouts") {
    TimeoutsConfig& t = config.timeouts;
    read_fields(*table, name,
                {{"header", duration("timeouts.header", t.header)},
                 {"body", duration("timeouts.body", t.body)},
                 {"keepalive", duration("timeouts.keepalive", t.keepalive)},
                 {"write", duration("timeouts.write", t.write)},
                 {"shutdown", duration("timeouts.shutdown", t.shutdown)},
                 {"handler", duration("timeouts.handler", t.handler, true)}});
  } else if (name == "log") {
    LogConfig& l = config.log;
    read_fields(*table, name,
                {{"level", one_of("log.level", {"trace", "debug", "info", "warn", "error", "off"},
                                  false, l.level)},
                 {"error", path_or("log.error", "\"stderr\"", l.error)},
                 {"access", path_or("log.access", "\"off\", \"stdout\"", l.access)},
                 {"access_format",
                  one_of("log.access_format", {"combined", "json"}, false, l.access_format)}});
  } else if (name == "compression") {
    CompressionConfig& c = config.compression;
    c.encodings.clear();  // the file's list replaces the default, and [] turns compression off
    c.types.clear();
    const bool has_encodings = table->contains("encodings");
    const bool has_types = table->contains("types");
    read_fields(*table, name,
                {{"encodings", strings("compression.encodings", "\"zstd\", \"br\" or \"gzip\"",
                                       valid_coding, c.encodings)},
                 {"min_size", size("compression.min_size", 0, c.min_size)},
                 {"types", strings("compression.types",
                                   "media types like \"text/*\" or \"application/json\"",
                                   valid_media_range, c.types)}});
    if (!has_encodings) c.encodings = CompressionConfig{}.encodings;
    if (!has_types) c.types = CompressionConfig{}.types;
    for (std::size_t i = 0; i < c.encodings.size(); ++i)
      if (std::find(c.encodings.begin(), c.encodings.begin() + i, c.encodings[i]) !=
          c.encodings.begin() + i)
        error(*table->get("encodings"),
              "compression.encodings names " + quote(c.encodings[i]) + " twice");
  } else {
    ProxyConfig& p = config.proxy;
    read_fields(*table, name,
                {{"trusted", trusted(p.trusted)},
                 {"client_header",
                  one_of("proxy.client_header", {"X-Forwarded-For", "X-Real-IP", "Forwarded"}, true,
                         p.client_header)},
                 {"proxy_protocol", boolean("proxy.proxy_protocol", p.proxy_protocol)}});
  }
}

void Loader::read_fields(const toml::table& table, std::string_view section,
                         std::initializer_list<Field> fields) {
  for (auto&& [key, node] : table) {
    std::string_view name = key.str();
    auto field = std::find_if(fields.begin(), fields.end(),
                              [name](const Field& f) { return f.name == name; });
    if (field != fields.end()) {
      field->read(node);
      continue;
    }
    std::string message = "unknown key " + quote(name) + " in [" + std::string(section) + "]";
    std::string_view guess = suggest(name, keys_of(section));
    if (!guess.empty()) message += " (did you mean " + quote(guess) + "?)";
    error(pos_of(key.source()), std::move(message));
  }
}

template <typename T>
Loader::Reader Loader::integer(std::string name, int64_t min, T& out) {
  return [this, name = std::move(name), min, &out](const toml::node& node) {
    constexpr auto type_max = std::numeric_limits<T>::max();
    constexpr int64_t max = static_cast<uint64_t>(type_max) > uint64_t{INT64_MAX}
                                ? INT64_MAX
                                : static_cast<int64_t>(type_max);
    const auto* value = node.as_integer();
    if (!value || value->get() < min) {
      error(node, name + " must be an integer >= " + std::to_string(min));
    } else if (value->get() > max) {
      error(node, name + " must be an integer <= " + std::to_string(max));
    } else {
      out = static_cast<T>(value->get());
    }
  };
}

Loader::Reader Loader::size(std::string name, std::size_t min, std::size_t& out, std::size_t max) {
  return [this, name = std::move(name), min, max, &out](const toml::node& node) {
    std::string expected =
        name + " must be a size >= " + std::to_string(min) +
        (max == std::numeric_limits<std::size_t>::max() ? std::string()
                                                        : " and <= " + std::to_string(max)) +
        ": an integer (bytes) or a string like \"16KiB\"";
    if (const auto* integer = node.as_integer()) {
      if (integer->get() < 0 || static_cast<uint64_t>(integer->get()) < min ||
          static_cast<uint64_t>(integer->get()) > max) {
        error(node, std::move(expected));
      } else {
        out = static_cast<std::size_t>(integer->get());
      }
    } else if (const auto* text = node.as_string()) {
      auto bytes = config::parse_size(text->get());
      if (!bytes) {
        error(node, name + ": invalid size " + quote(text->get()) +
                        " (expected a number with unit B, KiB, MiB, GiB or TiB, as in \"16KiB\")");
      } else if (*bytes < min || *bytes > max) {
        error(node, std::move(expected));
      } else {
        out = *bytes;
      }
    } else {
      error(node, std::move(expected));
    }
  };
}

Loader::Reader Loader::duration(std::string name, std::chrono::milliseconds& out,
                                bool zero_means_none) {
  return [this, name = std::move(name), &out, zero_means_none](const toml::node& node) {
    const auto* text = node.as_string();
    if (!text) {
      error(node, name + " must be a duration string like \"10s\" (units ms, s, m, h)");
      return;
    }
    auto value = config::parse_duration(text->get());
    if (!value) {
      error(node, name + ": invalid duration " + quote(text->get()) +
                      " (expected a number with unit ms, s, m or h, as in \"10s\")");
    } else if (value->count() < 0 || (value->count() == 0 && !zero_means_none)) {
      error(node, name + (zero_means_none ? " must not be negative" : " must be longer than 0"));
    } else {
      out = *value;
    }
  };
}

Loader::Reader Loader::string(std::string name, std::string& out) {
  return [this, name = std::move(name), &out](const toml::node& node) {
    if (const auto* text = node.as_string()) {
      out = text->get();
    } else {
      error(node, name + " must be a string");
    }
  };
}

// A file path or one of the keywords (which the log module interprets); never empty.
Loader::Reader Loader::path_or(std::string name, std::string_view keywords, std::string& out) {
  return [this, name = std::move(name), keywords, &out](const toml::node& node) {
    const auto* text = node.as_string();
    if (!text || text->get().empty()) {
      error(node, name + " must be " + std::string(keywords) + " or a file path");
      return;
    }
    out = text->get();
  };
}

Loader::Reader Loader::one_of(std::string name, std::initializer_list<std::string_view> options,
                              bool any_case, std::string& out) {
  std::vector<std::string_view> choices(options);
  return [this, name = std::move(name), choices, any_case, &out](const toml::node& node) {
    if (const auto* text = node.as_string()) {
      for (std::string_view choice : choices) {
        bool match = any_case ? lower(choice) == lower(text->get()) : choice == text->get();
        if (match) {
          out = std::string(choice);  // the canonical spelling
          return;
        }
      }
    }
    std::string message = name + " must be one of ";
    for (std::size_t i = 0; i < choices.size(); ++i)
      message += (i ? ", " : "") + std::string(choices[i]);
    error(node, std::move(message));
  };
}

Loader::Reader Loader::boolean(std::string name, bool& out) {
  return [this, name = std::move(name), &out](const toml::node& node) {
    if (const auto* value = node.as_boolean()) {
      out = value->get();
    } else {
      error(node, name + " must be true or false");
    }
  };
}

// server.listen: an array of address strings, or a single string.
Loader::Reader Loader::listen(std::vector<ListenAddress>& out) {
  return [this, &out](const toml::node& node) {
    auto read_one = [this, &out](const toml::node& entry) {
      const auto* text = entry.as_string();
      if (!text) {
        error(entry, "server.listen entries must be strings like \"127.0.0.1:8080\"");
        return;
      }
      std::string why;
      if (auto address = config::parse_listen_address(text->get(), &why)) {
        out.push_back(std::move(*address));
      } else {
        error(entry, "server.listen: invalid address " + quote(text->get()) + ": " + why);
      }
    };
    out.clear();
    if (node.is_string()) {
      read_one(node);
    } else if (const auto* array = node.as_array(); array && !array->empty()) {
      for (const toml::node& entry : *array) read_one(entry);
    } else {
      error(node, "server.listen must be a non-empty array of addresses like \"127.0.0.1:8080\"");
    }
  };
}

Loader::Reader Loader::trusted(std::vector<Cidr>& out) {
  return [this, &out](const toml::node& node) {
    const auto* array = node.as_array();
    if (!array) {
      error(node, "proxy.trusted must be an array of CIDRs like \"10.0.0.0/8\"");
      return;
    }
    out.clear();
    for (const toml::node& entry : *array) {
      const auto* text = entry.as_string();
      if (!text) {
        error(entry, "proxy.trusted entries must be strings like \"10.0.0.0/8\"");
      } else if (auto cidr = base::parse_cidr(text->get())) {
        out.push_back(std::move(*cidr));
      } else {
        error(entry, "proxy.trusted: invalid CIDR " + quote(text->get()));
      }
    }
  };
}

void Loader::read_routes(const toml::node& node, std::vector<RouteConfig>& out) {
  const auto* array = node.as_array();
  if (!array) {
    error(node, "route must be an array of tables: write [[route]], not [route]");
    return;
  }
  for (const toml::node& entry : *array) {
    const auto* table = entry.as_table();
    if (!table) {
      error(entry, "each route must be a table ([[route]])");
      continue;
    }
    RouteConfig route;
    read_route(*table, route);
    out.push_back(std::move(route));
  }
}

void Loader::read_route(const toml::table& table, RouteConfig& route) {
  route.pos = pos_of(table.source());
  route.methods_pos = route.pos;
  route.options.kind = Value::Kind::table;
  route.options.pos = route.pos;
  bool has_path = false;
  bool has_handler = false;
  // `body = "buffer" | "stream"` says how the request body is read, on every route but a
  // static one, whose `body` is its response. Any other `body` is the handler's own option.
  auto is_body_mode = [](const toml::node& n) {
    const auto* text = n.as_string();
    return text && (text->get() == "buffer" || text->get() == "stream");
  };
  const auto* handler_name = table["handler"].as_string();
  const bool static_handler = handler_name && handler_name->get() == "static";
  // An upload route streams its body into the file and takes PUT, unless it says otherwise.
  if (handler_name && handler_name->get() == "upload") {
    route.methods = {"PUT"};
    route.stream_body = true;
  }
  for (auto [key, node] : in_file_order(table)) {
    std::string_view name = key->str();
    if (name == "path") {
      has_path = true;
      route.path_pos = pos_of(node->source());
      const auto* text = node->as_string();
      if (!text || text->get().empty() || text->get().front() != '/') {
        error(*node, "route.path must be a string starting with \"/\"");
      } else {
        route.path = text->get();
      }
    } else if (name == "handler") {
      has_handler = true;
      route.handler_pos = pos_of(node->source());
      const auto* text = node->as_string();
      if (!text || text->get().empty()) {
        error(*node, "route.handler must be a non-empty string");
      } else {
        route.handler = text->get();
      }
    } else if (name == "methods") {
      read_methods(*node, route);
    } else if (name == "timeout") {
      std::chrono::milliseconds timeout{-1};
      duration("route.timeout", timeout, true)(*node);
      if (timeout.count() >= 0) route.timeout = timeout;
    } else if (name == "heartbeat") {
      duration("route.heartbeat", route.heartbeat, true)(*node);
    } else if (name == "body" && !static_handler && is_body_mode(*node)) {
      route.stream_body = node->as_string()->get() == "stream";
    } else if (name == "middleware") {
      read_middleware(*node, route);
    } else if (name == "cors") {
      read_cors(*node, route);
    } else if (name == "compress") {
      boolean("route.compress", route.compress)(*node);
    } else if (name == "max_body") {
      std::size_t limit = 0;
      size("route.max_body", 1, limit)(*node);
      if (limit > 0) route.max_body = limit;
    } else {
      route.options.table.emplace_back(std::string(name), to_value(*node));
      route.options.table.back().second.key_pos = pos_of(key->source());
    }
  }
  if (!has_path) error(route.pos, "route has no path");
  if (!has_handler) error(route.pos, "route has no handler");
}

void Loader::read_middleware(const toml::node& node, RouteConfig& route) {
  const auto* array = node.as_array();
  if (!array) {
    error(node, "route.middleware must be an array of names registered with Server::use");
    return;
  }
  for (const toml::node& entry : *array) {
    const auto* text = entry.as_string();
    if (!text || text->get().empty()) {
      error(entry, "route.middleware entries must be non-empty strings");
      continue;
    }
    route.middleware.push_back(text->get());
    route.middleware_pos.push_back(pos_of(entry.source()));
  }
}

namespace {

// "*", or scheme://host[:port] as a browser's Origin header has it (no path, no slash at the
// end); the host may start with "*." for every subdomain.
bool valid_origin(std::string_view origin) {
  if (origin == "*") return true;
  const std::size_t sep = origin.find("://");
  if (sep == std::string_view::npos || sep == 0 || sep + 3 == origin.size()) return false;
  for (char c : origin.substr(0, sep))
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.')
      return false;
  for (char c : origin.substr(sep + 3))
    if (c <= ' ' || c >= 0x7f || c == '/' || c == '?' || c == '#' || c == ',') return false;
  return true;
}

bool valid_method(std::string_view name) {
  return base::method_from_name(name).has_value();
}

bool valid_header_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return base::is_tchar(static_cast<unsigned char>(c));
  });
}

}  // namespace

Loader::Reader Loader::strings(std::string name, std::string_view wanted,
                               bool (*valid)(std::string_view), std::vector<std::string>& out) {
  return [this, name = std::move(name), wanted, valid, &out](const toml::node& node) {
    const auto* array = node.as_array();
    if (!array) {
      error(node, name + " must be an array of " + std::string(wanted));
      return;
    }
    for (const toml::node& entry : *array) {
      const auto* text = entry.as_string();
      if (!text || !valid(text->get())) {
        error(entry, name + " entries must be " + std::string(wanted));
        continue;
      }
      out.push_back(text->get());
    }
  };
}

void Loader::read_cors(const toml::node& node, RouteConfig& route) {
  route.cors_pos = pos_of(node.source());
  const auto* table = node.as_table();
  if (!table) {
    error(node, "route.cors must be a table, such as cors = { origins = [\"https://a.example\"] }");
    return;
  }
  CorsConfig cors;
  std::chrono::milliseconds max_age = cors.max_age;
  const bool has_origins = table->contains("origins");
  read_fields(
      *table, "route.cors",
      {{"origins",
        strings("route.cors.origins", "\"*\" or origins like \"https://app.example.com\"",
                valid_origin, cors.origins)},
       {"methods",
        strings("route.cors.methods", "method names like \"GET\"", valid_method, cors.methods)},
       {"headers", strings("route.cors.headers", "header names", valid_header_name, cors.headers)},
       {"max_age", duration("route.cors.max_age", max_age, true)},
       {"credentials", boolean("route.cors.credentials", cors.credentials)}});
  cors.max_age = std::chrono::duration_cast<std::chrono::seconds>(max_age);
  const bool any = std::find(cors.origins.begin(), cors.origins.end(), "*") != cors.origins.end();
  if (!has_origins)
    error(node, "route.cors needs origins: \"*\" or the origins allowed");
  else if (any && cors.credentials)
    error(node,
          "route.cors.credentials = true needs its origins listed: browsers refuse \"*\" "
          "with credentials");
  route.cors = std::move(cors);
}

void Loader::read_methods(const toml::node& node, RouteConfig& route) {
  route.methods_pos = pos_of(node.source());
  const auto* array = node.as_array();
  if (!array || array->empty()) {
    error(node, "route.methods must be a non-empty array of method names, or [\"*\"]");
    return;
  }
  route.methods.clear();
  for (const toml::node& entry : *array) {
    const auto* text = entry.as_string();
    if (!text) {
      error(entry, "route.methods entries must be strings like \"GET\"");
      continue;
    }
    const std::string& method = text->get();
    if (method == "*") {
      if (array->size() != 1) error(entry, "\"*\" (any method) must be alone in route.methods");
    } else if (!base::method_from_name(method)) {
      std::string message = "route.methods: unknown method " + quote(method);
      if (base::method_from_name(upper(method)))
        message += " (methods are case-sensitive: " + quote(upper(method)) + ")";
      error(entry, std::move(message));
      continue;
    }
    route.methods.push_back(method);
  }
}

// Any other exception (e.g. bad_alloc) still leaves as ConfigErrors, as callers expect.
template <typename F>
Config guarded(const std::string& source, F&& load) {
  try {
    return load();
  } catch (const ConfigErrors&) {
    throw;
  } catch (const std::exception& e) {
    throw ConfigErrors({ConfigError{source, {}, std::string("internal error: ") + e.what()}});
  }
}

}  // namespace

Config parse_config(std::string_view toml_text, std::string source) {
  return guarded(source, [&] { return Loader(source).load(toml_text); });
}

Config load_config(const std::string& path) {
  return guarded(path, [&] {
    auto fail = [&path](const std::string& why) {
      return ConfigErrors({ConfigError{path, {}, "cannot read file: " + why}});
    };
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw fail(std::strerror(errno));
    std::string text;
    char buffer[16 * 1024];
    // A config is small; the cap keeps a mistaken -c /dev/zero from eating memory.
    constexpr std::size_t max_size = 64 * 1024 * 1024;
    for (;;) {
      ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int saved = errno;
        ::close(fd);
        throw fail(std::strerror(saved));
      }
      if (n == 0) break;
      text.append(buffer, static_cast<std::size_t>(n));
      if (text.size() > max_size) {
        ::close(fd);
        throw fail("larger than 64 MiB");
      }
    }
    ::close(fd);
    return Loader(path).load(text);
  });
}

Config default_config() {
  return parse_config(default_config_text(), "<default>");
}

}  // namespace lithe
