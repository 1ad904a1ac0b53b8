#include "server/route_changes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace lithe::server {

namespace {
std::string route_key(const RouteConfig& r) {
  std::string methods;
  for (const auto& m : r.methods) methods += (methods.empty() ? "" : ",") + m;
  return methods + " " + r.path;
}

bool same_value(const Value& a, const Value& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::Kind::boolean:
      return a.boolean == b.boolean;
    case Value::Kind::integer:
      return a.integer == b.integer;
    case Value::Kind::floating:
      return a.floating == b.floating;
    case Value::Kind::string:
    case Value::Kind::datetime:
      return a.string == b.string;
    case Value::Kind::array:
      if (a.array.size() != b.array.size()) return false;
      for (std::size_t i = 0; i < a.array.size(); ++i)
        if (!same_value(a.array[i], b.array[i])) return false;
      return true;
    case Value::Kind::table:
      if (a.table.size() != b.table.size()) return false;
      for (std::size_t i = 0; i < a.table.size(); ++i)
        if (a.table[i].first != b.table[i].first ||
            !same_value(a.table[i].second, b.table[i].second))
          return false;
      return true;
  }
  return false;
}
}  // namespace

std::string route_changes(const Config& before, const Config& after) {
  std::vector<std::string> added, removed, changed;
  for (const RouteConfig& r : after.routes) {
    auto it = std::find_if(before.routes.begin(), before.routes.end(),
                           [&](const RouteConfig& o) { return route_key(o) == route_key(r); });
    if (it == before.routes.end())
      added.push_back(route_key(r));
    else if (it->handler != r.handler || !same_value(it->options, r.options))
      changed.push_back(route_key(r));
  }
  for (const RouteConfig& r : before.routes) {
    if (std::none_of(after.routes.begin(), after.routes.end(),
                     [&](const RouteConfig& n) { return route_key(n) == route_key(r); }))
      removed.push_back(route_key(r));
  }
  std::string out = fmt::format("routes +{} -{} ~{}", added.size(), removed.size(), changed.size());
  auto list = [&out](char sign, const std::vector<std::string>& v) {
    for (const auto& k : v) out += fmt::format(", {}{}", sign, k);
  };
  list('+', added);
  list('-', removed);
  list('~', changed);
  return out;
}

}  // namespace lithe::server
