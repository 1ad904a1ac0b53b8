#include "handlers/files/range.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "base/http_date.hpp"
#include "base/text.hpp"

namespace lithe::handlers::files {

namespace {
bool parse_u64(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}
}  // namespace

ByteRange parse_range(std::string_view value, uint64_t size) {
  value = base::trim_ows(value);
  if (value.size() < 6 || !base::iequals(value.substr(0, 6), "bytes=")) return {};
  std::string_view spec = base::trim_ows(value.substr(6));
  if (spec.find(',') != std::string_view::npos) return {};
  std::size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return {};
  std::string_view a = spec.substr(0, dash), b = spec.substr(dash + 1);
  uint64_t first = 0, last = 0;
  if (a.empty()) {  // -n: the last n bytes
    if (!parse_u64(b, last)) return {};
    if (last == 0 || size == 0) return {ByteRange::Kind::unsatisfiable};
    return {ByteRange::Kind::satisfiable, size - std::min(last, size), size - 1};
  }
  if (!parse_u64(a, first)) return {};
  if (b.empty()) {
    last = UINT64_MAX;
  } else if (!parse_u64(b, last) || last < first) {
    return {};
  }
  if (first >= size) return {ByteRange::Kind::unsatisfiable};
  return {ByteRange::Kind::satisfiable, first, std::min(last, size - 1)};
}

ByteRange requested_range(const lithe::Request& req, uint64_t size, std::string_view etag,
                          int64_t modified) {
  const std::string_view field = req.header("Range");
  if (field.empty()) return {};
  const ByteRange range = parse_range(field, size);
  const std::string_view if_range = base::trim_ows(req.header("If-Range"));
  if (range.kind == ByteRange::Kind::none || if_range.empty()) return range;
  bool same = false;
  if (if_range.front() == '"') {
    same = if_range == etag;
  } else if (auto date = base::parse_http_date(if_range); date) {
    same = *date == modified;
  }
  return same ? range : ByteRange{};
}

std::string_view content_range(const ByteRange& range, uint64_t size, char* out) {
  char* const limit = out + content_range_size;
  char* p = out;
  std::memcpy(p, "bytes ", 6);
  p += 6;
  if (range.kind == ByteRange::Kind::satisfiable) {
    p = std::to_chars(p, limit, range.first).ptr;
    *p++ = '-';
    p = std::to_chars(p, limit, range.last).ptr;
  } else {
    *p++ = '*';
  }
  *p++ = '/';
  p = std::to_chars(p, limit, size).ptr;
  return {out, static_cast<std::size_t>(p - out)};
}

}  // namespace lithe::handlers::files
