#include "handlers/files/files_handler.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <ctime>

#include "base/http_date.hpp"
#include "base/text.hpp"
#include "encoding/accept_encoding.hpp"
#include "handlers/files/conditional.hpp"
#include "handlers/files/path.hpp"
#include "handlers/files/range.hpp"
#include "handlers/mime.hpp"
#include "http/response.hpp"

namespace lithe::handlers::files {

namespace {
constexpr std::size_t max_suffix = 4;  // ".zst"

// Whole seconds: tools that copy the original's time to the sidecar (brotli, zstd, gzip -k)
// may keep only its seconds, and such a sidecar is as new as the file it was made from.
bool older(const struct stat& a, const struct stat& b) {
  return a.st_mtim.tv_sec < b.st_mtim.tv_sec;
}
}  // namespace

FilesHandler::FilesHandler(int root_fd, std::string index, std::string cache_control, bool dotfiles,
                           std::vector<encoding::Coding> sidecars,
                           const CompressionConfig& compression)
    : root_(root_fd),
      index_(std::move(index)),
      cache_control_(std::move(cache_control)),
      dotfiles_(dotfiles),
      sidecars_(std::move(sidecars)),
      compressible_(mime_type_count()) {
  // Decided here for every type lithe names, not per request.
  for (std::size_t i = 0; i < compressible_.size(); ++i)
    compressible_[i] = encoding::compressible(compression.types, mime_type_at(i));
}

encoding::Coding FilesHandler::open_sidecar(const lithe::Request& req, char* path, std::size_t n,
                                            int& fd, struct stat& st) const {
  // The first coding the client takes whose sidecar is usable is sent.
  const encoding::AcceptEncoding accept = encoding::AcceptEncoding::of(req.headers());
  for (const encoding::Coding c : accept.ranked(sidecars_)) {
    const std::string_view suffix = encoding::file_suffix(c);
    std::memcpy(path + n, suffix.data(), suffix.size());
    path[n + suffix.size()] = '\0';
    const int sidecar = root_.open(path);
    path[n] = '\0';
    if (sidecar < 0) continue;
    struct stat s {};
    if (::fstat(sidecar, &s) != 0 || !S_ISREG(s.st_mode) || older(s, st)) {
      ::close(sidecar);
      continue;
    }
    ::close(fd);
    fd = sidecar;
    st = s;
    return c;
  }
  return encoding::Coding::identity;
}

void FilesHandler::handle(const lithe::Request& req, lithe::Response& res) {
  auto params = req.params();
  if (params.empty() || has_escaped_separator(req.path())) return plain_status(res, 404);
  const std::string_view rel = params.back().value;

  // Room for "/" + index, a sidecar's suffix and NUL after the cleaned path.
  char path[PATH_MAX];
  const std::size_t reserve = index_.size() + 2 + max_suffix;
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

  // A compressible type may go as a sidecar; its responses vary with Accept-Encoding either way.
  const std::size_t type_index = mime_index(name);
  const std::string_view type = mime_type_at(type_index);
  const bool vary = !sidecars_.empty() && compressible_[type_index];
  const encoding::Coding coding =
      vary ? open_sidecar(req, path, n, fd, st) : encoding::Coding::identity;
  static_cast<http::ResponseImpl&>(res).set_coding(static_cast<uint8_t>(coding));

  // Validators, of what is sent. The size comes from this descriptor, so Content-Length
  // matches what it holds.
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
  if (coding != encoding::Coding::identity) {  // each coding a tag of its own
    const std::string_view c = encoding::name(coding);
    *e++ = '-';
    e = std::copy(c.begin(), c.end(), e);
  }
  *e++ = '"';
  const std::string_view etag_v(etag, static_cast<std::size_t>(e - etag));
  char last_modified[29];
  base::format_imf_fixdate(modified, last_modified);
  const std::string_view last_modified_v(last_modified, sizeof(last_modified));

  auto validators = [&] {
    if (vary) res.header("Vary", "Accept-Encoding");
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

  if (coding != encoding::Coding::identity) res.header("Content-Encoding", encoding::name(coding));
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
