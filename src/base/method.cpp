#include "base/method.hpp"

#include <array>

namespace lithe::base {

namespace {
constexpr std::array<std::string_view, method_count> names = {
#define LITHE_X(num, name, text) text,
    LITHE_HTTP_METHODS(LITHE_X)
#undef LITHE_X
};
}  // namespace

std::string_view method_name(Method m) {
  auto i = static_cast<unsigned>(m);
  return i < names.size() ? names[i] : std::string_view{};
}

std::optional<Method> method_from_name(std::string_view token) {
  for (unsigned i = 0; i < names.size(); ++i)
    if (names[i] == token) return static_cast<Method>(i);
  return std::nullopt;
}

}  // namespace lithe::base
