// Content types by file extension, for the `files` handler.
#pragma once

#include <cstddef>
#include <string_view>

namespace lithe::handlers {

// The Content-Type for a file name, from the text after its last '.' (ASCII case-insensitive).
// Text types carry "; charset=utf-8". Unknown or missing extension: application/octet-stream.
// The result is a static string.
std::string_view mime_type(std::string_view file_name);

// The same, in two steps, for a handler that decides something per type once at load: the
// type's place among the mime_type_count() lithe knows (the last is the default), and the
// type at a place.
std::size_t mime_index(std::string_view file_name);
std::string_view mime_type_at(std::size_t index);
std::size_t mime_type_count();

}  // namespace lithe::handlers
