// The request's file path, checked before anything touches the disk: the route's `*name`
// parameter (percent-decoded once by the server) becomes a relative path of plain segments,
// or the request is refused.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace lithe::handlers::files {

// An escaped '/', '\' or NUL anywhere in the raw path: after the server's single decoding they
// would pose as separators or cut the name short, so such targets are refused outright.
bool has_escaped_separator(std::string_view raw);

// Copies the decoded relative path into out as its non-empty segments joined by '/'. Refuses
// (nullopt) `.`, `..`, backslashes, NUL, hidden segments unless allowed, and paths that would
// not fit in cap bytes.
std::optional<std::size_t> clean_path(std::string_view rel, bool dotfiles, char* out,
                                      std::size_t cap);

}  // namespace lithe::handlers::files
