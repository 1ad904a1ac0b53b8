// HTTP dates (RFC 9110 §5.6.7): the IMF-fixdate that Date, Last-Modified and friends carry, and
// the three forms a client may send back in If-Modified-Since and the like.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace lithe::base {

// "Sun, 06 Nov 1994 08:49:37 GMT" into out (29 bytes) for t in [0, year 9999].
void format_imf_fixdate(int64_t t, char* out);

// IMF-fixdate, obsolete RFC 850 or asctime form, as seconds since the epoch; nullopt when the
// text is none of them (the field is then ignored, as RFC 9110 requires).
std::optional<int64_t> parse_http_date(std::string_view text);

}  // namespace lithe::base
