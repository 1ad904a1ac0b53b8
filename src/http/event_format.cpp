#include "http/event_format.hpp"

#include <stdexcept>

namespace lithe::http {

namespace {

void check_field(std::string_view name, std::string_view value) {
  if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
    throw std::invalid_argument("event stream " + std::string(name) + " contains CR, LF or NUL");
}

// One `prefix` line per line of text: a line ends at CRLF, LF or CR.
void append_lines(std::string& out, std::string_view prefix, std::string_view text) {
  for (;;) {
    const std::size_t end = text.find_first_of("\r\n");
    out.append(prefix);
    out.append(text.substr(0, end));
    out.push_back('\n');
    if (end == std::string_view::npos) return;
    const std::size_t next = text.compare(end, 2, "\r\n") == 0 ? end + 2 : end + 1;
    text.remove_prefix(next);
  }
}

}  // namespace

void append_event(std::string& out, std::string_view data, std::string_view event,
                  std::string_view id) {
  check_field("event", event);
  check_field("id", id);
  if (!event.empty()) out.append("event: ").append(event).push_back('\n');
  if (!id.empty()) out.append("id: ").append(id).push_back('\n');
  append_lines(out, "data: ", data);
  out.push_back('\n');
}

void append_comment(std::string& out, std::string_view text) {
  append_lines(out, ": ", text);
  out.push_back('\n');
}

void append_retry(std::string& out, unsigned milliseconds) {
  out.append("retry: ").append(std::to_string(milliseconds)).append("\n\n");
}

}  // namespace lithe::http
