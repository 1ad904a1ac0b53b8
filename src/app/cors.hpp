// The built-in CORS middleware (a route's `cors` table): it answers browsers' preflight
// requests itself and marks responses to allowed origins, so a page on another origin may read
// them. Everything that does not depend on the request is rendered once, at load.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/method.hpp"
#include "lithe/config.hpp"
#include "lithe/request.hpp"
#include "lithe/response.hpp"

namespace lithe::app {

class Cors {
 public:
  // route_methods: what the route accepts, announced when cfg lists no methods.
  Cors(const CorsConfig& cfg, base::MethodMask route_methods);

  // A preflight: OPTIONS with Origin and Access-Control-Request-Method.
  static bool is_preflight(const Request& req);
  // Answers a preflight from an allowed origin: 204 with the methods, headers and max age
  // allowed. False for any other origin, whose OPTIONS is then answered as usual.
  bool answer_preflight(const Request& req, Response& res) const;
  // On every response of the route: Access-Control-Allow-Origin (and -Credentials) for an
  // allowed origin, and Vary: Origin when the answer depends on it.
  void mark(const Request& req, Response& res) const;

 private:
  bool allows(std::string_view origin) const;

  std::vector<std::string> origins_;
  bool any_origin_ = false;  // "*": no Vary, and "*" as the allowed origin
  bool credentials_ = false;
  std::string methods_;  // Access-Control-Allow-Methods
  std::string headers_;  // Access-Control-Allow-Headers; "" = the preflight's own list
  std::string max_age_;  // Access-Control-Max-Age, in seconds
};

}  // namespace lithe::app
