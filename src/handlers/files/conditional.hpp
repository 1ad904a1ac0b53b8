// Conditional requests (RFC 9110 §13): the If-* fields checked against a file's validators,
// a strong entity tag and a modification time, in the order of §13.2.2.
#pragma once

#include <cstdint>
#include <string_view>

#include "lithe/request.hpp"

namespace lithe::handlers::files {

// Weak comparison (§8.8.3.2) of our strong tag against an If-None-Match list.
bool none_match(std::string_view list, std::string_view etag);
// Strong comparison against an If-Match list.
bool strong_match(std::string_view list, std::string_view etag);

enum class Precondition : uint8_t {
  proceed,       // answer as if unconditional
  not_modified,  // 304
  failed,        // 412
};

// Several header lines of one list all count. modified: seconds since the epoch, no later
// than now.
Precondition evaluate_preconditions(const lithe::Request& req, std::string_view etag,
                                    int64_t modified);

}  // namespace lithe::handlers::files
