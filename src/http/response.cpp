#include "http/response.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include "http/session_port.hpp"
#include "http/status.hpp"
#include "lithe/responder.hpp"

namespace lithe {

namespace {
http::ResponseImpl& impl(Response& r) {
  return static_cast<http::ResponseImpl&>(r);
}

// Bodies at least this long are kept in a sealed memory file and sent with sendfile, as a
// file's are: the socket takes page references instead of a copy, so a large body costs what a
// file does, and a slow reader pins pages rather than a megabyte of socket buffers. Below it a
// copy costs less than sendfile.
constexpr std::size_t sealed_threshold = 64 * 1024;

// The body in a sealed memfd, or -1 when the system refuses one (it then stays in memory).
int seal(std::string_view body) {
  const int fd = ::memfd_create("lithe-body", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -1;
  std::size_t done = 0;
  while (done < body.size()) {
    const ssize_t n = ::write(fd, body.data() + done, body.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  // Sealed: nothing can change a body that responses promise the length of.
  if (done != body.size() ||
      ::fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

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

void Response::prepared(const PreparedResponse& response) {
  impl(*this).prepared_ = &response;
}

void Response::close_connection() {
  impl(*this).close_ = true;
}

Responder Response::defer() {
  http::ResponseImpl& r = impl(*this);
  if (!r.port_) return {};
  r.deferred_ = true;
  return r.port_->make_responder();
}

PreparedResponse::PreparedResponse(int status, std::string_view content_type, std::string body,
                                   const Headers& headers, std::string_view server_header) {
  if (status < 100 || status > 999) throw std::invalid_argument("status code out of range");
  check_header_text(content_type);
  check_header_text(server_header);
  for (const auto& [name, value] : headers) {
    check_header_text(name);
    check_header_text(value);
  }
  status_ = static_cast<uint16_t>(status);
  head_.append(http::status_line(status_));
  if (!server_header.empty()) head_.append("Server: ").append(server_header).append("\r\n");
  const bool has_body = http::status_has_body(status_);
  if (!content_type.empty() && has_body)
    head_.append("Content-Type: ").append(content_type).append("\r\n");
  for (const auto& [name, value] : headers)
    head_.append(name).append(": ").append(value).append("\r\n");
  if (!has_body) return;
  head_.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  if (body.size() >= sealed_threshold) sealed_fd_ = seal(body);
  if (sealed_fd_ >= 0)
    sealed_size_ = body.size();
  else
    body_ = std::move(body);
}

PreparedResponse::PreparedResponse(PreparedResponse&& other) noexcept
    : status_(other.status_),
      head_(std::move(other.head_)),
      body_(std::move(other.body_)),
      sealed_fd_(std::exchange(other.sealed_fd_, -1)),
      sealed_size_(other.sealed_size_) {}

PreparedResponse& PreparedResponse::operator=(PreparedResponse&& other) noexcept {
  if (this != &other) {
    if (sealed_fd_ >= 0) ::close(sealed_fd_);
    status_ = other.status_;
    head_ = std::move(other.head_);
    body_ = std::move(other.body_);
    sealed_fd_ = std::exchange(other.sealed_fd_, -1);
    sealed_size_ = other.sealed_size_;
  }
  return *this;
}

PreparedResponse::~PreparedResponse() {
  if (sealed_fd_ >= 0) ::close(sealed_fd_);
}

}  // namespace lithe

namespace lithe::http {

void ResponseImpl::drop_file() {
  if (file_.fd >= 0) ::close(file_.fd);
  file_ = {};
}

}  // namespace lithe::http
