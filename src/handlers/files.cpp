// `files`: static files under a root directory, sent with sendfile.
//
// Containment: the root is opened once at load and every request path is resolved relative to
// that descriptor, never as a string joined to the root's name. The path (the route's `*name`
// parameter, percent-decoded once by the server) is checked segment by segment first: `.`,
// `..`, backslashes, NUL, and encoded '/', '\' or NUL in the raw target are refused. Opening
// then uses openat2(RESOLVE_BENEATH), or, where the kernel lacks it, a walk one segment at a
// time with O_NOFOLLOW that applies the same rules by hand.
//
// Symlinks: followed while they stay inside root (a relative target that never climbs above
// root); a link that leaves root, or has an absolute target, gives 404. This is exactly
// RESOLVE_BENEATH's rule, so both resolvers answer the same.
//
// Per request nothing touches the heap: paths and header values are built in stack buffers and
// res.header() copies them into the request arena.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#define LITHE_HAVE_OPENAT2 1
#endif

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>

#include "base/http_date.hpp"
#include "base/text.hpp"
#include "config/units.hpp"
#include "handlers/handler.hpp"
#include "handlers/mime.hpp"
#include "http/status.hpp"

namespace lithe::handlers {

namespace {

// O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused after fstat).
constexpr int kOpenFlags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
constexpr int kMaxSymlinks = 40;  // the kernel's own limit
constexpr int kMaxDepth = 64;     // directory levels the portable walker keeps open

// --- request field helpers ---

// An escaped '/', '\' or NUL anywhere in the raw path: after the server's single decoding they
// would pose as separators or cut the name short, so such targets are refused outright.
bool has_escaped_separator(std::string_view raw) {
  for (std::size_t i = 0; i + 2 < raw.size(); ++i) {
    if (raw[i] != '%' || !base::is_hex(raw[i + 1]) || !base::is_hex(raw[i + 2])) continue;
    int v = base::hex_value(raw[i + 1]) * 16 + base::hex_value(raw[i + 2]);
    if (v == '/' || v == '\\' || v == 0) return true;
  }
  return false;
}

// Copies the decoded relative path into out as its non-empty segments joined by '/'. Refuses
// (nullopt) `.`, `..`, backslashes, NUL, hidden segments unless allowed, and paths that would
// not fit in cap bytes.
std::optional<std::size_t> clean_path(std::string_view rel, bool dotfiles, char* out,
                                      std::size_t cap) {
  std::size_t n = 0;
  while (!rel.empty()) {
    std::size_t slash = rel.find('/');
    std::string_view seg = rel.substr(0, slash);
    rel = slash == std::string_view::npos ? std::string_view{} : rel.substr(slash + 1);
    if (seg.empty()) continue;  // "a//b" and a leading or trailing '/'
    if (seg == "." || seg == "..") return std::nullopt;
    if (seg.front() == '.' && !dotfiles) return std::nullopt;
    if (seg.find('\\') != std::string_view::npos || seg.find('\0') != std::string_view::npos)
      return std::nullopt;
    if (n + seg.size() + 1 > cap) return std::nullopt;
    if (n) out[n++] = '/';
    std::memcpy(out + n, seg.data(), seg.size());
    n += seg.size();
  }
  return n;
}

// Weak comparison (RFC 9110 §8.8.3.2) of our strong tag against an If-None-Match list.
bool none_match(std::string_view list, std::string_view etag) {
  while (true) {
    while (!list.empty() && (list.front() == ' ' || list.front() == '\t' || list.front() == ','))
      list.remove_prefix(1);
    if (list.empty()) return false;
    if (list.front() == '*') return true;
    if (list.substr(0, 2) == "W/") list.remove_prefix(2);
    if (list.empty() || list.front() != '"') return false;  // malformed: stop looking
    std::size_t close = list.find('"', 1);
    if (close == std::string_view::npos) return false;
    if (list.substr(0, close + 1) == etag) return true;
    list.remove_prefix(close + 1);
  }
}

// Strong comparison against an If-Match list.
bool strong_match(std::string_view list, std::string_view etag) {
  while (true) {
    while (!list.empty() && (list.front() == ' ' || list.front() == '\t' || list.front() == ','))
      list.remove_prefix(1);
    if (list.empty()) return false;
    if (list.front() == '*') return true;
    bool weak = list.substr(0, 2) == "W/";
    if (weak) list.remove_prefix(2);
    if (list.empty() || list.front() != '"') return false;
    std::size_t close = list.find('"', 1);
    if (close == std::string_view::npos) return false;
    if (!weak && list.substr(0, close + 1) == etag) return true;
    list.remove_prefix(close + 1);
  }
}

struct ByteRange {
  enum class Kind : uint8_t { none, satisfiable, unsatisfiable };
  Kind kind = Kind::none;
  uint64_t first = 0;
  uint64_t last = 0;  // inclusive
};

bool parse_u64(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

// One `bytes=` range (RFC 9110 §14.1.2). Several ranges, another unit or bad syntax: none, so
// the whole file is sent with 200, which the RFC allows.
ByteRange parse_range(std::string_view value, uint64_t size) {
  value = base::trim_ows(value);
  if (value.size() < 6 || !base::iequals(value.substr(0, 6), "bytes=")) return {};
  std::string_view spec = base::trim_ows(value.substr(6));
  if (spec.find(',') != std::string_view::npos) return {};
  std::size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return {};
  std::string_view a = spec.substr(0, dash), b = spec.substr(dash + 1);
  uint64_t first = 0, last = 0;
  if (a.empty()) {  // -n: the last n bytes
    if (!parse_u64(b, last)) return {};
    if (last == 0 || size == 0) return {ByteRange::Kind::unsatisfiable};
    return {ByteRange::Kind::satisfiable, size - std::min(last, size), size - 1};
  }
  if (!parse_u64(a, first)) return {};
  if (b.empty()) {
    last = UINT64_MAX;
  } else if (!parse_u64(b, last) || last < first) {
    return {};
  }
  if (first >= size) return {ByteRange::Kind::unsatisfiable};
  return {ByteRange::Kind::satisfiable, first, std::min(last, size - 1)};
}

// --- the handler ---

class FilesHandler final : public Handler {
 public:
  FilesHandler(int root_fd, std::string index, std::string cache_control, bool dotfiles)
      : root_fd_(root_fd),
        index_(std::move(index)),
        cache_control_(std::move(cache_control)),
        dotfiles_(dotfiles),
        openat2_(probe_openat2(root_fd)) {}
  ~FilesHandler() override {
    if (root_fd_ >= 0) ::close(root_fd_);
  }
  FilesHandler(const FilesHandler&) = delete;
  FilesHandler& operator=(const FilesHandler&) = delete;

  void handle(const lithe::Request& req, http::ResponseImpl& res) override;

 private:
  static bool probe_openat2(int root_fd);
  // Opens path (relative to root, "" for root itself) without leaving root; -1 with errno.
  int open_beneath(const char* path) const;
  int walk_beneath(const char* path) const;

  int root_fd_;
  std::string index_;
  std::string cache_control_;  // "max-age=N", or empty
  bool dotfiles_;
  bool openat2_;
};

bool FilesHandler::probe_openat2(int root_fd) {
#ifdef LITHE_HAVE_OPENAT2
  if (root_fd < 0) return false;
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long fd = ::syscall(SYS_openat2, root_fd, ".", &how, sizeof(how));
  if (fd < 0) return false;  // ENOSYS on old kernels, EPERM/ENOSYS under some seccomp profiles
  ::close(static_cast<int>(fd));
  return true;
#else
  (void)root_fd;
  return false;
#endif
}

int FilesHandler::open_beneath(const char* path) const {
  if (root_fd_ < 0) {
    errno = ENOENT;
    return -1;
  }
  if (*path == '\0') path = ".";
#ifdef LITHE_HAVE_OPENAT2
  if (openat2_) {
    open_how how{};
    how.flags = kOpenFlags;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    for (int attempt = 0; attempt < 4; ++attempt) {
      long fd = ::syscall(SYS_openat2, root_fd_, path, &how, sizeof(how));
      if (fd >= 0) return static_cast<int>(fd);
      // EAGAIN: a concurrent rename raced the lookup; the kernel asks for a retry.
      if (errno != EAGAIN && errno != EINTR) return -1;
    }
    return -1;
  }
#endif
  return walk_beneath(path);
}

// The portable resolver: one openat per segment with O_NOFOLLOW, symlinks expanded by hand,
// `..` (only ever from a symlink's target) popping a stack of the directories walked, never
// above root. Every open descriptor but root's is closed on the way out.
int FilesHandler::walk_beneath(const char* path) const {
  char buf[PATH_MAX];
  char link[PATH_MAX];
  std::size_t len = std::strlen(path);
  if (len >= sizeof(buf)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  std::memcpy(buf, path, len + 1);
  int dirs[kMaxDepth];
  int depth = 0;
  dirs[0] = root_fd_;  // borrowed, never closed here
  auto unwind = [&](int err) {
    while (depth > 0) ::close(dirs[depth--]);
    errno = err;
    return -1;
  };
  int links = 0;
  std::size_t pos = 0;
  while (true) {
    while (pos < len && buf[pos] == '/') ++pos;
    if (pos == len) {
      // Ended on a directory (root, or a path ending in '/'): open it for the caller.
      int fd = ::openat(dirs[depth], ".", kOpenFlags);
      int err = errno;
      while (depth > 0) ::close(dirs[depth--]);
      errno = err;
      return fd;
    }
    std::size_t end = pos;
    while (end < len && buf[end] != '/') ++end;
    std::size_t rest = end;
    while (rest < len && buf[rest] == '/') ++rest;
    const bool last = rest == len;
    const bool trailing_slash = end < len;
    buf[end] = '\0';
    const char* seg = buf + pos;
    if (std::strcmp(seg, ".") == 0) {
      pos = rest;
      continue;
    }
    if (std::strcmp(seg, "..") == 0) {
      if (depth == 0) return unwind(EXDEV);  // would climb above root
      ::close(dirs[depth--]);
      pos = rest;
      continue;
    }
    int fd = last && !trailing_slash
                 ? ::openat(dirs[depth], seg, kOpenFlags | O_NOFOLLOW)
                 : ::openat(dirs[depth], seg, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      if (last && !trailing_slash) {
        while (depth > 0) ::close(dirs[depth--]);
        return fd;
      }
      if (depth + 1 >= kMaxDepth) {
        ::close(fd);
        return unwind(ENAMETOOLONG);
      }
      dirs[++depth] = fd;
      pos = rest;
      continue;
    }
    // ELOOP (final component) or ENOTDIR (O_PATH|O_NOFOLLOW on a link): maybe a symlink.
    int err = errno;
    if (err != ELOOP && err != ENOTDIR) return unwind(err);
    ssize_t n = ::readlinkat(dirs[depth], seg, link, sizeof(link));
    if (n < 0) return unwind(err);  // not a symlink: the original error stands
    if (n == 0 || static_cast<std::size_t>(n) >= sizeof(link)) return unwind(ENAMETOOLONG);
    if (link[0] == '/') return unwind(EXDEV);  // absolute targets leave root by definition
    if (++links > kMaxSymlinks) return unwind(ELOOP);
    // New remaining path: the link's target, then whatever followed the link.
    std::size_t tail = len - end;  // includes the '/' that followed, if any
    auto target = static_cast<std::size_t>(n);
    if (target + tail >= sizeof(buf)) return unwind(ENAMETOOLONG);
    if (tail) buf[end] = '/';
    std::memmove(buf + target, buf + end, tail);
    std::memcpy(buf, link, target);
    len = target + tail;
    buf[len] = '\0';
    pos = 0;
  }
}

// A short plain-text answer: 404 for anything missing or refused, 412, 416, 503.
void plain_status(http::ResponseImpl& res, int status) {
  res.status(status);
  res.body_view(http::reason_phrase(static_cast<uint16_t>(status)), "text/plain; charset=utf-8");
}

void FilesHandler::handle(const lithe::Request& req, http::ResponseImpl& res) {
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
  int fd = open_beneath(path);
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
    fd = open_beneath(path);
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
  const std::string_view method = req.method();
  const bool get = method == "GET", head = method == "HEAD";
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

  // Preconditions in RFC 9110 §13.2.2 order; several header lines of one list all count.
  bool has_if_match = false, if_match_ok = false, has_inm = false, inm_hit = false;
  for (const Header& h : req.headers()) {
    if (base::iequals(h.name, "If-Match")) {
      has_if_match = true;
      if_match_ok = if_match_ok || strong_match(h.value, etag_v);
    } else if (base::iequals(h.name, "If-None-Match")) {
      has_inm = true;
      inm_hit = inm_hit || none_match(h.value, etag_v);
    }
  }
  bool failed = has_if_match && !if_match_ok;
  if (!has_if_match) {
    if (auto since = base::parse_http_date(req.header("If-Unmodified-Since")); since)
      failed = modified > *since;
  }
  if (failed) {
    ::close(fd);
    return plain_status(res, 412);
  }
  bool not_modified = false;
  if (has_inm) {
    if (inm_hit && !get && !head) {
      ::close(fd);
      return plain_status(res, 412);
    }
    not_modified = inm_hit;
  } else if (get || head) {
    if (auto since = base::parse_http_date(req.header("If-Modified-Since")); since)
      not_modified = modified <= *since;
  }
  if (not_modified) {
    ::close(fd);
    res.status(304);
    validators();
    return;
  }

  const std::string_view type = mime_type(name);
  res.header("Accept-Ranges", "bytes");
  validators();

  ByteRange range;
  if (get) {
    std::string_view range_field = req.header("Range");
    if (!range_field.empty()) {
      range = parse_range(range_field, size);
      // If-Range: the range applies only to the representation the client already holds.
      std::string_view if_range = base::trim_ows(req.header("If-Range"));
      if (range.kind != ByteRange::Kind::none && !if_range.empty()) {
        bool same = false;
        if (if_range.front() == '"') {
          same = if_range == etag_v;
        } else if (auto date = base::parse_http_date(if_range); date) {
          same = *date == modified;
        }
        if (!same) range = {};
      }
    }
  }
  char content_range[80];
  char* cr = content_range;
  std::memcpy(cr, "bytes ", 6);
  cr += 6;
  if (range.kind == ByteRange::Kind::unsatisfiable) {
    ::close(fd);
    *cr++ = '*';
    *cr++ = '/';
    cr = std::to_chars(cr, content_range + sizeof(content_range), size).ptr;
    res.header("Content-Range", {content_range, static_cast<std::size_t>(cr - content_range)});
    return plain_status(res, 416);
  }
  if (range.kind == ByteRange::Kind::satisfiable) {
    char* const limit = content_range + sizeof(content_range);
    cr = std::to_chars(cr, limit, range.first).ptr;
    *cr++ = '-';
    cr = std::to_chars(cr, limit, range.last).ptr;
    *cr++ = '/';
    cr = std::to_chars(cr, limit, size).ptr;
    res.status(206);
    res.header("Content-Range", {content_range, static_cast<std::size_t>(cr - content_range)});
    res.file(fd, range.first, range.last - range.first + 1, type);
    return;
  }
  res.file(fd, 0, size, type);  // HEAD too: the writer sends no body and closes fd
}

// root is relative to the config file's directory, like every path a config names.
std::filesystem::path resolve(const Config& config, const std::string& file) {
  std::filesystem::path p(file);
  if (p.is_absolute() || config.source.empty() || config.source.front() == '<') return p;
  return std::filesystem::path(config.source).parent_path() / p;
}

}  // namespace

std::unique_ptr<Handler> make_files(BuildContext& ctx) {
  Options& o = ctx.options;
  const RouteConfig& route = o.route();
  if (route.path.find("/*") == std::string::npos)
    o.error(route.path_pos,
            "handler 'files' needs a route path ending in '*name' (the file's "
            "path below root), e.g. \"/static/*path\"");

  int root_fd = -1;
  const Value* root = o.get("root");
  if (!root) {
    o.error("handler 'files' needs the option 'root' (the directory to serve)");
  } else if (root->kind != Value::Kind::string || root->string.empty()) {
    o.error(root->pos, "route option 'root' must be a non-empty string");
  } else {
    std::string dir = resolve(o.config(), root->string).string();
    root_fd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) {
      int err = errno;
      struct stat st {};
      if (err == ENOTDIR || (::stat(dir.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)))
        o.error(root->pos, "root '" + root->string + "' is not a directory");
      else
        o.error(root->pos, "cannot open root '" + root->string + "': " + std::strerror(err));
    }
  }

  std::string index = "index.html";
  if (const Value* v = o.get("index")) {
    if (v->kind != Value::Kind::string || v->string.empty() || v->string == "." ||
        v->string == ".." ||
        v->string.find_first_of(std::string_view("/\\\0", 3)) != std::string::npos) {
      o.error(v->pos, "route option 'index' must be a file name (no '/')");
    } else {
      index = v->string;
    }
  }

  std::string cache_control;
  if (const Value* v = o.get("max_age")) {
    std::optional<std::chrono::milliseconds> age;
    if (v->kind == Value::Kind::string) age = config::parse_duration(v->string);
    if (!age) {
      o.error(v->pos, "route option 'max_age' must be a duration such as \"10m\" or \"1h\"");
    } else {
      cache_control = "max-age=" + std::to_string(age->count() / 1000);
    }
  }

  bool dotfiles = o.boolean("dotfiles").value_or(false);
  o.finish();
  return std::make_unique<FilesHandler>(root_fd, std::move(index), std::move(cache_control),
                                        dotfiles);
}

}  // namespace lithe::handlers
