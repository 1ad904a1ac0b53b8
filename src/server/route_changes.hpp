// What a reload changed in the routes, for its one log line.
#pragma once

#include <string>

#include "lithe/config.hpp"

namespace lithe::server {

// "routes +2 -1 ~1, +GET /a, ...": routes added, removed, and changed (same methods and path,
// another handler or other options).
std::string route_changes(const Config& before, const Config& after);

}  // namespace lithe::server
