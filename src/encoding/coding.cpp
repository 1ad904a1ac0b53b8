#include "encoding/coding.hpp"

#include <array>

#include "base/text.hpp"

namespace lithe::encoding {

namespace {
constexpr std::array<std::string_view, coding_count> names = {"identity", "gzip", "br", "zstd"};
constexpr std::array<std::string_view, coding_count> suffixes = {"", ".gz", ".br", ".zst"};
}  // namespace

std::string_view name(Coding c) {
  return names[static_cast<std::size_t>(c)];
}

std::optional<Coding> parse_coding(std::string_view token) {
  for (std::size_t i = 0; i < coding_count; ++i)
    if (base::iequals(token, names[i])) return static_cast<Coding>(i);
  if (base::iequals(token, "x-gzip")) return Coding::gzip;
  return std::nullopt;
}

std::string_view file_suffix(Coding c) {
  return suffixes[static_cast<std::size_t>(c)];
}

}  // namespace lithe::encoding
