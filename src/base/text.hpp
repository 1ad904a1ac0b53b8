// Byte-string helpers every layer shares: case-insensitive compare, HTTP tokens, hex digits,
// percent-decoding, whitespace, UTF-8.
#pragma once

#include <cstddef>
#include <string_view>

namespace lithe::base {

constexpr char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? char(c + ('a' - 'A')) : c;
}

constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

// tchar of RFC 9110 §5.6.2: the bytes a header name or a token may hold.
constexpr bool is_tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// The value of a hex digit, or -1 when c is none.
constexpr int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
constexpr bool is_hex(char c) {
  return hex_value(c) >= 0;
}

// Decodes %XX escapes into out (at least in.size() bytes); returns the decoded length.
// A malformed escape is kept as it is. '+' is not a space in paths.
std::size_t percent_decode(std::string_view in, char* out);

// Strips spaces and tabs at both ends.
constexpr std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Length of the well-formed UTF-8 sequence starting at s[i] (1 for ASCII), 0 when there is none
// (a stray continuation byte, a truncated, overlong or surrogate sequence, beyond U+10FFFF).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);

}  // namespace lithe::base
