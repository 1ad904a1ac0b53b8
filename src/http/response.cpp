#include "http/response.hpp"

#include <unistd.h>

#include <stdexcept>

#include "http/status.hpp"

namespace lithe {

namespace {
http::ResponseImpl& impl(Response& r) { return static_cast<http::ResponseImpl&>(r); }

// CR, LF or NUL in a header would let a handler split the response.
void check_header_text(std::string_view s) {
  for (char c : s)
    if (c == '\r' || c == '\n' || c == '\0')
      throw std::invalid_argument("response header contains CR, LF or NUL");
}
}  // namespace

Response& Response::status(int code) {
  if (code < 100 || code > 999) throw std::invalid_argument("status code out of range");
  status_ = static_cast<uint16_t>(code);
  return *this;
}

Response& Response::header(std::string_view name, std::string_view value) {
  check_header_text(name);
  check_header_text(value);
  http::ResponseImpl& r = impl(*this);
  r.extra_headers_.push_back({r.arena_.copy(name), r.arena_.copy(value)});
  return *this;
}

void Response::text(std::string_view body, std::string_view content_type) {
  check_header_text(content_type);
  http::ResponseImpl& r = impl(*this);
  body_ = r.arena_.copy(body);
  content_type_ = r.arena_.copy(content_type);
  r.body_owned_ = true;
}

void Response::body_view(std::string_view body, std::string_view content_type) {
  check_header_text(content_type);
  http::ResponseImpl& r = impl(*this);
  body_ = body;
  content_type_ = r.arena_.copy(content_type);
  r.body_owned_ = false;
}

void Response::file(int fd, uint64_t offset, uint64_t length, std::string_view content_type) {
  check_header_text(content_type);
  http::ResponseImpl& r = impl(*this);
  r.drop_file();
  r.file_ = {fd, offset, length};
  body_ = {};
  content_type_ = r.arena_.copy(content_type);
  r.body_owned_ = false;
}

}  // namespace lithe

namespace lithe::http {

void ResponseImpl::drop_file() {
  if (file_.fd >= 0) ::close(file_.fd);
  file_ = {};
}

PreparedResponse prepare_response(uint16_t status, std::string_view server_header,
                                  std::string_view content_type,
                                  const std::vector<std::pair<std::string, std::string>>& headers,
                                  std::string body) {
  PreparedResponse p;
  p.status = status;
  p.head.append(status_line(status));
  if (!server_header.empty()) p.head.append("Server: ").append(server_header).append("\r\n");
  if (!content_type.empty() && status_has_body(status))
    p.head.append("Content-Type: ").append(content_type).append("\r\n");
  for (const auto& [name, value] : headers) p.head.append(name).append(": ").append(value).append("\r\n");
  if (status_has_body(status)) {
    p.head.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    p.body = std::move(body);
  }
  return p;
}

}  // namespace lithe::http
