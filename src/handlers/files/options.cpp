// The `files` route's options (root, index, max_age, dotfiles), read once at load.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "config/units.hpp"
#include "handlers/files/files_handler.hpp"
#include "handlers/handler.hpp"

namespace lithe::handlers {

namespace {
// root is relative to the config file's directory, like every path a config names.
std::filesystem::path resolve(const Config& config, const std::string& file) {
  std::filesystem::path p(file);
  if (p.is_absolute() || config.source.empty() || config.source.front() == '<') return p;
  return std::filesystem::path(config.source).parent_path() / p;
}
}  // namespace

std::unique_ptr<Handler> make_files(BuildContext& ctx) {
  Options& o = ctx.options;
  const RouteConfig& route = o.route();
  if (route.path.find("/*") == std::string::npos)
    o.error(route.path_pos,
            "handler 'files' needs a route path ending in '*name' (the file's "
            "path below root), e.g. \"/static/*path\"");

  int root_fd = -1;
  const Value* root = o.get("root");
  if (!root) {
    o.error("handler 'files' needs the option 'root' (the directory to serve)");
  } else if (root->kind != Value::Kind::string || root->string.empty()) {
    o.error(root->pos, "route option 'root' must be a non-empty string");
  } else {
    std::string dir = resolve(o.config(), root->string).string();
    root_fd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) {
      int err = errno;
      struct stat st {};
      if (err == ENOTDIR || (::stat(dir.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)))
        o.error(root->pos, "root '" + root->string + "' is not a directory");
      else
        o.error(root->pos, "cannot open root '" + root->string + "': " + std::strerror(err));
    }
  }

  std::string index = "index.html";
  if (const Value* v = o.get("index")) {
    if (v->kind != Value::Kind::string || v->string.empty() || v->string == "." ||
        v->string == ".." ||
        v->string.find_first_of(std::string_view("/\\\0", 3)) != std::string::npos) {
      o.error(v->pos, "route option 'index' must be a file name (no '/')");
    } else {
      index = v->string;
    }
  }

  std::string cache_control;
  if (const Value* v = o.get("max_age")) {
    std::optional<std::chrono::milliseconds> age;
    if (v->kind == Value::Kind::string) age = config::parse_duration(v->string);
    if (!age) {
      o.error(v->pos, "route option 'max_age' must be a duration such as \"10m\" or \"1h\"");
    } else {
      cache_control = "max-age=" + std::to_string(age->count() / 1000);
    }
  }

  bool dotfiles = o.boolean("dotfiles").value_or(false);
  o.finish();
  return std::make_unique<files::FilesHandler>(root_fd, std::move(index), std::move(cache_control),
                                               dotfiles);
}

}  // namespace lithe::handlers
