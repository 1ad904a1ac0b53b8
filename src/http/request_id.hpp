// Request IDs (server.request_id_header): one a trusted proxy sent, when it is safe to repeat
// in a header and a log line, or one made here. A made ID is 32 lowercase hex digits, like
// nginx's $request_id: 48 random bits drawn once per process, the worker's index, and the
// worker's count of IDs so far, so IDs never repeat across workers or restarts and making one
// costs no system call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace lithe::http {

// Longest ID taken from a proxy; longer ones are replaced by a made one.
inline constexpr std::size_t max_request_id = 128;
// Length of a made ID.
inline constexpr std::size_t made_request_id = 32;

// Whether a received ID may be used as it is: 1 to max_request_id visible ASCII bytes, none of
// them '"', '\\' or ',' (a list of IDs, or one that would need escaping in a log line).
bool valid_request_id(std::string_view id);

class RequestIds {
 public:
  explicit RequestIds(unsigned worker);

  // Writes the next ID into out (made_request_id bytes) and returns it.
  std::string_view next(char* out);

 private:
  uint64_t prefix_;     // the process's random bits and the worker's index
  uint64_t count_ = 0;  // IDs made by this worker
};

}  // namespace lithe::http
