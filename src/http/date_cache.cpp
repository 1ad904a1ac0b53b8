#include "http/date_cache.hpp"

#include <cstdio>

namespace lithe::http {

void DateCache::refresh(std::time_t now) {
  if (now == second_) return;
  second_ = now;
  std::tm tm{};
  gmtime_r(&now, &tm);
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[48];
  std::snprintf(buf, sizeof(buf), "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n", days[tm.tm_wday],
                tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  for (std::size_t i = 0; i < sizeof(line_); ++i) line_[i] = buf[i];
}

}  // namespace lithe::http
