// HTTP request methods, numbered as llhttp numbers them, so the parser adapter can convert by cast
// while everything above it (router, config, handlers) stays free of llhttp.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace lithe::base {

#define LITHE_HTTP_METHODS(X)       \
  X(0, DELETE_, "DELETE")           \
  X(1, GET, "GET")                  \
  X(2, HEAD, "HEAD")                \
  X(3, POST, "POST")                \
  X(4, PUT, "PUT")                  \
  X(5, CONNECT, "CONNECT")          \
  X(6, OPTIONS, "OPTIONS")          \
  X(7, TRACE, "TRACE")              \
  X(8, COPY, "COPY")                \
  X(9, LOCK, "LOCK")                \
  X(10, MKCOL, "MKCOL")             \
  X(11, MOVE, "MOVE")               \
  X(12, PROPFIND, "PROPFIND")       \
  X(13, PROPPATCH, "PROPPATCH")     \
  X(14, SEARCH, "SEARCH")           \
  X(15, UNLOCK, "UNLOCK")           \
  X(16, BIND, "BIND")               \
  X(17, REBIND, "REBIND")           \
  X(18, UNBIND, "UNBIND")           \
  X(19, ACL, "ACL")                 \
  X(20, REPORT, "REPORT")           \
  X(21, MKACTIVITY, "MKACTIVITY")   \
  X(22, CHECKOUT, "CHECKOUT")       \
  X(23, MERGE, "MERGE")             \
  X(24, MSEARCH, "M-SEARCH")        \
  X(25, NOTIFY, "NOTIFY")           \
  X(26, SUBSCRIBE, "SUBSCRIBE")     \
  X(27, UNSUBSCRIBE, "UNSUBSCRIBE") \
  X(28, PATCH, "PATCH")             \
  X(29, PURGE, "PURGE")             \
  X(30, MKCALENDAR, "MKCALENDAR")   \
  X(31, LINK, "LINK")               \
  X(32, UNLINK, "UNLINK")           \
  X(33, SOURCE, "SOURCE")

enum class Method : uint8_t {
#define LITHE_X(num, name, text) name = num,
  LITHE_HTTP_METHODS(LITHE_X)
#undef LITHE_X
};

inline constexpr unsigned method_count = 34;

// A set of methods as a bit mask (bit n = Method n).
using MethodMask = uint64_t;
inline constexpr MethodMask all_methods = (MethodMask{1} << method_count) - 1;

constexpr MethodMask mask_of(Method m) {
  return MethodMask{1} << static_cast<unsigned>(m);
}

// The method's token as it appears on the request line.
std::string_view method_name(Method m);

// The method with exactly this (case-sensitive) token, if any.
std::optional<Method> method_from_name(std::string_view token);

}  // namespace lithe::base
