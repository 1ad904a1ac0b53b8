// Shared inputs of the micro-benchmarks: sample requests and a 200-route API-like table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/method.hpp"
#include "http/exchange.hpp"
#include "router/router.hpp"

namespace lithe::bench {

// What wrk sends by default (plus the keep-alive it implies with HTTP/1.1).
inline constexpr std::string_view wrk_request =
    "GET /plaintext HTTP/1.1\r\n"
    "Host: localhost:8080\r\n"
    "\r\n";

// A browser navigation: 12 header fields, ~700 bytes.
inline constexpr std::string_view browser_request =
    "GET /api/v1/users/12345/tags/featured?page=2&sort=desc HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "Connection: keep-alive\r\n"
    "Cache-Control: max-age=0\r\n"
    "sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n"
    "sec-ch-ua-mobile: ?0\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Accept-Language: en-US,en;q=0.9,fr;q=0.8\r\n"
    "Cookie: session=3f2a9c1b7e6d4a0f8b5c2e1d9a7f6b3c; theme=dark; "
    "_ga=GA1.1.123456789.1700000000\r\n"
    "\r\n";

// 100 header fields (Host + 99 others) of ~160 bytes each: ~16 KiB, the default header_section.
inline std::string large_request() {
  std::string r = "GET /plaintext HTTP/1.1\r\nHost: localhost:8080\r\n";
  for (int i = 1; i < 100; ++i) {
    std::string name = "X-Custom-Header-" + std::to_string(i);
    std::string value(136, 'v');
    for (std::size_t j = 0; j < value.size(); ++j) value[j] = static_cast<char>('a' + (i + j) % 26);
    r += name + ": " + value + "\r\n";
  }
  r += "\r\n";
  return r;
}

// Starts a keep-alive stream on ex with the default parser limits. The parser's start() gained a
// ParserLimits argument with the SPEC §4 checks; this compiles against either signature.
template <class E>
void start_stream(E& ex) {
  if constexpr (requires { ex.parser.start(ex.request); })
    ex.parser.start(ex.request);
  else
    ex.parser.start(ex.request, {});
}

struct RouteSpec {
  std::string pattern;
  base::MethodMask methods;
};

// 200 routes: 12 exact site routes, 4 wildcard trees, and 23 REST resources of 8 routes each
// (collection, /search, /{id}, three sub-collections, /tags/{tag}, /attachments/*path).
inline std::vector<RouteSpec> api_routes() {
  using base::mask_of;
  using base::Method;
  const base::MethodMask get = mask_of(Method::GET);
  const base::MethodMask get_post = get | mask_of(Method::POST);
  const base::MethodMask item =
      get | mask_of(Method::PUT) | mask_of(Method::PATCH) | mask_of(Method::DELETE_);
  std::vector<RouteSpec> r;
  for (const char* p : {"/", "/plaintext", "/json", "/health", "/metrics", "/login", "/logout",
                        "/signup", "/about", "/robots.txt", "/favicon.ico", "/sitemap.xml"})
    r.push_back({p, get});
  for (const char* p : {"/static/*path", "/assets/*path", "/docs/*page", "/api/v1/files/*path"})
    r.push_back({p, get});
  for (const char* res :
       {"users", "orders", "products", "customers", "invoices", "payments", "shipments", "carts",
        "reviews", "categories", "brands", "suppliers", "warehouses", "inventory", "coupons",
        "discounts", "sessions", "tokens", "teams", "projects", "tasks", "webhooks", "events"}) {
    std::string base = std::string("/api/v1/") + res;
    r.push_back({base, get_post});
    r.push_back({base + "/search", get});
    r.push_back({base + "/{id}", item});
    r.push_back({base + "/{id}/comments", get_post});
    r.push_back({base + "/{id}/history", get});
    r.push_back({base + "/{id}/members", get_post});
    r.push_back({base + "/{id}/tags/{tag}", get | mask_of(Method::PUT) | mask_of(Method::DELETE_)});
    r.push_back({base + "/{id}/attachments/*path", get});
  }
  return r;
}

// The routes of configs/default.toml.
inline std::vector<RouteSpec> default_routes() {
  const base::MethodMask get = base::mask_of(base::Method::GET);
  return {{"/", get}, {"/plaintext", get}, {"/json", get}, {"/health", get}};
}

// Builds a router; returns false (and leaves why in error) if a route is refused.
inline bool build_router(const std::vector<RouteSpec>& specs, router::Router& out,
                         std::string& error) {
  for (std::size_t i = 0; i < specs.size(); ++i) {
    error = out.add(specs[i].pattern, specs[i].methods, static_cast<uint32_t>(i));
    if (!error.empty()) return false;
  }
  return true;
}

}  // namespace lithe::bench
