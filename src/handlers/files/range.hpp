// Range requests (RFC 9110 §14): one `bytes=` range of a file, honoured only while If-Range
// names the representation the client already holds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lithe/request.hpp"

namespace lithe::handlers::files {

struct ByteRange {
  enum class Kind : uint8_t { none, satisfiable, unsatisfiable };
  Kind kind = Kind::none;
  uint64_t first = 0;
  uint64_t last = 0;  // inclusive
};

// One `bytes=` range (§14.1.2) of a representation of size bytes. Several ranges, another unit
// or bad syntax: none, so the whole file is sent with 200, which the RFC allows.
ByteRange parse_range(std::string_view value, uint64_t size);

// The request's Range, kept only if its If-Range (if any) matches etag or the modification
// time exactly (§13.1.5).
ByteRange requested_range(const lithe::Request& req, uint64_t size, std::string_view etag,
                          int64_t modified);

// Room for "bytes " + two 20-digit numbers, '-', '/' and the size.
inline constexpr std::size_t content_range_size = 80;
// The Content-Range value: "bytes FIRST-LAST/SIZE", or "bytes */SIZE" for an unsatisfiable
// range; written into out (content_range_size bytes).
std::string_view content_range(const ByteRange& range, uint64_t size, char* out);

}  // namespace lithe::handlers::files
