// A path parameter as the router finds it: the name from the route's pattern and the raw (still
// percent-encoded) bytes of the path. The request decodes the ones a handler reads.
#pragma once

#include <cstddef>
#include <string_view>

namespace lithe::http {

struct RawParam {
  std::string_view name;
  std::string_view value;
};

// The most parameters one route pattern may have.
inline constexpr std::size_t max_params = 16;

}  // namespace lithe::http
