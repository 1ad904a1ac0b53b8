// The application of bench/load/app.sh, shared by the C++ servers (lithe, Beast, RESTinio):
// an order (bench/app/order.json) in, {"id":...,"items":N,"total":sum of qty*price} out. The
// answer is byte for byte what bench/app/starlette_app.py sends (Python's json.dumps with
// separators=(",", ":") and ensure_ascii=False; floats as repr() writes them).
#pragma once

#include <simdjson.h>

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bench_app {

inline constexpr std::string_view kPlaintext = "Hello, World!";
inline constexpr std::string_view kPlaintextType = "text/plain; charset=utf-8";
inline constexpr std::string_view kJsonType = "application/json";
inline constexpr std::string_view kBadRequest = R"({"error":"invalid order"})";

// s as a JSON string, escaped as json.dumps(ensure_ascii=False) escapes it.
inline void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char hex[] = "0123456789abcdef";
          out += "\\u00";
          out += hex[(c >> 4) & 0xf];
          out += hex[c & 0xf];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

// A double as Python's repr(): the shortest round-trip form, with ".0" on an integral value.
inline void append_double(std::string& out, double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  std::string_view text(buf, ec == std::errc() ? static_cast<std::size_t>(end - buf) : 0);
  out += text;
  if (text.find_first_of(".eina") == std::string_view::npos) out += ".0";
}

// The answer to a parsed order, or nothing when it is not one (the server answers 400).
inline std::optional<std::string> summarize(simdjson::dom::element order) {
  std::string_view id;
  simdjson::dom::array items;
  if (order["id"].get(id) != simdjson::SUCCESS) return std::nullopt;
  if (order["items"].get(items) != simdjson::SUCCESS) return std::nullopt;
  double total = 0;
  std::size_t count = 0;
  for (simdjson::dom::element item : items) {
    double qty = 0;
    double price = 0;
    if (item["qty"].get(qty) != simdjson::SUCCESS) return std::nullopt;
    if (item["price"].get(price) != simdjson::SUCCESS) return std::nullopt;
    total += qty * price;
    ++count;
  }
  std::string out;
  out.reserve(64 + id.size());
  out += R"({"id":)";
  append_json_string(out, id);
  out += R"(,"items":)";
  out += std::to_string(count);
  out += R"(,"total":)";
  append_double(out, total);
  out += '}';
  return out;
}

// Parses body (copied into the parser's padded buffer) and summarizes it.
inline std::optional<std::string> summarize(simdjson::dom::parser& parser, std::string_view body) {
  simdjson::dom::element order;
  if (parser.parse(body.data(), body.size()).get(order) != simdjson::SUCCESS) return std::nullopt;
  return summarize(order);
}

}  // namespace bench_app
