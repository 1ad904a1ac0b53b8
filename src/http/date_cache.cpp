#include "http/date_cache.hpp"

#include <cstring>

#include "base/http_date.hpp"

namespace lithe::http {

void DateCache::refresh(std::time_t now) {
  if (now == second_) return;
  second_ = now;
  std::memcpy(line_, "Date: ", 6);
  base::format_imf_fixdate(static_cast<int64_t>(now), line_ + 6);
  std::memcpy(line_ + 35, "\r\n", 2);
}

}  // namespace lithe::http
