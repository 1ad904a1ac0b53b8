#include "handlers/files/files_handler.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <ctime>

#include "base/http_date.hpp"
#include "handlers/files/conditional.hpp"
#include "handlers/files/path.hpp"
#include "handlers/files/range.hpp"
#include "handlers/mime.hpp"

namespace lithe::handlers::files {

void FilesHandler::handle(const lithe::Request& req, lithe::Response& res) {
  auto params = req.params();
  if (params.empty() || has_escaped_separator(req.path())) return plain_status(res, 404);
  const std::string_view rel = params.back().value;

  // Room for "/" + index + NUL after the cleaned path.
  char path[PATH_MAX];
  const std::size_t reserve = index_.size() + 2;
  auto cleaned = clean_path(rel, dotfiles_, path, sizeof(path) - reserve);
  if (!cleaned) return plain_status(res, 404);
  std::size_t n = *cleaned;
  path[n] = '\0';
  // "dir/" asks for a directory: a regular file there is not it.
  const bool want_dir = !rel.empty() && rel.back() == '/';

  auto fail = [&](int err) {
    // Running out of descriptors or memory is ours, not the client's fault.
    plain_status(res, err == EMFILE || err == ENFILE || err == ENOMEM ? 503 : 404);
  };
  int fd = root_.open(path);
  if (fd < 0) return fail(errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return fail(err);
  }
  std::string_view name(path, n);
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    if (n) path[n++] = '/';
    std::memcpy(path + n, index_.data(), index_.size());
    n += index_.size();
    path[n] = '\0';
    name = {path, n};
    fd = root_.open(path);
    if (fd < 0) return fail(errno);
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      return fail(err);
    }
  } else if (want_dir) {
    ::close(fd);
    return plain_status(res, 404);
  }
  if (!S_ISREG(st.st_mode)) {  // FIFOs, devices, sockets, a directory as index
    ::close(fd);
    return plain_status(res, 404);
  }

  // Validators. The size comes from this descriptor, so Content-Length matches what it holds.
  const auto size = static_cast<uint64_t>(st.st_size);
  // Last-Modified may not be later than the response's own Date (RFC 9110 §8.8.2.1).
  const int64_t now = std::time(nullptr);
  const int64_t modified = std::clamp<int64_t>(st.st_mtim.tv_sec, 0, now);
  char etag[64];
  char* e = etag;
  *e++ = '"';
  const auto mtime_ns = static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000000u +
                        static_cast<uint64_t>(st.st_mtim.tv_nsec);
  e = std::to_chars(e, etag + sizeof(etag), mtime_ns, 16).ptr;
  *e++ = '-';
  e = std::to_chars(e, etag + sizeof(etag), size, 16).ptr;
  *e++ = '"';
  const std::string_view etag_v(etag, static_cast<std::size_t>(e - etag));
  char last_modified[29];
  base::format_imf_fixdate(modified, last_modified);
  const std::string_view last_modified_v(last_modified, sizeof(last_modified));

  auto validators = [&] {
    res.header("ETag", etag_v);
    res.header("Last-Modified", last_modified_v);
    if (!cache_control_.empty()) res.header("Cache-Control", cache_control_);
  };

  switch (evaluate_preconditions(req, etag_v, modified)) {
    case Precondition::failed:
      ::close(fd);
      return plain_status(res, 412);
    case Precondition::not_modified:
      ::close(fd);
      res.status(304);
      validators();
      return;
    case Precondition::proceed:
      break;
  }

  const std::string_view type = mime_type(name);
  res.header("Accept-Ranges", "bytes");
  validators();

  const ByteRange range =
      req.method() == "GET" ? requested_range(req, size, etag_v, modified) : ByteRange{};
  char content_range_buf[content_range_size];
  if (range.kind == ByteRange::Kind::unsatisfiable) {
    ::close(fd);
    res.header("Content-Range", content_range(range, size, content_range_buf));
    return plain_status(res, 416);
  }
  if (range.kind == ByteRange::Kind::satisfiable) {
    res.status(206);
    res.header("Content-Range", content_range(range, size, content_range_buf));
    res.file(fd, range.first, range.last - range.first + 1, type);
    return;
  }
  res.file(fd, 0, size, type);  // HEAD too: the writer sends no body and closes fd
}

}  // namespace lithe::handlers::files
