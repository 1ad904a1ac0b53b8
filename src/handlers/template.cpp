#include "handlers/template.hpp"

#include "base/text.hpp"

namespace lithe::handlers {

namespace {

constexpr bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// End of the name starting at i (i itself when there is none).
std::size_t name_end(std::string_view s, std::size_t i) {
  while (i < s.size() && is_name_char(s[i])) ++i;
  return i;
}

void add_literal(std::vector<TemplatePart>& parts, std::string_view text, std::size_t offset) {
  if (text.empty()) return;
  if (!parts.empty() && !parts.back().placeholder)
    parts.back().text.append(text);
  else
    parts.push_back({false, std::string(text), offset});
}

constexpr char hex_digits[] = "0123456789ABCDEF";

// Bytes a URI never holds as they are (RFC 3986 §2: outside reserved and unreserved).
constexpr bool uri_forbidden(unsigned char c) {
  return c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\' || c == '^' ||
         c == '`' || c == '{' || c == '|' || c == '}';
}

bool must_encode(unsigned char c, UriContext context) {
  if (uri_forbidden(c)) return true;
  switch (context) {
    case UriContext::text:
      return false;
    case UriContext::segment:
      return c == '%' || c == '?' || c == '#' || c == '[' || c == ']' || c == '/';
    case UriContext::path:
      return c == '%' || c == '?' || c == '#' || c == '[' || c == ']';
    case UriContext::query:
      return c == '%' || c == '#' || c == '[' || c == ']' || c == '&' || c == '+' || c == '=';
  }
  return true;
}

}  // namespace

std::vector<RouteParam> route_params(std::string_view path) {
  std::vector<RouteParam> out;
  std::size_t i = 0;
  while (i < path.size()) {
    std::size_t slash = path.find('/', i);
    std::string_view seg = path.substr(i, slash == std::string_view::npos ? slash : slash - i);
    if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}')
      out.push_back({std::string(seg.substr(1, seg.size() - 2)), false});
    else if (seg.size() >= 2 && seg.front() == '*')
      out.push_back({std::string(seg.substr(1)), true});
    if (slash == std::string_view::npos) break;
    i = slash + 1;
  }
  return out;
}

std::vector<TemplatePart> parse_template(std::string_view text) {
  std::vector<TemplatePart> parts;
  std::size_t literal_start = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '{') {
      ++i;
      continue;
    }
    // "{{name}": the text "{name}" (drop the first brace, keep the rest as literal).
    if (i + 1 < text.size() && text[i + 1] == '{') {
      std::size_t end = name_end(text, i + 2);
      if (end > i + 2 && end < text.size() && text[end] == '}') {
        add_literal(parts, text.substr(literal_start, i - literal_start), literal_start);
        add_literal(parts, text.substr(i + 1, end - i), i);
        i = literal_start = end + 1;
        continue;
      }
    }
    std::size_t end = name_end(text, i + 1);
    if (end > i + 1 && end < text.size() && text[end] == '}') {
      add_literal(parts, text.substr(literal_start, i - literal_start), literal_start);
      parts.push_back({true, std::string(text.substr(i + 1, end - i - 1)), i});
      i = literal_start = end + 1;
      continue;
    }
    ++i;
  }
  add_literal(parts, text.substr(literal_start), literal_start);
  return parts;
}

BodyEscape body_escape_for(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  type = base::trim_ows(type);
  auto ends_with = [&](std::string_view suffix) {
    return type.size() >= suffix.size() &&
           base::iequals(type.substr(type.size() - suffix.size()), suffix);
  };
  if (base::iequals(type, "text/html") || base::iequals(type, "text/xml") ||
      base::iequals(type, "application/xml") || ends_with("+xml"))
    return BodyEscape::html;
  if (base::iequals(type, "application/json") || ends_with("+json")) return BodyEscape::json;
  return BodyEscape::raw;
}

void append_html_escaped(std::string& out, std::string_view s) {
  std::size_t run = 0;  // start of the bytes not yet copied
  for (std::size_t i = 0; i < s.size(); ++i) {
    std::string_view ref;
    switch (s[i]) {
      case '&':
        ref = "&amp;";
        break;
      case '<':
        ref = "&lt;";
        break;
      case '>':
        ref = "&gt;";
        break;
      case '"':
        ref = "&quot;";
        break;
      case '\'':
        ref = "&#39;";
        break;
      default:
        continue;
    }
    out.append(s.substr(run, i - run)).append(ref);
    run = i + 1;
  }
  out.append(s.substr(run));
}

void append_json_escaped(std::string& out, std::string_view s) {
  std::size_t run = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      std::size_t n = base::utf8_sequence_length(s, i);
      if (n) {
        i += n;
        continue;
      }
      out.append(s.substr(run, i - run)).append("\\ufffd");
      run = ++i;
      continue;
    }
    if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) {
      ++i;
      continue;
    }
    out.append(s.substr(run, i - run));
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      default: {
        const char u[6] = {'\\', 'u', '0', '0', hex_digits[c >> 4], hex_digits[c & 0xf]};
        out.append(u, sizeof u);
      }
    }
    run = ++i;
  }
  out.append(s.substr(run));
}

void append_escaped(std::string& out, std::string_view s, BodyEscape escape) {
  switch (escape) {
    case BodyEscape::raw:
      out.append(s);
      return;
    case BodyEscape::html:
      append_html_escaped(out, s);
      return;
    case BodyEscape::json:
      append_json_escaped(out, s);
      return;
  }
}

void append_uri_encoded(std::string& out, std::string_view s, UriContext context) {
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (!must_encode(c, context)) continue;
    const char pct[3] = {'%', hex_digits[c >> 4], hex_digits[c & 0xf]};
    out.append(s.substr(run, i - run)).append(pct, sizeof pct);
    run = i + 1;
  }
  out.append(s.substr(run));
}

}  // namespace lithe::handlers
