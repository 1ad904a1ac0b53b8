#include "handlers/files/conditional.hpp"

#include <optional>

#include "base/http_date.hpp"
#include "base/text.hpp"

namespace lithe::handlers::files {

namespace {
// The next member of an entity-tag list (RFC 9110 §8.8.3), taken off the front of list:
// `*`, or a tag with its quotes and whether it is weak. nullopt at the end of the list, and at
// a malformed member (where looking stops).
struct ListedTag {
  bool any = false;
  bool weak = false;
  std::string_view tag;
};
std::optional<ListedTag> next_tag(std::string_view& list) {
  while (!list.empty() && (list.front() == ' ' || list.front() == '\t' || list.front() == ','))
    list.remove_prefix(1);
  if (list.empty()) return std::nullopt;
  if (list.front() == '*') {
    list.remove_prefix(1);
    return ListedTag{true, false, {}};
  }
  ListedTag t;
  t.weak = list.substr(0, 2) == "W/";
  if (t.weak) list.remove_prefix(2);
  if (list.empty() || list.front() != '"') return std::nullopt;
  const std::size_t close = list.find('"', 1);
  if (close == std::string_view::npos) return std::nullopt;
  t.tag = list.substr(0, close + 1);
  list.remove_prefix(close + 1);
  return t;
}
}  // namespace

bool none_match(std::string_view list, std::string_view etag) {
  while (auto t = next_tag(list))
    if (t->any || t->tag == etag) return true;
  return false;
}

bool strong_match(std::string_view list, std::string_view etag) {
  while (auto t = next_tag(list))
    if (t->any || (!t->weak && t->tag == etag)) return true;
  return false;
}

Precondition evaluate_preconditions(const lithe::Request& req, std::string_view etag,
                                    int64_t modified) {
  const std::string_view method = req.method();
  const bool get_or_head = method == "GET" || method == "HEAD";
  bool has_if_match = false, if_match_ok = false, has_inm = false, inm_hit = false;
  for (const Header& h : req.headers()) {
    if (base::iequals(h.name, "If-Match")) {
      has_if_match = true;
      if_match_ok = if_match_ok || strong_match(h.value, etag);
    } else if (base::iequals(h.name, "If-None-Match")) {
      has_inm = true;
      inm_hit = inm_hit || none_match(h.value, etag);
    }
  }
  bool failed = has_if_match && !if_match_ok;
  if (!has_if_match) {
    if (auto since = base::parse_http_date(req.header("If-Unmodified-Since")); since)
      failed = modified > *since;
  }
  if (failed) return Precondition::failed;
  if (has_inm) {
    if (inm_hit && !get_or_head) return Precondition::failed;
    return inm_hit ? Precondition::not_modified : Precondition::proceed;
  }
  if (get_or_head) {
    if (auto since = base::parse_http_date(req.header("If-Modified-Since")); since)
      if (modified <= *since) return Precondition::not_modified;
  }
  return Precondition::proceed;
}

}  // namespace lithe::handlers::files
