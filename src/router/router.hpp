// A trie of path segments mapping (method, path) to a route index. No I/O and no allocation
// while matching: params are views into the matched path, written into a caller's array.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/method.hpp"
#include "http/path_param.hpp"

namespace lithe::router {

using Param = http::RawParam;
using http::max_params;

struct Match {
  enum class Status : uint8_t { found, not_found, method_not_allowed };
  Status status = Status::not_found;
  uint32_t route = 0;               // the route's id when found
  base::MethodMask allowed = 0;     // every method accepted at this path (found or 405)
  uint8_t param_count = 0;          // params written when found
};

class Router {
 public:
  Router();
  ~Router();
  Router(Router&&) noexcept;
  Router& operator=(Router&&) noexcept;

  // Adds a route. pattern: "/" then segments; "{name}" is one whole segment, "*name" the rest
  // of the path (last segment only). methods: a mask; base::all_methods for "any".
  // GET implies HEAD unless another route at the same pattern names HEAD itself.
  // Returns "" on success, else why the route was refused (bad pattern, duplicate method).
  std::string add(std::string_view pattern, base::MethodMask methods, uint32_t route);

  // Finds the route for a request path (no query). Precedence per segment: exact, then
  // {param}, then *rest, backtracking when a branch fails. params needs max_params slots.
  Match match(base::Method method, std::string_view path, Param* params) const;

  // Every method that some route accepts (for OPTIONS *).
  base::MethodMask all_allowed() const;

 private:
  struct Node;
  std::unique_ptr<Node> root_;
};

}  // namespace lithe::router
