// Which coding a response goes out in: the client's Accept-Encoding (RFC 9110 §12.5.3) weighed
// against the codings the response has, the server's order breaking ties.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "base/text.hpp"
#include "encoding/coding.hpp"

namespace lithe::encoding {

// Codings in the order a response should try them (at most one of each).
struct Ranked {
  std::array<Coding, coding_count> codings{};
  std::size_t count = 0;

  const Coding* begin() const { return codings.data(); }
  const Coding* end() const { return codings.data() + count; }
};

class AcceptEncoding {
 public:
  // One Accept-Encoding field value; several fields make one list, as RFC 9110 §5.3 says.
  // An element whose weight is malformed is ignored; a coding listed twice keeps its first.
  void add(std::string_view field_value);
  // Every Accept-Encoding field among a request's headers (each with .name and .value).
  template <class Headers>
  static AcceptEncoding of(const Headers& headers) {
    AcceptEncoding accept;
    for (const auto& h : headers)
      if (base::iequals(h.name, "Accept-Encoding")) accept.add(h.value);
    return accept;
  }

  // The coding to send. offered: the codings the response exists in besides identity, in the
  // server's order of preference. A listed coding (or one `*` covers) with a weight above 0
  // wins over a lower weight, the server's order between equals, and over identity unless
  // identity is weighed higher by name or by `*`. Without the field, or when it excludes
  // everything offered, identity: a response is never refused for its coding (a 406 would
  // break clients that can read identity anyway, as nginx and h2o do not refuse either).
  Coding choose(std::span<const Coding> offered) const;

  // Every offered coding choose() would send before identity, best first: for a response
  // whose forms may turn out unusable (a missing sidecar file), the next one to try.
  Ranked ranked(std::span<const Coding> offered) const;

  // The weight of c in thousandths (0-1000), or -1 when neither c nor `*` is listed.
  int weight(Coding c) const;

 private:
  void add_element(std::string_view element);

  std::array<int16_t, coding_count> q_{-1, -1, -1, -1};  // by name; -1: not listed
  int16_t star_ = -1;                                    // `*`; -1: not listed
};

// A qvalue ("1", "0.5", "0.001", "1.000") in thousandths, or -1 when malformed.
int parse_qvalue(std::string_view text);

}  // namespace lithe::encoding
