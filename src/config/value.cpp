// The small behaviours of the plain config types (include/lithe/config.hpp).
#include <cstring>

#include "lithe/config.hpp"

namespace lithe {

Value::Value() = default;
Value::~Value() = default;
Value::Value(const Value&) = default;
Value::Value(Value&&) noexcept = default;
Value& Value::operator=(const Value&) = default;
Value& Value::operator=(Value&&) noexcept = default;

const Value* Value::find(std::string_view key) const {
  if (kind != Kind::table) return nullptr;
  for (const auto& [name, value] : table)
    if (name == key) return &value;
  return nullptr;
}

std::string ConfigError::to_string() const {
  return file + ':' + std::to_string(pos.line) + ':' + std::to_string(pos.column) + ": " + message;
}

namespace {
std::string join(const std::vector<ConfigError>& errors) {
  std::string text;
  for (const auto& error : errors) {
    if (!text.empty()) text += '\n';
    text += error.to_string();
  }
  return text;
}
}  // namespace

// what() is built before errors is moved into the member (bases initialize first).
ConfigErrors::ConfigErrors(std::vector<ConfigError> errors)
    : std::runtime_error(join(errors)), errors_(std::move(errors)) {}

}  // namespace lithe
