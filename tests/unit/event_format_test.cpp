// The text/event-stream framing: what a browser's EventSource reassembles must be what the
// handler sent, whatever line endings its data uses.
#include "http/event_format.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace lithe::http {
namespace {

std::string event(std::string_view data, std::string_view name = {}, std::string_view id = {}) {
  std::string out;
  append_event(out, data, name, id);
  return out;
}

TEST(EventFormat, OneLineOfData) {
  EXPECT_EQ(event("hello"), "data: hello\n\n");
}

TEST(EventFormat, EveryLineEndingStartsANewDataLine) {
  EXPECT_EQ(event("a\nb\r\nc\rd"), "data: a\ndata: b\ndata: c\ndata: d\n\n");
  // A trailing line break is an empty last line, so the client's data ends with "\n" too.
  EXPECT_EQ(event("a\n"), "data: a\ndata: \n\n");
  EXPECT_EQ(event(""), "data: \n\n");
}

TEST(EventFormat, EventAndIdComeFirst) {
  EXPECT_EQ(event("x", "tick", "42"), "event: tick\nid: 42\ndata: x\n\n");
}

TEST(EventFormat, AFieldThatWouldEndItsLineIsRefused) {
  EXPECT_THROW(event("x", "a\nb"), std::invalid_argument);
  EXPECT_THROW(event("x", {}, "1\r"), std::invalid_argument);
  EXPECT_THROW(event("x", {}, std::string_view("1\0", 2)), std::invalid_argument);
}

TEST(EventFormat, CommentsAndRetry) {
  std::string out;
  append_comment(out, "keep\nalive");
  EXPECT_EQ(out, ": keep\n: alive\n\n");
  out.clear();
  append_retry(out, 1500);
  EXPECT_EQ(out, "retry: 1500\n\n");
}

}  // namespace
}  // namespace lithe::http
