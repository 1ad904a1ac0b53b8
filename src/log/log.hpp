// The error log: spdlog's default logger, to stderr or a file, at log.level.
#pragma once

#include "lithe/config.hpp"

namespace lithe::log {

// Replaces the default logger according to cfg. Throws std::runtime_error if a file cannot be
// opened.
void init(const LogConfig& cfg);

}  // namespace lithe::log
