#include "http/request_id.hpp"

#include <random>

namespace lithe::http {

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > max_request_id) return false;
  for (char ch : id) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == ',') return false;
  }
  return true;
}

namespace {

// Drawn once, by the first worker to start: a restart draws again.
uint64_t process_bits() {
  static const uint64_t bits = [] {
    std::random_device random;
    return (uint64_t{random()} << 32 | random()) & 0xffff'ffff'ffffull;
  }();
  return bits;
}

void hex(uint64_t value, char* out) {
  static constexpr char digits[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i, value >>= 4) out[i] = digits[value & 0xf];
}

}  // namespace

RequestIds::RequestIds(unsigned worker) : prefix_(process_bits() << 16 | (worker & 0xffffu)) {}

std::string_view RequestIds::next(char* out) {
  hex(prefix_, out);
  hex(count_++, out + 16);
  return {out, made_request_id};
}

}  // namespace lithe::http
