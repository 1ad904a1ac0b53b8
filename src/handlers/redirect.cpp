// `redirect`: a status, a Location and a one-line body. A location without placeholders is
// rendered once at load; {name} takes a path parameter and {query} the raw query string.
#include <algorithm>

#include "handlers/encoded.hpp"
#include "handlers/handler.hpp"
#include "handlers/template.hpp"

namespace lithe::handlers {

namespace {

constexpr std::string_view body_prefix = "Redirecting to ";
constexpr std::string_view content_type = "text/plain; charset=utf-8";

struct Piece {
  enum class Kind : uint8_t { literal, param, query };
  Kind kind = Kind::literal;
  std::string text;  // literal bytes (already encoded), or the parameter's name
  UriContext context = UriContext::text;
};

class RedirectHandler final : public Handler {
 public:
  RedirectHandler(uint16_t status, std::vector<Piece> pieces)
      : status_(status), pieces_(std::move(pieces)) {}

  void handle(const lithe::Request& req, lithe::Response& res) override {
    // Body and location share one reused buffer (no heap once it has grown); header() and
    // text() copy them into the request's arena.
    thread_local std::string buf;
    buf.assign(body_prefix);
    for (std::size_t i = 0; i < pieces_.size(); ++i) {
      const Piece& piece = pieces_[i];
      switch (piece.kind) {
        case Piece::Kind::literal:
          buf.append(piece.text);
          break;
        case Piece::Kind::param:
          append_uri_encoded(buf, req.param(piece.text), piece.context);
          break;
        case Piece::Kind::query:
          if (!req.query().empty()) {
            append_uri_encoded(buf, req.query(), UriContext::text);
          } else if (dangles(buf, i)) {
            buf.pop_back();  // "/new?{query}" without a query is "/new", not "/new?"
          }
          break;
      }
    }
    const std::string_view location(buf.data() + body_prefix.size(),
                                    buf.size() - body_prefix.size());
    res.status(status_);
    res.header("Location", location);
    buf.push_back('\n');
    res.text(buf, content_type);
  }

 private:
  // Would the '?' or '&' just written be left at the end of the query by an empty {query}?
  bool dangles(const std::string& buf, std::size_t i) const {
    if (buf.size() <= body_prefix.size() || (buf.back() != '?' && buf.back() != '&')) return false;
    if (i + 1 == pieces_.size()) return true;
    const Piece& next = pieces_[i + 1];
    return next.kind == Piece::Kind::literal && next.text.front() == '#';
  }

  uint16_t status_;
  std::vector<Piece> pieces_;
};

class FixedRedirect final : public Handler {
 public:
  explicit FixedRedirect(EncodedResponse response) : response_(std::move(response)) {}
  void handle(const lithe::Request& req, lithe::Response& res) override {
    response_.answer(req, res);
  }

 private:
  EncodedResponse response_;
};

uint16_t read_redirect_status(Options& o) {
  const Value* v = o.get("status");
  if (!v) return 302;
  if (v->kind == Value::Kind::integer) {
    for (int64_t code : {301, 302, 303, 307, 308})
      if (v->integer == code) return static_cast<uint16_t>(code);
  }
  o.error(v->pos, "route option 'status' of a redirect must be 301, 302, 303, 307 or 308");
  return 302;
}

}  // namespace

std::unique_ptr<Handler> make_redirect(BuildContext& ctx) {
  Options& o = ctx.options;
  const uint16_t status = read_redirect_status(o);
  const Value* location = o.get("location");
  std::string text;
  if (!location) {
    o.error("handler 'redirect' needs a 'location' option");
  } else if (location->kind != Value::Kind::string) {
    o.error(location->pos, "route option 'location' must be a string");
  } else if (location->string.empty()) {
    o.error(location->pos, "route option 'location' must not be empty");
  } else {
    text = location->string;
  }
  o.finish();

  const std::vector<RouteParam> params = route_params(o.route().path);
  std::vector<Piece> pieces;
  bool in_query = false;  // past a literal '?' or '#': values there are encoded for a query
  for (TemplatePart& part : parse_template(text)) {
    if (!part.placeholder) {
      Piece piece{Piece::Kind::literal, {}, UriContext::text};
      append_uri_encoded(piece.text, part.text, UriContext::text);
      in_query = in_query || part.text.find_first_of("?#") != std::string::npos;
      pieces.push_back(std::move(piece));
      continue;
    }
    auto param = std::find_if(params.begin(), params.end(),
                              [&](const RouteParam& p) { return p.name == part.text; });
    if (part.text == "query") {
      if (param != params.end())
        o.error(location->pos,
                "'{query}' in 'location' is ambiguous: the route path has a "
                "parameter named 'query' too");
      pieces.push_back({Piece::Kind::query, {}, UriContext::text});
    } else if (param == params.end()) {
      o.error(location->pos, "placeholder '{" + part.text +
                                 "}' in 'location' names no parameter "
                                 "of route path '" +
                                 o.route().path + "' (nor '{query}')");
    } else {
      UriContext context = in_query      ? UriContext::query
                           : param->rest ? UriContext::path
                                         : UriContext::segment;
      pieces.push_back({Piece::Kind::param, std::move(part.text), context});
    }
  }

  if (pieces.size() <= 1 && (pieces.empty() || pieces.front().kind == Piece::Kind::literal)) {
    std::string fixed = pieces.empty() ? std::string() : std::move(pieces.front().text);
    std::string body = std::string(body_prefix) + fixed + "\n";
    return std::make_unique<FixedRedirect>(EncodedResponse(o, status, content_type, std::move(body),
                                                           {{"Location", std::move(fixed)}}));
  }
  return std::make_unique<RedirectHandler>(status, std::move(pieces));
}

}  // namespace lithe::handlers
