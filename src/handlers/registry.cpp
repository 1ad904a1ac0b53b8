#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "handlers/handler.hpp"
#include "http/status.hpp"

namespace lithe::handlers {

Options::Options(const Config& config, const RouteConfig& route, std::vector<ConfigError>& errors)
    : config_(config), route_(route), errors_(errors) {}

const Value* Options::get(std::string_view key) {
  const Value* v = route_.options.find(key);
  if (v) used_.push_back(key);
  return v;
}

std::optional<std::string> Options::string(std::string_view key) {
  const Value* v = get(key);
  if (!v) return std::nullopt;
  if (v->kind != Value::Kind::string) {
    error(v->pos, "route option '" + std::string(key) + "' must be a string");
    return std::nullopt;
  }
  return v->string;
}

std::optional<int64_t> Options::integer(std::string_view key) {
  const Value* v = get(key);
  if (!v) return std::nullopt;
  if (v->kind != Value::Kind::integer) {
    error(v->pos, "route option '" + std::string(key) + "' must be an integer");
    return std::nullopt;
  }
  return v->integer;
}

std::optional<bool> Options::boolean(std::string_view key) {
  const Value* v = get(key);
  if (!v) return std::nullopt;
  if (v->kind != Value::Kind::boolean) {
    error(v->pos, "route option '" + std::string(key) + "' must be true or false");
    return std::nullopt;
  }
  return v->boolean;
}

std::vector<std::pair<std::string, std::string>> Options::string_table(std::string_view key) {
  std::vector<std::pair<std::string, std::string>> out;
  const Value* v = get(key);
  if (!v) return out;
  if (v->kind != Value::Kind::table) {
    error(v->pos, "route option '" + std::string(key) + "' must be a table of strings");
    return out;
  }
  for (const auto& [name, value] : v->table) {
    if (value.kind != Value::Kind::string) {
      error(value.pos, "route option '" + std::string(key) + "." + name + "' must be a string");
      continue;
    }
    out.emplace_back(name, value.string);
  }
  return out;
}

void Options::require_file_path(std::string_view dir_key, std::string_view example) {
  if (route_.path.find("/*") != std::string::npos) return;
  error(route_.path_pos, "handler '" + route_.handler +
                             "' needs a route path ending in '*name' (the file's path below " +
                             std::string(dir_key) + "), e.g. \"" + std::string(example) + "\"");
}

int Options::directory(std::string_view key, std::string_view purpose) {
  const Value* v = get(key);
  const std::string name(key);
  if (!v) {
    error("handler '" + route_.handler + "' needs the option '" + name + "' (" +
          std::string(purpose) + ")");
    return -1;
  }
  if (v->kind != Value::Kind::string || v->string.empty()) {
    error(v->pos, "route option '" + name + "' must be a non-empty string");
    return -1;
  }
  // Relative to the config file's directory, like every path a config names.
  std::filesystem::path dir(v->string);
  if (!dir.is_absolute() && !config_.source.empty() && config_.source.front() != '<')
    dir = std::filesystem::path(config_.source).parent_path() / dir;
  const int fd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) return fd;
  const int err = errno;
  struct stat st {};
  if (err == ENOTDIR || (::stat(dir.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)))
    error(v->pos, name + " '" + v->string + "' is not a directory");
  else
    error(v->pos, "cannot open " + name + " '" + v->string + "': " + std::strerror(err));
  return -1;
}

void plain_status(lithe::Response& res, int status) {
  res.status(status);
  res.body_view(http::reason_phrase(static_cast<uint16_t>(status)), "text/plain; charset=utf-8");
}

void Options::error(SourcePos pos, std::string message) {
  errors_.push_back({config_.source, pos, std::move(message)});
}

void Options::finish() {
  for (const auto& [key, value] : route_.options.table) {
    if (std::find(used_.begin(), used_.end(), key) == used_.end())
      error(value.key_pos, "unknown option '" + key + "' for handler '" + route_.handler + "'");
  }
}

uint16_t read_status(Options& options, uint16_t fallback) {
  const Value* v = options.get("status");
  if (!v) return fallback;
  if (v->kind != Value::Kind::integer || v->integer < 200 || v->integer > 599) {
    options.error(v->pos, "route option 'status' must be an integer from 200 to 599");
    return fallback;
  }
  return static_cast<uint16_t>(v->integer);
}

namespace {
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}
bool is_field_value(std::string_view s) {
  for (unsigned char c : s)
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  return true;
}
}  // namespace

std::vector<std::pair<std::string, std::string>> read_headers(Options& options) {
  auto headers = options.string_table("headers");
  const Value* table = options.route().options.find("headers");
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& [name, value] : headers) {
    SourcePos pos = table ? table->pos : SourcePos{};
    if (table)
      if (const Value* v = table->find(name)) pos = v->pos;
    if (!is_token(name)) {
      options.error(pos, "header name '" + name + "' is not a valid HTTP token");
      continue;
    }
    if (!is_field_value(value)) {
      options.error(pos, "header '" + name + "' has a control character in its value");
      continue;
    }
    out.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

Registry::Registry() {
  add("static", make_static);
  add("json", make_json);
  add("health", make_health);
  add("redirect", make_redirect);
  add("echo", make_echo);
  add("files", make_files);
  add("upload", make_upload);
  add("metrics", make_metrics);
}

namespace {

// A name's entry replaced, or added at the end.
template <class T>
void put(std::vector<std::pair<std::string, T>>& entries, std::string name, T value) {
  for (auto& entry : entries) {
    if (entry.first == name) {
      entry.second = std::move(value);
      return;
    }
  }
  entries.emplace_back(std::move(name), std::move(value));
}

template <class T>
const T* lookup(const std::vector<std::pair<std::string, T>>& entries, std::string_view name) {
  for (const auto& entry : entries)
    if (entry.first == name) return &entry.second;
  return nullptr;
}

}  // namespace

void Registry::add(std::string name, Factory factory) {
  put(factories_, std::move(name), std::move(factory));
}

const Factory* Registry::find(std::string_view name) const {
  return lookup(factories_, name);
}

void Registry::add_middleware(std::string name, Middleware hooks) {
  auto shared = std::make_shared<const Middleware>(std::move(hooks));
  if (name.empty())
    global_.push_back(std::move(shared));
  else
    put(named_, std::move(name), std::move(shared));
}

const std::shared_ptr<const Middleware>* Registry::find_middleware(std::string_view name) const {
  return lookup(named_, name);
}

}  // namespace lithe::handlers
