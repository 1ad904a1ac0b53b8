#include "base/http_date.hpp"

#include <algorithm>
#include <cstring>

#include "base/text.hpp"

namespace lithe::base {

namespace {

constexpr std::string_view kDays = "SunMonTueWedThuFriSat";
constexpr std::string_view kMonths = "JanFebMarAprMayJunJulAugSepOctNovDec";

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct Cursor {
  std::string_view s;
  std::size_t i = 0;

  bool done() const { return i == s.size(); }
  bool lit(std::string_view t) {
    if (s.substr(i, t.size()) != t) return false;
    i += t.size();
    return true;
  }
  std::string_view letters() {
    std::size_t b = i;
    while (i < s.size() && ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z'))) ++i;
    return s.substr(b, i - b);
  }
  bool digits(std::size_t n, unsigned& out) {
    if (s.size() - i < n) return false;
    out = 0;
    for (std::size_t k = 0; k < n; ++k, ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + static_cast<unsigned>(s[i] - '0');
    }
    return true;
  }
  bool month(unsigned& out) {
    std::string_view m = s.substr(i, 3);
    std::size_t at = m.size() == 3 ? kMonths.find(m) : std::string_view::npos;
    if (at == std::string_view::npos || at % 3 != 0) return false;
    out = static_cast<unsigned>(at / 3 + 1);
    i += 3;
    return true;
  }
  bool time_of_day(unsigned& h, unsigned& m, unsigned& sec) {
    return digits(2, h) && lit(":") && digits(2, m) && lit(":") && digits(2, sec);
  }
};

}  // namespace

// "Sun, 06 Nov 1994 08:49:37 GMT" into out (29 bytes) for t in [0, year 9999].
void format_imf_fixdate(int64_t t, char* out) {
  int64_t z = t / 86400;
  auto secs = static_cast<unsigned>(t % 86400);
  const unsigned wday = static_cast<unsigned>((z + 4) % 7);  // 1970-01-01 was a Thursday
  z += 719468;
  const int64_t era = z / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned day = doy - (153 * mp + 2) / 5 + 1;
  const unsigned month = mp < 10 ? mp + 3 : mp - 9;
  const auto year = static_cast<unsigned>(static_cast<int64_t>(yoe) + era * 400 + (month <= 2));
  auto two = [](char* p, unsigned v) {
    p[0] = static_cast<char>('0' + v / 10);
    p[1] = static_cast<char>('0' + v % 10);
  };
  std::memcpy(out, kDays.data() + wday * 3, 3);
  out[3] = ',';
  out[4] = ' ';
  two(out + 5, day);
  out[7] = ' ';
  std::memcpy(out + 8, kMonths.data() + (month - 1) * 3, 3);
  out[11] = ' ';
  two(out + 12, year / 100);
  two(out + 14, year % 100);
  out[16] = ' ';
  two(out + 17, secs / 3600);
  out[19] = ':';
  two(out + 20, secs / 60 % 60);
  out[22] = ':';
  two(out + 23, secs % 60);
  std::memcpy(out + 25, " GMT", 4);
}

// IMF-fixdate, obsolete RFC 850 or asctime form, as seconds since the epoch; nullopt when the
// text is none of them (the field is then ignored, as RFC 9110 requires).
std::optional<int64_t> parse_http_date(std::string_view text) {
  Cursor c{trim_ows(text)};
  std::string_view day_name = c.letters();
  unsigned day = 0, month = 0, year = 0, h = 0, m = 0, sec = 0;
  if (day_name.size() == 3 && c.lit(", ")) {  // Sun, 06 Nov 1994 08:49:37 GMT
    if (!(c.digits(2, day) && c.lit(" ") && c.month(month) && c.lit(" ") && c.digits(4, year) &&
          c.lit(" ") && c.time_of_day(h, m, sec) && c.lit(" GMT") && c.done()))
      return std::nullopt;
  } else if (day_name.size() > 3 && c.lit(", ")) {  // Sunday, 06-Nov-94 08:49:37 GMT
    if (!(c.digits(2, day) && c.lit("-") && c.month(month) && c.lit("-") && c.digits(2, year) &&
          c.lit(" ") && c.time_of_day(h, m, sec) && c.lit(" GMT") && c.done()))
      return std::nullopt;
    year += year < 70 ? 2000 : 1900;
  } else if (day_name.size() == 3 && c.lit(" ")) {  // Sun Nov  6 08:49:37 1994
    if (!(c.month(month) && c.lit(" "))) return std::nullopt;
    if (c.lit(" ")) {
      if (!c.digits(1, day)) return std::nullopt;
    } else if (!c.digits(2, day)) {
      return std::nullopt;
    }
    if (!(c.lit(" ") && c.time_of_day(h, m, sec) && c.lit(" ") && c.digits(4, year) && c.done()))
      return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (day < 1 || day > 31 || h > 23 || m > 59 || sec > 60) return std::nullopt;
  return days_from_civil(year, month, day) * 86400 + h * 3600 + m * 60 + std::min(sec, 59u);
}

}  // namespace lithe::base
