#include "handlers/files/beneath.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#define LITHE_HAVE_OPENAT2 1
#endif

#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>

namespace lithe::handlers::files {

namespace {
// O_NONBLOCK: opening a FIFO must not wait for a writer (the handler refuses it after fstat).
constexpr int kOpenFlags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
constexpr int kMaxSymlinks = 40;  // the kernel's own limit
constexpr int kMaxDepth = 64;     // directory levels the portable walker keeps open
}  // namespace

Beneath::Beneath(int root_fd) : root_fd_(root_fd), openat2_(probe_openat2(root_fd)) {}

Beneath::~Beneath() {
  if (root_fd_ >= 0) ::close(root_fd_);
}

bool Beneath::probe_openat2(int root_fd) {
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

int Beneath::open(const char* path) const {
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
  return walk(path);
}

// One openat per segment with O_NOFOLLOW, symlinks expanded by hand, `..` (only ever from a
// symlink's target) popping a stack of the directories walked, never above root. Every open
// descriptor but root's is closed on the way out.
int Beneath::walk(const char* path) const {
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

}  // namespace lithe::handlers::files
