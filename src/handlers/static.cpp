// `static`: a fixed response rendered once at load; per request only Date is added.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "handlers/handler.hpp"

namespace lithe::handlers {

namespace {

class StaticHandler final : public Handler {
 public:
  explicit StaticHandler(http::PreparedResponse prepared) : prepared_(std::move(prepared)) {}
  void handle(const lithe::Request&, http::ResponseImpl& res) override { res.prepared(&prepared_); }

 private:
  http::PreparedResponse prepared_;
};

// body_file is relative to the config file's directory, like every path a config names.
std::filesystem::path resolve(const Config& config, const std::string& file) {
  std::filesystem::path p(file);
  if (p.is_absolute() || config.source.empty() || config.source.front() == '<') return p;
  return std::filesystem::path(config.source).parent_path() / p;
}

}  // namespace

std::unique_ptr<Handler> make_static(BuildContext& ctx) {
  Options& o = ctx.options;
  uint16_t status = read_status(o, 200);
  auto content_type = o.string("content_type").value_or("text/plain; charset=utf-8");
  auto headers = read_headers(o);
  auto body = o.string("body");
  const Value* file_value = o.get("body_file");
  std::string text;
  if (body && file_value) {
    o.error(file_value->pos, "route options 'body' and 'body_file' exclude each other");
  } else if (body) {
    text = std::move(*body);
  } else if (file_value) {
    if (file_value->kind != Value::Kind::string) {
      o.error(file_value->pos, "route option 'body_file' must be a string");
    } else {
      std::ifstream in(resolve(o.config(), file_value->string), std::ios::binary);
      if (!in) {
        o.error(file_value->pos, "cannot read body_file '" + file_value->string + "'");
      } else {
        std::ostringstream ss;
        ss << in.rdbuf();
        text = ss.str();
      }
    }
  }
  o.finish();
  return std::make_unique<StaticHandler>(http::prepare_response(
      status, o.config().server.server_header, content_type, headers, std::move(text)));
}

}  // namespace lithe::handlers
