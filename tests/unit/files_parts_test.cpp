// The `files` handler's parts on their own: the request path check, entity-tag lists and byte
// ranges. tests/unit/files_test.cpp drives the whole handler over a real directory.
#include <gtest/gtest.h>

#include <string>

#include "handlers/files/conditional.hpp"
#include "handlers/files/path.hpp"
#include "handlers/files/range.hpp"

namespace lithe::handlers::files {
namespace {

std::string cleaned(std::string_view rel, bool dotfiles = false, std::size_t cap = 256) {
  char out[256];
  auto n = clean_path(rel, dotfiles, out, cap);
  return n ? std::string(out, *n) : std::string("<refused>");
}

TEST(FilesPath, CleanPathJoinsNonEmptySegments) {
  EXPECT_EQ(cleaned("a//b/"), "a/b");
  EXPECT_EQ(cleaned("/index.html"), "index.html");
  EXPECT_EQ(cleaned(""), "");
}

TEST(FilesPath, CleanPathRefusesDotSegmentsHiddenNamesAndLongPaths) {
  EXPECT_EQ(cleaned("a/../b"), "<refused>");
  EXPECT_EQ(cleaned("./a"), "<refused>");
  EXPECT_EQ(cleaned("a\\b"), "<refused>");
  EXPECT_EQ(cleaned(std::string_view("a\0b", 3)), "<refused>");
  EXPECT_EQ(cleaned(".env"), "<refused>");
  EXPECT_EQ(cleaned(".env", true), ".env");
  EXPECT_EQ(cleaned("abcd", false, 4), "<refused>");  // no room for the NUL after it
  EXPECT_EQ(cleaned("abcd", false, 5), "abcd");
}

TEST(FilesPath, EscapedSeparatorsAreFoundInTheRawPath) {
  EXPECT_TRUE(has_escaped_separator("/files/a%2fb"));
  EXPECT_TRUE(has_escaped_separator("/files/a%2Fb"));
  EXPECT_TRUE(has_escaped_separator("/files/a%5cb"));
  EXPECT_TRUE(has_escaped_separator("/files/a%00"));
  EXPECT_FALSE(has_escaped_separator("/files/a%41b"));
  EXPECT_FALSE(has_escaped_separator("/files/a%2"));
}

TEST(FilesConditional, IfNoneMatchComparesWeakly) {
  EXPECT_TRUE(none_match("\"a\"", "\"a\""));
  EXPECT_TRUE(none_match("W/\"a\"", "\"a\""));
  EXPECT_TRUE(none_match("\"b\", \"a\"", "\"a\""));
  EXPECT_TRUE(none_match("*", "\"a\""));
  EXPECT_FALSE(none_match("\"b\"", "\"a\""));
  EXPECT_FALSE(none_match("a", "\"a\""));  // malformed: no match
}

TEST(FilesConditional, IfMatchComparesStrongly) {
  EXPECT_TRUE(strong_match("\"a\"", "\"a\""));
  EXPECT_TRUE(strong_match("\"b\",\"a\"", "\"a\""));
  EXPECT_TRUE(strong_match("*", "\"a\""));
  EXPECT_FALSE(strong_match("W/\"a\"", "\"a\""));
}

std::string range(std::string_view value, uint64_t size) {
  const ByteRange r = parse_range(value, size);
  char buf[content_range_size];
  switch (r.kind) {
    case ByteRange::Kind::none:
      return "none";
    case ByteRange::Kind::unsatisfiable:
      return "416 " + std::string(content_range(r, size, buf));
    case ByteRange::Kind::satisfiable:
      return std::string(content_range(r, size, buf));
  }
  return "?";
}

TEST(FilesRange, OneBytesRangeInEachForm) {
  EXPECT_EQ(range("bytes=0-4", 10), "bytes 0-4/10");
  EXPECT_EQ(range("bytes=5-", 10), "bytes 5-9/10");
  EXPECT_EQ(range("bytes=-3", 10), "bytes 7-9/10");
  EXPECT_EQ(range("bytes=-30", 10), "bytes 0-9/10");
  EXPECT_EQ(range("bytes=8-100", 10), "bytes 8-9/10");
  EXPECT_EQ(range(" BYTES=0-0 ", 10), "bytes 0-0/10");
}

TEST(FilesRange, UnsatisfiableRangesNameTheSize) {
  EXPECT_EQ(range("bytes=10-", 10), "416 bytes */10");
  EXPECT_EQ(range("bytes=-0", 10), "416 bytes */10");
  EXPECT_EQ(range("bytes=-5", 0), "416 bytes */0");
}

TEST(FilesRange, WhatIsNotOneValidRangeIsIgnored) {
  EXPECT_EQ(range("bytes=0-1,3-4", 10), "none");
  EXPECT_EQ(range("items=0-1", 10), "none");
  EXPECT_EQ(range("bytes=3-2", 10), "none");
  EXPECT_EQ(range("bytes=a-", 10), "none");
  EXPECT_EQ(range("bytes=99999999999999999999-", 10), "none");
}

}  // namespace
}  // namespace lithe::handlers::files
