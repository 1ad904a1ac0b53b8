// The text/event-stream wire format (WHATWG HTML, "Server-sent events"): what one event, a
// comment or a retry field looks like on the wire, appended to a caller's buffer.
#pragma once

#include <string>
#include <string_view>

namespace lithe::http {

// `event:` and `id:` lines when not empty, one `data:` line per line of data (split at CRLF,
// LF or CR, so a client reassembles the same text), then the blank line that dispatches it.
// Throws std::invalid_argument when event or id holds CR, LF or NUL.
void append_event(std::string& out, std::string_view data, std::string_view event,
                  std::string_view id);
// ": text" lines (clients ignore them), then a blank line.
void append_comment(std::string& out, std::string_view text);
// The client's reconnection delay.
void append_retry(std::string& out, unsigned milliseconds);

}  // namespace lithe::http
