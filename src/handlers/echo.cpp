// `echo`: the request back, as its body, its header lines, or a JSON description whose "body"
// is the request body parsed with simdjson On-Demand and re-emitted compactly.
#include <simdjson.h>

#include <charconv>

#include "base/text.hpp"
#include "handlers/handler.hpp"
#include "handlers/template.hpp"
#include "http/request.hpp"

namespace lithe::handlers {

namespace {

namespace od = simdjson::ondemand;

constexpr std::string_view text_plain = "text/plain; charset=utf-8";
// Nesting beyond this is refused: the walk recurses once per level.
constexpr int max_json_depth = 64;
constexpr std::string_view too_deep = "too deep: more than 64 nested arrays and objects";

enum class Mode : uint8_t { body, headers, json };

// A reused per-thread buffer: once grown to the largest response, rendering allocates nothing.
std::string& scratch() {
  thread_local std::string buf;
  buf.clear();
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Locating a parse error. simdjson reports where its iterator stands, which is exact for most
// errors; the rest (stage-1 errors found before any iteration, and the root checks that compare
// the first and last brackets) are located here with a plain scan of the body.

struct Failure {
  simdjson::error_code code = simdjson::SUCCESS;
  std::size_t offset = 0;
};

constexpr bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::size_t skip_ws(std::string_view s, std::size_t i) {
  while (i < s.size() && is_ws(s[i])) ++i;
  return i;
}

// One past the closing quote of the string opening at s[i], or npos.
std::size_t string_end(std::string_view s, std::size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\')
      ++i;
    else if (s[i] == '"')
      return i + 1;
  }
  return std::string_view::npos;
}

// Where the root value has a problem that shows from its brackets alone: it never closes, a
// bracket closes the wrong kind, or something follows it. SUCCESS when none of these.
Failure root_problem(std::string_view s) {
  std::size_t i = skip_ws(s, 0);
  if (i == s.size()) return {simdjson::EMPTY, i};
  std::size_t end = i;
  if (s[i] == '"') {
    end = string_end(s, i);
    if (end == std::string_view::npos) return {simdjson::UNCLOSED_STRING, i};
  } else if (s[i] == '[' || s[i] == '{') {
    char open[max_json_depth + 1];  // bracket kinds, checked as deep as the walk goes
    std::size_t depth = 0;
    for (end = i; end < s.size(); ++end) {
      const char c = s[end];
      if (c == '"') {
        std::size_t close = string_end(s, end);
        if (close == std::string_view::npos) return {simdjson::UNCLOSED_STRING, end};
        end = close - 1;
      } else if (c == '[' || c == '{') {
        if (depth < sizeof open) open[depth] = c;
        ++depth;
      } else if (c == ']' || c == '}') {
        --depth;
        if (depth < sizeof open && open[depth] != (c == ']' ? '[' : '{'))
          return {simdjson::TAPE_ERROR, end};
        if (depth == 0) break;
      }
    }
    if (end == s.size()) return {simdjson::INCOMPLETE_ARRAY_OR_OBJECT, s.size()};
    ++end;
  } else {
    while (end < s.size() && !is_ws(s[end]) &&
           std::string_view("[]{},:\"").find(s[end]) == std::string_view::npos)
      ++end;
  }
  std::size_t after = skip_ws(s, end);
  if (after < s.size()) return {simdjson::TRAILING_CONTENT, after};
  return {};
}

// The first string with a raw control byte (its offset) or no closing quote (its opening quote).
Failure string_problem(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '"') continue;
    const std::size_t open = i;
    for (++i;; ++i) {
      if (i >= s.size()) return {simdjson::UNCLOSED_STRING, open};
      const auto c = static_cast<unsigned char>(s[i]);
      if (c < 0x20) return {simdjson::UNESCAPED_CHARS, i};
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        break;
      }
    }
  }
  return {};
}

std::size_t first_invalid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = base::utf8_sequence_length(s, i);
    if (!n) return i;
    i += n;
  }
  return 0;
}

unsigned hex4(std::string_view s, std::size_t i) {
  unsigned v = 0;
  for (std::size_t k = i; k < i + 4; ++k) {
    v = v * 16 + static_cast<unsigned>(base::hex_value(s[k]));
  }
  return v;
}

// The backslash of the first bad escape in the string opening at s[open] (open when none).
std::size_t bad_escape(std::string_view s, std::size_t open) {
  auto is_u = [&](std::size_t i) {
    return i + 6 <= s.size() && s[i] == '\\' && s[i + 1] == 'u' && base::is_hex(s[i + 2]) &&
           base::is_hex(s[i + 3]) && base::is_hex(s[i + 4]) && base::is_hex(s[i + 5]);
  };
  for (std::size_t i = open + 1; i < s.size() && s[i] != '"'; ++i) {
    if (s[i] != '\\') continue;
    if (i + 1 >= s.size()) return i;
    if (std::string_view("\"\\/bfnrt").find(s[i + 1]) != std::string_view::npos) {
      ++i;
      continue;
    }
    if (!is_u(i)) return i;
    const unsigned u = hex4(s, i + 2);
    if (u >= 0xdc00 && u <= 0xdfff) return i;  // a low surrogate alone
    if (u >= 0xd800 && u <= 0xdbff) {          // a high one needs its low half next
      if (!is_u(i + 6)) return i;
      const unsigned low = hex4(s, i + 8);
      if (low < 0xdc00 || low > 0xdfff) return i;
      i += 6;
    }
    i += 5;
  }
  return open;
}

// ---------------------------------------------------------------------------------------------
// Re-emitting: walks the document depth first and appends compact JSON to out.

class Reemitter {
 public:
  Reemitter(std::string_view body, od::document& doc, std::string& out)
      : body_(body), doc_(doc), out_(out) {}

  bool run() {
    if (!value(doc_, 1)) return false;
    auto rest = doc_.current_location();  // an error here means the iterator reached the end
    if (!rest.error()) return fail(simdjson::TRAILING_CONTENT, offset(rest.value_unsafe()));
    return true;
  }

  Failure failure;

 private:
  std::size_t offset(const char* p) const { return static_cast<std::size_t>(p - body_.data()); }

  // Where the iterator stands (the end of the body when it is past everything).
  std::size_t here() {
    auto loc = doc_.current_location();
    return loc.error() ? body_.size() : offset(loc.value_unsafe());
  }

  bool fail(simdjson::error_code code, std::size_t at) {
    failure = {code, at};
    return false;
  }

  // Errors whose position simdjson knows only roughly get the scan's answer.
  bool fail_here(simdjson::error_code code) {
    if (code == simdjson::INCOMPLETE_ARRAY_OR_OBJECT || code == simdjson::TRAILING_CONTENT) {
      Failure f = root_problem(body_);
      if (f.code != simdjson::SUCCESS) return fail(f.code, f.offset);
    }
    return fail(code, here());
  }

  std::size_t start(od::value& v) { return offset(v.raw_json_token().data()); }
  std::size_t start(od::document&) { return skip_ws(body_, 0); }

  static std::string_view raw_token(od::value& v) { return v.raw_json_token(); }
  static std::string_view raw_token(od::document& d) {
    std::string_view t;
    return d.raw_json_token().get(t) ? std::string_view() : t;
  }

  template <class V>
  bool value(V& v, int depth) {
    od::json_type type;
    if (auto e = v.type().get(type)) return fail_here(e);
    const std::size_t at = start(v);
    switch (type) {
      case od::json_type::array: {
        if (depth > max_json_depth) return fail(simdjson::DEPTH_ERROR, at);
        od::array array;
        if (auto e = v.get_array().get(array)) return fail_here(e);
        out_.push_back('[');
        bool first = true;
        for (auto element : array) {
          od::value item;
          if (auto e = std::move(element).get(item)) return fail_here(e);
          if (!first) out_.push_back(',');
          first = false;
          if (!value(item, depth + 1)) return false;
        }
        out_.push_back(']');
        return true;
      }
      case od::json_type::object: {
        if (depth > max_json_depth) return fail(simdjson::DEPTH_ERROR, at);
        od::object object;
        if (auto e = v.get_object().get(object)) return fail_here(e);
        out_.push_back('{');
        bool first = true;
        for (auto result : object) {
          od::field field;
          if (auto e = std::move(result).get(field)) return fail_here(e);
          const std::size_t key_at = offset(field.key().raw()) - 1;  // its opening quote
          std::string_view key;
          if (auto e = field.unescaped_key().get(key)) return string_failure(e, key_at);
          if (!first) out_.push_back(',');
          first = false;
          out_.push_back('"');
          append_json_escaped(out_, key);
          out_.append("\":");
          if (!value(field.value(), depth + 1)) return false;
        }
        out_.push_back('}');
        return true;
      }
      case od::json_type::string: {
        std::string_view s;
        if (auto e = v.get_string().get(s)) return string_failure(e, at);
        out_.push_back('"');
        append_json_escaped(out_, s);
        out_.push_back('"');
        return true;
      }
      case od::json_type::number: {
        od::number n;
        auto e = v.get_number().get(n);
        if (e == simdjson::NUMBER_ERROR) {
          double d;  // integers beyond 64 bits are still JSON numbers
          e = v.get_double().get(d);
        }
        if (e == simdjson::INCORRECT_TYPE) e = simdjson::NUMBER_ERROR;  // "-", "-x"
        if (e) return scalar_failure(e, at);
        std::string_view token = raw_token(v);  // validated above; ends at trailing spaces
        while (!token.empty() && is_ws(token.back())) token.remove_suffix(1);
        out_.append(token);
        return true;
      }
      case od::json_type::boolean: {
        bool b;
        auto e = v.get_bool().get(b);
        if (e == simdjson::INCORRECT_TYPE)
          e = body_[at] == 't' ? simdjson::T_ATOM_ERROR : simdjson::F_ATOM_ERROR;
        if (e) return scalar_failure(e, at);
        out_.append(b ? "true" : "false");
        return true;
      }
      case od::json_type::null: {
        bool null = false;
        auto e = v.is_null().get(null);
        if (!e && !null) e = simdjson::N_ATOM_ERROR;
        if (e == simdjson::INCORRECT_TYPE) e = simdjson::N_ATOM_ERROR;
        if (e) return scalar_failure(e, at);
        out_.append("null");
        return true;
      }
    }
    return fail(simdjson::INCORRECT_TYPE, at);
  }

  bool scalar_failure(simdjson::error_code e, std::size_t at) {
    if (e == simdjson::TRAILING_CONTENT) return fail_here(e);
    return fail(e, at);
  }

  bool string_failure(simdjson::error_code e, std::size_t open) {
    if (e == simdjson::STRING_ERROR) return fail(e, bad_escape(body_, open));
    return scalar_failure(e, open);
  }

  std::string_view body_;
  od::document& doc_;
  std::string& out_;
};

std::string_view error_name(simdjson::error_code e) {
  switch (e) {
    case simdjson::CAPACITY:
      return "CAPACITY";
    case simdjson::MEMALLOC:
      return "MEMALLOC";
    case simdjson::TAPE_ERROR:
      return "TAPE_ERROR";
    case simdjson::DEPTH_ERROR:
      return "DEPTH_ERROR";
    case simdjson::STRING_ERROR:
      return "STRING_ERROR";
    case simdjson::T_ATOM_ERROR:
      return "T_ATOM_ERROR";
    case simdjson::F_ATOM_ERROR:
      return "F_ATOM_ERROR";
    case simdjson::N_ATOM_ERROR:
      return "N_ATOM_ERROR";
    case simdjson::NUMBER_ERROR:
      return "NUMBER_ERROR";
    case simdjson::UTF8_ERROR:
      return "UTF8_ERROR";
    case simdjson::EMPTY:
      return "EMPTY";
    case simdjson::UNESCAPED_CHARS:
      return "UNESCAPED_CHARS";
    case simdjson::UNCLOSED_STRING:
      return "UNCLOSED_STRING";
    case simdjson::INCORRECT_TYPE:
      return "INCORRECT_TYPE";
    case simdjson::TRAILING_CONTENT:
      return "TRAILING_CONTENT";
    case simdjson::INCOMPLETE_ARRAY_OR_OBJECT:
      return "INCOMPLETE_ARRAY_OR_OBJECT";
    default:
      return "JSON_ERROR";
  }
}

// Offsets for errors found before iteration (stage 1 saw the whole body at once).
Failure locate_stage1(simdjson::error_code e, std::string_view body) {
  switch (e) {
    case simdjson::UTF8_ERROR:
      return {e, first_invalid_utf8(body)};
    case simdjson::UNCLOSED_STRING:
    case simdjson::UNESCAPED_CHARS: {
      Failure f = string_problem(body);
      return {e, f.code == e ? f.offset : 0};
    }
    default:
      return {e, 0};
  }
}

void append_number(std::string& out, std::size_t n) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  (void)ec;
  out.append(digits, static_cast<std::size_t>(end - digits));
}

void render_error(const Failure& f, std::string& out) {
  out.append("invalid JSON body at byte ");
  append_number(out, f.offset);
  out.append(": ");
  out.append(error_name(f.code)).append(": ");
  if (f.code == simdjson::DEPTH_ERROR)
    out.append(too_deep);
  else
    out.append(simdjson::error_message(f.code));
  out.push_back('\n');
}

// Appends the body re-emitted as compact JSON ("null" when empty); on failure out is left
// partial and the failure says what and where.
bool reemit_body(std::string_view body, std::string& out, Failure& failure) {
  if (body.empty()) {
    out.append("null");
    return true;
  }
  // One parser per worker thread: its buffers grow to the largest body seen, then stay.
  thread_local od::parser parser;
  static_assert(http::json_padding >= simdjson::SIMDJSON_PADDING);
  // The body buffer keeps SIMDJSON_PADDING readable bytes after the body: no copy.
  simdjson::padded_string_view in(body.data(), body.size(),
                                  body.size() + simdjson::SIMDJSON_PADDING);
  od::document doc;
  if (auto e = parser.iterate(in).get(doc)) {
    failure = locate_stage1(e, body);
    return false;
  }
  Reemitter walk(body, doc, out);
  if (walk.run()) return true;
  failure = walk.failure;
  return false;
}

void append_json_field(std::string& out, std::string_view name, std::string_view value) {
  out.push_back('"');
  out.append(name);
  out.append("\":\"");
  append_json_escaped(out, value);
  out.append("\",");
}

class EchoHandler final : public Handler {
 public:
  explicit EchoHandler(Mode mode) : mode_(mode) {}

  void handle(const lithe::Request& req, lithe::Response& res) override {
    switch (mode_) {
      case Mode::body: {
        std::string_view type = req.header("Content-Type");
        // text() copies into the arena: the body's own buffer is reused before the write.
        res.text(req.body(), type.empty() ? std::string_view("application/octet-stream") : type);
        return;
      }
      case Mode::headers: {
        std::string& out = scratch();
        for (const Header& h : req.headers())
          out.append(h.name).append(": ").append(h.value) += '\n';
        res.text(out, text_plain);
        return;
      }
      case Mode::json: {
        std::string& out = scratch();
        out.push_back('{');
        append_json_field(out, "method", req.method());
        append_json_field(out, "target", req.target());
        append_json_field(out, "path", req.path());
        append_json_field(out, "query", req.query());
        // [name, value] pairs: arrival order and repeated names survive, unlike in an object.
        out.append("\"headers\":[");
        bool first = true;
        for (const Header& h : req.headers()) {
          if (!first) out.push_back(',');
          first = false;
          out.append("[\"");
          append_json_escaped(out, h.name);
          out.append("\",\"");
          append_json_escaped(out, h.value);
          out.append("\"]");
        }
        out.append("],\"body\":");
        Failure failure;
        if (!reemit_body(req.body(), out, failure)) {
          out.clear();
          render_error(failure, out);
          res.status(400);
          res.text(out, text_plain);
          return;
        }
        out.push_back('}');
        res.json(out);
        return;
      }
    }
  }

 private:
  Mode mode_;
};

}  // namespace

std::unique_ptr<Handler> make_echo(BuildContext& ctx) {
  Options& o = ctx.options;
  Mode mode = Mode::body;
  if (const Value* v = o.get("mode")) {
    if (v->kind == Value::Kind::string && v->string == "body") {
      mode = Mode::body;
    } else if (v->kind == Value::Kind::string && v->string == "headers") {
      mode = Mode::headers;
    } else if (v->kind == Value::Kind::string && v->string == "json") {
      mode = Mode::json;
    } else {
      o.error(v->pos, "route option 'mode' of echo must be \"body\", \"headers\" or \"json\"");
    }
  }
  o.finish();
  return std::make_unique<EchoHandler>(mode);
}

}  // namespace lithe::handlers
