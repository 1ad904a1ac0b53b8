// Opening a path without leaving a root directory. The root is opened once at load and every
// path is resolved relative to that descriptor, never as a string joined to the root's name:
// with openat2(RESOLVE_BENEATH), or, where the kernel lacks it, a walk one segment at a time
// with O_NOFOLLOW that applies the same rules by hand.
//
// Symlinks are followed while they stay inside root (a relative target that never climbs above
// root); one that leaves root, or has an absolute target, fails with EXDEV. This is exactly
// RESOLVE_BENEATH's rule, so both resolvers answer the same.
#pragma once

namespace lithe::handlers::files {

class Beneath {
 public:
  // Takes root_fd (an O_PATH directory, or -1: every open fails with ENOENT).
  explicit Beneath(int root_fd);
  ~Beneath();
  Beneath(const Beneath&) = delete;
  Beneath& operator=(const Beneath&) = delete;

  // Opens path (relative to root, "" for root itself) read-only and non-blocking, without
  // leaving root; -1 with errno.
  int open(const char* path) const;

 private:
  static bool probe_openat2(int root_fd);
  int walk(const char* path) const;  // the portable resolver

  int root_fd_;
  bool openat2_;
};

}  // namespace lithe::handlers::files
