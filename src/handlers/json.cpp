// `json`: a TOML value serialized to JSON once at load, served like `static`.
#include <cmath>
#include <fmt/format.h>

#include "handlers/encoded.hpp"
#include "handlers/handler.hpp"
#include "handlers/json_writer.hpp"

namespace lithe::handlers {

void write_json_string(std::string_view s, std::string& out) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
      default:
        if (c < 0x20 || c == 0x7f)
          out.append(fmt::format("\\u{:04x}", c));
        else
          out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
}

std::optional<SourcePos> write_json(const Value& v, std::string& out) {
  switch (v.kind) {
    case Value::Kind::boolean: out.append(v.boolean ? "true" : "false"); return std::nullopt;
    case Value::Kind::integer: out.append(std::to_string(v.integer)); return std::nullopt;
    case Value::Kind::floating:
      if (!std::isfinite(v.floating)) return v.pos;
      out.append(fmt::format("{}", v.floating));
      return std::nullopt;
    case Value::Kind::string:
    case Value::Kind::datetime: write_json_string(v.string, out); return std::nullopt;
    case Value::Kind::array: {
      out.push_back('[');
      for (std::size_t i = 0; i < v.array.size(); ++i) {
        if (i) out.push_back(',');
        if (auto bad = write_json(v.array[i], out)) return bad;
      }
      out.push_back(']');
      return std::nullopt;
    }
    case Value::Kind::table: {
      out.push_back('{');
      for (std::size_t i = 0; i < v.table.size(); ++i) {
        if (i) out.push_back(',');
        write_json_string(v.table[i].first, out);
        out.push_back(':');
        if (auto bad = write_json(v.table[i].second, out)) return bad;
      }
      out.push_back('}');
      return std::nullopt;
    }
  }
  return std::nullopt;
}

namespace {
class JsonHandler final : public Handler {
 public:
  explicit JsonHandler(EncodedResponse response) : response_(std::move(response)) {}
  void handle(const lithe::Request& req, lithe::Response& res) override {
    response_.answer(req, res);
  }

 private:
  EncodedResponse response_;
};
}  // namespace

std::unique_ptr<Handler> make_json(BuildContext& ctx) {
  Options& o = ctx.options;
  uint16_t status = read_status(o, 200);
  auto headers = read_headers(o);
  std::string body;
  if (const Value* value = o.get("value")) {
    if (auto bad = write_json(*value, body)) o.error(*bad, "nan and inf have no JSON form");
  } else {
    o.error("handler 'json' needs a 'value' option");
  }
  o.finish();
  return std::make_unique<JsonHandler>(
      EncodedResponse(o, status, "application/json", std::move(body), headers));
}

}  // namespace lithe::handlers
