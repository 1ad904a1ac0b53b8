#include "handlers/mime.hpp"

#include <algorithm>
#include <array>

namespace lithe::handlers {

namespace {

struct Entry {
  std::string_view ext;  // lower case
  std::string_view type;
};

// Sorted by extension: looked up with a binary search on every request.
constexpr std::array kTypes = {
    Entry{"avif", "image/avif"},
    Entry{"bmp", "image/bmp"},
    Entry{"css", "text/css; charset=utf-8"},
    Entry{"csv", "text/csv; charset=utf-8"},
    Entry{"gif", "image/gif"},
    Entry{"gz", "application/gzip"},
    Entry{"htm", "text/html; charset=utf-8"},
    Entry{"html", "text/html; charset=utf-8"},
    Entry{"ico", "image/x-icon"},
    Entry{"jpeg", "image/jpeg"},
    Entry{"jpg", "image/jpeg"},
    Entry{"js", "text/javascript; charset=utf-8"},
    Entry{"json", "application/json"},
    Entry{"map", "application/json"},
    Entry{"md", "text/markdown; charset=utf-8"},
    Entry{"mjs", "text/javascript; charset=utf-8"},
    Entry{"mp3", "audio/mpeg"},
    Entry{"mp4", "video/mp4"},
    Entry{"oga", "audio/ogg"},
    Entry{"ogg", "audio/ogg"},
    Entry{"ogv", "video/ogg"},
    Entry{"otf", "font/otf"},
    Entry{"pdf", "application/pdf"},
    Entry{"png", "image/png"},
    Entry{"svg", "image/svg+xml"},
    Entry{"tar", "application/x-tar"},
    Entry{"ttf", "font/ttf"},
    Entry{"txt", "text/plain; charset=utf-8"},
    Entry{"wasm", "application/wasm"},
    Entry{"wav", "audio/wav"},
    Entry{"webm", "video/webm"},
    Entry{"webmanifest", "application/manifest+json"},
    Entry{"webp", "image/webp"},
    Entry{"woff", "font/woff"},
    Entry{"woff2", "font/woff2"},
    Entry{"xml", "application/xml"},
    Entry{"zip", "application/zip"},
};

constexpr bool sorted() {
  for (std::size_t i = 1; i < kTypes.size(); ++i)
    if (!(kTypes[i - 1].ext < kTypes[i].ext)) return false;
  return true;
}
static_assert(sorted(), "kTypes must stay sorted by extension");

constexpr std::string_view kDefault = "application/octet-stream";

}  // namespace

std::size_t mime_index(std::string_view file_name) {
  std::size_t slash = file_name.rfind('/');
  if (slash != std::string_view::npos) file_name.remove_prefix(slash + 1);
  std::size_t dot = file_name.rfind('.');
  if (dot == std::string_view::npos) return kTypes.size();
  std::string_view ext = file_name.substr(dot + 1);
  // Longer than any known extension: no need to look (and the buffer below stays small).
  char lower[16];
  if (ext.empty() || ext.size() > sizeof(lower)) return kTypes.size();
  for (std::size_t i = 0; i < ext.size(); ++i) {
    char c = ext[i];
    lower[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
  }
  std::string_view key(lower, ext.size());
  auto it = std::lower_bound(kTypes.begin(), kTypes.end(), key,
                             [](const Entry& e, std::string_view k) { return e.ext < k; });
  if (it == kTypes.end() || it->ext != key) return kTypes.size();
  return static_cast<std::size_t>(it - kTypes.begin());
}

std::string_view mime_type_at(std::size_t index) {
  return index < kTypes.size() ? kTypes[index].type : kDefault;
}

std::size_t mime_type_count() {
  return kTypes.size() + 1;
}

std::string_view mime_type(std::string_view file_name) {
  return mime_type_at(mime_index(file_name));
}

}  // namespace lithe::handlers
