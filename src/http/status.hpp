// Status codes and their reason phrases.
#pragma once

#include <cstdint>
#include <string_view>

namespace lithe::http {

// "OK" for 200, ... ; "Unknown" for codes without a registered phrase.
std::string_view reason_phrase(uint16_t status);

// "HTTP/1.1 200 OK\r\n" for any status in 100..999.
std::string_view status_line(uint16_t status);

// Responses that never carry a body (RFC 9110 §6.4.1).
constexpr bool status_has_body(uint16_t status) {
  return status >= 200 && status != 204 && status != 304;
}

}  // namespace lithe::http
