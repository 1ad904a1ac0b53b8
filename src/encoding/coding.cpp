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

std::vector<Coding> parse_codings(const std::vector<std::string>& list) {
  std::vector<Coding> codings;
  for (const std::string& n : list)
    if (auto c = parse_coding(n)) codings.push_back(*c);
  return codings;
}

std::string_view file_suffix(Coding c) {
  return suffixes[static_cast<std::size_t>(c)];
}

bool compressible(const std::vector<std::string>& types, std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  const std::size_t slash = type.find('/');
  for (const std::string& range : types) {
    if (range.size() >= 2 && range.ends_with("/*")) {
      if (slash != std::string_view::npos &&
          base::iequals(type.substr(0, slash), std::string_view(range).substr(0, range.size() - 2)))
        return true;
    } else if (base::iequals(type, range)) {
      return true;
    }
  }
  return false;
}

}  // namespace lithe::encoding
