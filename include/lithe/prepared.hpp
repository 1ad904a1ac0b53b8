// A response rendered once, before the requests it answers: a handler builds it when it is
// made (a factory, from its route's options) and answers with Response::prepared(). Each such
// answer formats and copies nothing; only Date, and Connection when needed, are added. The
// built-in static, json, redirect and health handlers answer this way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lithe {

class PreparedResponse {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;
  // Renders the status line, Server (omitted when server_header is empty), Content-Type,
  // headers and Content-Length. A body of 64 KiB or more is kept in a sealed memory file and
  // sent with sendfile, as a file is. Throws std::invalid_argument for a status outside
  // 100-999 or CR, LF or NUL in a header.
  PreparedResponse(int status, std::string_view content_type, std::string body,
                   const Headers& headers = {}, std::string_view server_header = "lithe");
  PreparedResponse(PreparedResponse&& other) noexcept;
  PreparedResponse& operator=(PreparedResponse&& other) noexcept;
  ~PreparedResponse();
  PreparedResponse(const PreparedResponse&) = delete;
  PreparedResponse& operator=(const PreparedResponse&) = delete;

  int status() const { return status_; }
  // The status line and every fixed header, each ending in CRLF (the blank line is not in it).
  std::string_view head() const { return head_; }
  // The body's length, and where it is: in memory, or in the sealed file (body_fd() >= 0).
  std::size_t body_size() const { return sealed_fd_ >= 0 ? sealed_size_ : body_.size(); }
  std::string_view body() const { return body_; }
  int body_fd() const { return sealed_fd_; }

 private:
  uint16_t status_ = 200;
  std::string head_;
  std::string body_;  // empty when the body is in the sealed file
  int sealed_fd_ = -1;
  std::size_t sealed_size_ = 0;
};

}  // namespace lithe
