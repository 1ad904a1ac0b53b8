// The Date header line, rendered once per second per loop instead of once per response.
#pragma once

#include <ctime>
#include <string_view>

namespace lithe::http {

class DateCache {
 public:
  DateCache() { refresh(std::time(nullptr)); }

  // Re-renders when the second has changed.
  void refresh(std::time_t now);

  // "Date: Wed, 25 Nov 2026 04:25:19 GMT\r\n"
  std::string_view line() const { return {line_, sizeof(line_)}; }
  // The IMF-fixdate alone.
  std::string_view value() const { return {line_ + 6, 29}; }

 private:
  std::time_t second_ = -1;
  char line_[37] = {};
};

}  // namespace lithe::http
