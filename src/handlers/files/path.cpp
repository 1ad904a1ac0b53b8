#include "handlers/files/path.hpp"

#include <cstring>

#include "base/text.hpp"

namespace lithe::handlers::files {

bool has_escaped_separator(std::string_view raw) {
  for (std::size_t i = 0; i + 2 < raw.size(); ++i) {
    if (raw[i] != '%' || !base::is_hex(raw[i + 1]) || !base::is_hex(raw[i + 2])) continue;
    int v = base::hex_value(raw[i + 1]) * 16 + base::hex_value(raw[i + 2]);
    if (v == '/' || v == '\\' || v == 0) return true;
  }
  return false;
}

std::optional<std::size_t> clean_path(std::string_view rel, bool dotfiles, char* out,
                                      std::size_t cap) {
  std::size_t n = 0;
  while (!rel.empty()) {
    std::size_t slash = rel.find('/');
    std::string_view seg = rel.substr(0, slash);
    rel = slash == std::string_view::npos ? std::string_view{} : rel.substr(slash + 1);
    if (seg.empty()) continue;  // "a//b" and a leading or trailing '/'
    if (seg == "." || seg == "..") return std::nullopt;
    if (seg.front() == '.' && !dotfiles) return std::nullopt;
    if (seg.find('\\') != std::string_view::npos || seg.find('\0') != std::string_view::npos)
      return std::nullopt;
    if (n + seg.size() + 1 > cap) return std::nullopt;
    if (n) out[n++] = '/';
    std::memcpy(out + n, seg.data(), seg.size());
    n += seg.size();
  }
  return n;
}

}  // namespace lithe::handlers::files
