// Content types by file extension, for the `files` handler.
#pragma once

#include <string_view>

namespace lithe::handlers {

// The Content-Type for a file name, from the text after its last '.' (ASCII case-insensitive).
// Text types carry "; charset=utf-8". Unknown or missing extension: application/octet-stream.
// The result is a static string.
std::string_view mime_type(std::string_view file_name);

}  // namespace lithe::handlers
