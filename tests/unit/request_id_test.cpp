// Request IDs (http/request_id.hpp): what a proxy may send, and what lithe makes.
#include "http/request_id.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <string>

namespace lithe::http {
namespace {

TEST(RequestIdValid, KeepsWhatIsSafeToRepeat) {
  EXPECT_TRUE(valid_request_id("4f2a"));
  EXPECT_TRUE(valid_request_id("Root=1-67891233-abcdef;Parent=53995c3f;Sampled=1"));
  EXPECT_TRUE(valid_request_id("0af7651916cd43dd8448eb211c80319c"));
  EXPECT_TRUE(valid_request_id(std::string(max_request_id, 'a')));
}

TEST(RequestIdValid, RefusesWhatAHeaderOrALogLineWouldMangle) {
  EXPECT_FALSE(valid_request_id(""));
  EXPECT_FALSE(valid_request_id(std::string(max_request_id + 1, 'a')));
  for (const char* bad : {"a b", "a,b", "a\"b", "a\\b", "a\tb", "a\x7f", "caf\xc3\xa9"})
    EXPECT_FALSE(valid_request_id(bad)) << bad;
}

TEST(RequestIds, ThirtyTwoHexDigitsCountingUp) {
  RequestIds ids(3);
  char a[made_request_id], b[made_request_id];
  const std::string first(ids.next(a)), second(ids.next(b));
  EXPECT_TRUE(std::regex_match(first, std::regex("[0-9a-f]{32}"))) << first;
  EXPECT_EQ(first.substr(12, 4), "0003");  // the worker's index
  EXPECT_EQ(first.substr(16), "0000000000000000");
  EXPECT_EQ(second.substr(0, 16), first.substr(0, 16));
  EXPECT_EQ(second.substr(16), "0000000000000001");
  EXPECT_TRUE(valid_request_id(first));  // what lithe makes, a proxy behind it may pass on
}

TEST(RequestIds, WorkersOfOneProcessDiffer) {
  RequestIds one(0), two(1);
  char a[made_request_id], b[made_request_id];
  EXPECT_NE(one.next(a), two.next(b));
}

}  // namespace
}  // namespace lithe::http
