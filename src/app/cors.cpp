#include "app/cors.hpp"

#include <algorithm>

#include "app/snapshot.hpp"
#include "base/text.hpp"

namespace lithe::app {

namespace {

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && base::iequals(s.substr(0, prefix.size()), prefix);
}

bool iends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && base::iequals(s.substr(s.size() - suffix.size()), suffix);
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace

Cors::Cors(const CorsConfig& cfg, base::MethodMask route_methods)
    : origins_(cfg.origins),
      any_origin_(std::find(cfg.origins.begin(), cfg.origins.end(), "*") != cfg.origins.end()),
      credentials_(cfg.credentials),
      methods_(cfg.methods.empty() ? allow_value(route_methods) : join(cfg.methods)),
      headers_(join(cfg.headers)),
      max_age_(std::to_string(cfg.max_age.count())) {}

bool Cors::is_preflight(const Request& req) {
  return req.method() == "OPTIONS" && req.has_header("origin") &&
         req.has_header("access-control-request-method");
}

// An origin as listed (ASCII case aside), or under a "scheme://*.domain" entry: a host with
// at least one more label, and nothing after the domain but its own port.
bool Cors::allows(std::string_view origin) const {
  if (any_origin_) return true;
  for (const std::string& allowed : origins_) {
    const std::size_t star = allowed.find("://*.");
    if (star == std::string::npos) {
      if (base::iequals(allowed, origin)) return true;
      continue;
    }
    const std::string_view prefix = std::string_view(allowed).substr(0, star + 3);  // "https://"
    const std::string_view suffix = std::string_view(allowed).substr(star + 4);     // ".a.example"
    if (origin.size() > prefix.size() + suffix.size() && istarts_with(origin, prefix) &&
        iends_with(origin, suffix)) {
      const std::string_view host =
          origin.substr(prefix.size(), origin.size() - prefix.size() - suffix.size());
      if (host.find_first_of("/:@") == std::string_view::npos) return true;
    }
  }
  return false;
}

bool Cors::answer_preflight(const Request& req, Response& res) const {
  if (!allows(req.header("origin"))) return false;
  res.status(204);
  res.header("Access-Control-Allow-Methods", methods_);
  if (!headers_.empty()) {
    res.header("Access-Control-Allow-Headers", headers_);
  } else if (const std::string_view asked = req.header("access-control-request-headers");
             !asked.empty()) {
    res.header("Access-Control-Allow-Headers", asked);
    res.header("Vary", "Access-Control-Request-Headers");
  }
  res.header("Access-Control-Max-Age", max_age_);
  return true;
}

void Cors::mark(const Request& req, Response& res) const {
  const std::string_view origin = req.header("origin");
  if (!any_origin_) res.header("Vary", "Origin");
  if (origin.empty() || !allows(origin)) return;
  res.header("Access-Control-Allow-Origin", any_origin_ ? std::string_view("*") : origin);
  if (credentials_) res.header("Access-Control-Allow-Credentials", "true");
}

}  // namespace lithe::app
