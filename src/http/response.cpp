#include "http/response.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
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
    if (body.size() >= SealedBody::threshold) p.sealed = SealedBody::of(body);
    if (!p.sealed) p.body = std::move(body);
  }
  return p;
}

SealedBody SealedBody::of(std::string_view body) {
  SealedBody b;
  const int fd = ::memfd_create("lithe-body", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return b;
  b.fd_ = fd;
  std::size_t done = 0;
  while (done < body.size()) {
    const ssize_t n = ::write(fd, body.data() + done, body.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return {};  // closes it: the body stays in memory instead
    done += static_cast<std::size_t>(n);
  }
  // Sealed: nothing can change a body that responses promise the length of.
  if (::fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0)
    return {};
  b.size_ = body.size();
  return b;
}

SealedBody& SealedBody::operator=(SealedBody&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    size_ = o.size_;
  }
  return *this;
}

SealedBody::~SealedBody() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace lithe::http
