// The toml++ version, reported by --version (kept here: toml++ stays inside src/config/).
#include <toml++/toml.h>

#include "config/toml_version.hpp"

namespace lithe::config {
const char* toml_version() {
#define LITHE_TOML_STR2(x) #x
#define LITHE_TOML_STR(x) LITHE_TOML_STR2(x)
  return LITHE_TOML_STR(TOML_LIB_MAJOR) "." LITHE_TOML_STR(TOML_LIB_MINOR) "." LITHE_TOML_STR(
      TOML_LIB_PATCH);
}
}  // namespace lithe::config
