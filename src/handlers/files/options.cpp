// The `files` route's options (root, index, max_age, dotfiles, precompressed), read once at
// load.
#include <string>

#include "config/units.hpp"
#include "handlers/files/files_handler.hpp"
#include "handlers/handler.hpp"

namespace lithe::handlers {

std::unique_ptr<Handler> make_files(BuildContext& ctx) {
  Options& o = ctx.options;
  o.require_file_path("root", "/static/*path");

  const int root_fd = o.directory("root", "the directory to serve");

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
  // Sidecars (app.js.br next to app.js) in the codings [compression] offers, in its order.
  std::vector<encoding::Coding> sidecars;
  if (o.boolean("precompressed").value_or(true) && o.route().compress)
    sidecars = encoding::parse_codings(o.config().compression.encodings);
  o.finish();
  return std::make_unique<files::FilesHandler>(root_fd, std::move(index), std::move(cache_control),
                                               dotfiles, std::move(sidecars),
                                               o.config().compression);
}

}  // namespace lithe::handlers
