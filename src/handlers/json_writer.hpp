// Serializes a config Value tree to compact JSON (the `json` handler renders it once at load).
#pragma once

#include <optional>
#include <string>

#include "lithe/config.hpp"

namespace lithe::handlers {

// Appends value as JSON; returns the position of a value JSON cannot hold (nan, inf), if any.
std::optional<SourcePos> write_json(const Value& value, std::string& out);

// Appends s as a JSON string literal, quotes included.
void write_json_string(std::string_view s, std::string& out);

}  // namespace lithe::handlers
