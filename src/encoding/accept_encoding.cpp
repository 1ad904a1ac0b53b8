#include "encoding/accept_encoding.hpp"

#include "base/text.hpp"

namespace lithe::encoding {

namespace {

constexpr bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

int parse_qvalue(std::string_view text) {
  if (text.empty() || (text[0] != '0' && text[0] != '1')) return -1;
  const bool one = text[0] == '1';
  if (text.size() == 1) return one ? 1000 : 0;
  if (text[1] != '.' || text.size() > 5) return -1;
  int q = one ? 1000 : 0;
  int scale = 100;
  for (char c : text.substr(2)) {
    if (c < '0' || c > '9' || (one && c != '0')) return -1;
    q += (c - '0') * scale;
    scale /= 10;
  }
  return q;
}

void AcceptEncoding::add(std::string_view field_value) {
  // Elements are separated by commas; none of them (tokens and qvalues) can hold one.
  while (!field_value.empty()) {
    const std::size_t comma = field_value.find(',');
    add_element(trim(field_value.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    field_value.remove_prefix(comma + 1);
  }
}

// coding *( OWS ";" OWS param ), where the one parameter Accept-Encoding knows is q=qvalue
// (its name case-insensitive). Other parameters are not defined for it: such an element is
// ignored, as a malformed weight is.
void AcceptEncoding::add_element(std::string_view element) {
  if (element.empty()) return;  // "a,,b" and a trailing comma are allowed by the list syntax
  const std::size_t semi = element.find(';');
  const std::string_view token = trim(element.substr(0, semi));
  int q = 1000;
  if (semi != std::string_view::npos) {
    std::string_view param = trim(element.substr(semi + 1));
    if (param.size() < 2 || base::ascii_lower(param[0]) != 'q' || param[1] != '=') return;
    q = parse_qvalue(param.substr(2));
    if (q < 0) return;
  }
  int16_t* slot = nullptr;
  if (token == "*") {
    slot = &star_;
  } else if (auto c = parse_coding(token)) {
    slot = &q_[static_cast<std::size_t>(*c)];
  } else {
    return;  // a coding lithe does not have: it changes nothing
  }
  if (*slot < 0) *slot = static_cast<int16_t>(q);
}

int AcceptEncoding::weight(Coding c) const {
  const int16_t q = q_[static_cast<std::size_t>(c)];
  return q >= 0 ? q : star_;
}

Coding AcceptEncoding::choose(std::span<const Coding> offered) const {
  const Ranked r = ranked(offered);
  return r.count > 0 ? r.codings[0] : Coding::identity;
}

// Weighed above 0, and at least as high as identity when identity is weighed by name or by
// `*` (unlisted, identity is only the fallback); sorted by weight, the server's order among
// equals. By insertion, in place: at most four, and no heap buffer as std::stable_sort's.
Ranked AcceptEncoding::ranked(std::span<const Coding> offered) const {
  Ranked r;
  const int identity_q = weight(Coding::identity);
  for (Coding c : offered) {
    const int q = weight(c);
    if (q <= 0 || q < identity_q || r.count == r.codings.size()) continue;
    std::size_t i = r.count++;
    for (; i > 0 && weight(r.codings[i - 1]) < q; --i) r.codings[i] = r.codings[i - 1];
    r.codings[i] = c;
  }
  return r;
}

}  // namespace lithe::encoding
