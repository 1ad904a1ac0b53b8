// Placeholder templates for `static` bodies and `redirect` locations, and the escapers their
// values go through. Templates are split once at load; the escapers append to a caller's buffer
// and allocate only when that buffer must grow (a reused buffer stops growing).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lithe::handlers {

// A parameter of a route path: a {name} segment, or the *name tail (rest = true).
struct RouteParam {
  std::string name;
  bool rest = false;
};

// The parameters a route path declares, in order.
std::vector<RouteParam> route_params(std::string_view path);

// One piece of a template: literal bytes or a placeholder's name.
struct TemplatePart {
  bool placeholder = false;
  std::string text;        // literal bytes, or the placeholder's name
  std::size_t offset = 0;  // where the part starts in the template text
};

// Splits a template. A placeholder is `{name}` with name made of [A-Za-z0-9_] (what a route
// parameter name may use), so `{"a": 1}` or `{ x }` stay text. `{{name}` is the literal text
// `{name}`; every other brace, `{{` included, is copied as it is. Adjacent literals are merged.
std::vector<TemplatePart> parse_template(std::string_view text);

// How a value is escaped for the body it lands in.
enum class BodyEscape : uint8_t {
  raw,   // any other content type
  html,  // text/html, XML types: & < > " '
  json,  // application/json, */*+json: JSON string content, without the quotes
};

// The escape for a Content-Type value (parameters such as charset are ignored).
BodyEscape body_escape_for(std::string_view content_type);

// & < > " ' as character references.
void append_html_escaped(std::string& out, std::string_view s);
// JSON string content without the quotes: " \ and control characters escaped; a byte that is not
// part of valid UTF-8 becomes \ufffd, so the output is always valid JSON.
void append_json_escaped(std::string& out, std::string_view s);
void append_escaped(std::string& out, std::string_view s, BodyEscape escape);

// Where a value goes in a URI, which decides what is percent-encoded (as %XX, upper case).
enum class UriContext : uint8_t {
  text,     // config text, a raw query: only bytes a URI never holds (controls, space,
            // non-ASCII, " < > \ ^ ` { | }); '%' is kept (it is already an escape)
  segment,  // a decoded {name} in the path: also % ? # [ ] and /
  path,     // a decoded *name in the path: also % ? # [ ] ('/' separates its segments)
  query,    // a decoded value after '?' or '#': also % # [ ] & + =
};
void append_uri_encoded(std::string& out, std::string_view s, UriContext context);

}  // namespace lithe::handlers
