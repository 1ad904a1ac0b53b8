#pragma once
namespace lithe::config {
// "3.3.0": the toml++ this binary was built with.
const char* toml_version();
}  // namespace lithe::config
