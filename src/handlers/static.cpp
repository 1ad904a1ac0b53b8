// `static`: a fixed response rendered once at load; per request only Date is added. A body with
// {name} placeholders is split once at load and filled per request from the path parameters,
// escaped for the content type.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "handlers/encoded.hpp"
#include "handlers/handler.hpp"
#include "handlers/template.hpp"

namespace lithe::handlers {

namespace {

class StaticHandler final : public Handler {
 public:
  explicit StaticHandler(EncodedResponse response) : response_(std::move(response)) {}
  void handle(const lithe::Request& req, lithe::Response& res) override {
    response_.answer(req, res);
  }

 private:
  EncodedResponse response_;
};

// A body with placeholders: literal parts and parameter names, alternating as written.
class TemplateHandler final : public Handler {
 public:
  TemplateHandler(uint16_t status, std::string content_type,
                  std::vector<std::pair<std::string, std::string>> headers,
                  std::vector<TemplatePart> parts, BodyEscape escape)
      : status_(status),
        content_type_(std::move(content_type)),
        headers_(std::move(headers)),
        parts_(std::move(parts)),
        escape_(escape) {}

  void handle(const lithe::Request& req, lithe::Response& res) override {
    // Rendered here, then copied into the request's arena by text(): the buffer keeps its
    // capacity, so a warmed-up worker renders without touching the heap.
    thread_local std::string body;
    body.clear();
    for (const TemplatePart& part : parts_) {
      if (part.placeholder)
        append_escaped(body, req.param(part.text), escape_);
      else
        body.append(part.text);
    }
    res.status(status_);
    for (const auto& [name, value] : headers_) res.header(name, value);
    res.text(body, content_type_);
  }

 private:
  uint16_t status_;
  std::string content_type_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::vector<TemplatePart> parts_;
  BodyEscape escape_;
};

// body_file is relative to the config file's directory, like every path a config names.
std::filesystem::path resolve(const Config& config, const std::string& file) {
  std::filesystem::path p(file);
  if (p.is_absolute() || config.source.empty() || config.source.front() == '<') return p;
  return std::filesystem::path(config.source).parent_path() / p;
}

// 1-based line of a byte offset.
std::size_t line_of(std::string_view text, std::size_t offset) {
  return 1 + static_cast<std::size_t>(std::count(text.begin(), text.begin() + offset, '\n'));
}

}  // namespace

std::unique_ptr<Handler> make_static(BuildContext& ctx) {
  Options& o = ctx.options;
  uint16_t status = read_status(o, 200);
  auto content_type = o.string("content_type").value_or("text/plain; charset=utf-8");
  // A control byte would split the head (or make every templated request throw in text()).
  if (std::any_of(content_type.begin(), content_type.end(),
                  [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; })) {
    o.error(o.route().options.find("content_type")->pos,
            "route option 'content_type' has a control character");
    content_type = "text/plain; charset=utf-8";
  }
  auto headers = read_headers(o);
  const Value* body_value = o.get("body");
  const Value* file_value = o.get("body_file");
  std::string text;
  std::string where;  // names the template in messages
  SourcePos pos;      // where placeholder errors point: the body or body_file value
  if (body_value && file_value) {
    o.error(file_value->pos, "route options 'body' and 'body_file' exclude each other");
  } else if (body_value) {
    if (body_value->kind != Value::Kind::string) {
      o.error(body_value->pos, "route option 'body' must be a string");
    } else {
      text = body_value->string;
      where = "body";
      pos = body_value->pos;
    }
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
        where = "body_file '" + file_value->string + "'";
        pos = file_value->pos;
      }
    }
  }

  std::vector<TemplatePart> parts = parse_template(text);
  const bool templated =
      std::any_of(parts.begin(), parts.end(), [](const TemplatePart& p) { return p.placeholder; });
  if (templated) {
    const std::vector<RouteParam> params = route_params(o.route().path);
    for (const TemplatePart& part : parts) {
      if (!part.placeholder) continue;
      bool known = std::any_of(params.begin(), params.end(),
                               [&](const RouteParam& p) { return p.name == part.text; });
      if (known) continue;
      // A line number inside a file helps more than the position of its name.
      std::string at =
          file_value ? " (line " + std::to_string(line_of(text, part.offset)) + ")" : "";
      o.error(pos, "placeholder '{" + part.text + "}' in " + where + at +
                       " names no parameter of route path '" + o.route().path + "' (write '{{" +
                       part.text + "}' for the literal text)");
    }
  }
  o.finish();

  if (!templated) {
    // No placeholder: the whole response is fixed (a "{{name}" escape is resolved here).
    std::string fixed = parts.empty() ? std::string() : std::move(parts.front().text);
    return std::make_unique<StaticHandler>(
        EncodedResponse(o, status, content_type, std::move(fixed), headers));
  }
  BodyEscape escape = body_escape_for(content_type);
  return std::make_unique<TemplateHandler>(status, std::move(content_type), std::move(headers),
                                           std::move(parts), escape);
}

}  // namespace lithe::handlers
