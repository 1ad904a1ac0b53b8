// `upload`: a PUT (or POST) on a `*name` route writes its body to that name under `dir`
// (SPEC §9). The file is created unnamed (O_TMPFILE) in its directory and linked under its name
// only once the whole body is written, so nobody ever sees part of it, and an upload that fails
// or is abandoned leaves nothing: closing the descriptor frees the file.
//
// The name follows the `files` rules (path.hpp: no `.`, `..`, hidden segments or escaped
// separators; beneath.hpp: no way out of `dir`). Writes go to the page cache from the worker's
// loop, one piece per read; `fsync = true` waits for the disk before answering.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>

#include "handlers/files/beneath.hpp"
#include "handlers/files/path.hpp"
#include "handlers/handler.hpp"
#include "lithe/body_reader.hpp"

namespace lithe::handlers {

namespace {

// What a failed file operation tells the client: our resources are exhausted (503, 507), or
// the name cannot be a file there (409: a missing parent, a directory in its place).
int status_for(int err) {
  switch (err) {
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      return 503;
    case ENOSPC:
    case EDQUOT:
      return 507;
    case ENOENT:
    case ENOTDIR:
    case EISDIR:
    case EEXIST:
    case ENOTEMPTY:
      return 409;
    case EXDEV:  // a symlink out of dir
    case EACCES:
    case EPERM:
      return 403;
    default:
      return 500;
  }
}

// The answer to a finished upload: 201 with Location, 204 when it replaced a file, or the
// failure's status.
void answer_upload(lithe::Response& res, int status, std::string_view location) {
  if (status != 201 && status != 204) return plain_status(res, status);
  res.status(status);
  if (status == 201) res.header("Location", location);
}

struct UploadOptions {
  bool fsync = false;      // the file (and its directory entry) reach the disk before the answer
  bool overwrite = false;  // an existing file is replaced (204) instead of refused (409)
};

// One upload in progress: the unnamed file, the directory it goes into and the name it gets.
class Upload : public std::enable_shared_from_this<Upload> {
 public:
  Upload(int dir_fd, int file_fd, std::string name, UploadOptions options)
      : dir_(dir_fd), file_(file_fd), name_(std::move(name)), options_(options) {}
  ~Upload() { discard(); }
  Upload(const Upload&) = delete;
  Upload& operator=(const Upload&) = delete;

  // Streams the body in: ask for a piece, write it, ask again; the last one commits.
  void pull(lithe::BodyReader reader, lithe::Responder responder) {
    reader_ = std::move(reader);
    responder_ = std::move(responder);
    // The client went away, or the body failed (413, 400, 408): the file goes with the
    // descriptor. A weak reference: the Responder must not keep its own owner alive.
    responder_.on_cancel([weak = weak_from_this()] {
      if (auto self = weak.lock()) self->discard();
    });
    ask();
  }

  // Writes bytes; 0 or the errno of the failure.
  int write(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::write(file_, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return 0;
  }

  // Gives the complete file its name: 201, or 204 when it replaced one; else the failure.
  int commit() {
    if (options_.fsync && ::fsync(file_) != 0) return status_for(errno);
    // linkat through /proc needs no privilege, unlike AT_EMPTY_PATH.
    char self[32];
    std::snprintf(self, sizeof(self), "/proc/self/fd/%d", file_);
    int status = 201;
    if (::linkat(AT_FDCWD, self, dir_, name_.c_str(), AT_SYMLINK_FOLLOW) != 0) {
      if (errno != EEXIST || !options_.overwrite) return status_for(errno);
      // Replacing: link under a hidden name, then rename over the old file in one step, so a
      // reader sees the old file or the new one, never neither.
      std::string hidden = ".lithe-upload-" + std::to_string(std::random_device{}());
      if (::linkat(AT_FDCWD, self, dir_, hidden.c_str(), AT_SYMLINK_FOLLOW) != 0)
        return status_for(errno);
      if (::renameat(dir_, hidden.c_str(), dir_, name_.c_str()) != 0) {
        const int err = errno;
        ::unlinkat(dir_, hidden.c_str(), 0);
        return status_for(err);
      }
      status = 204;
    }
    if (options_.fsync && ::fsync(dir_) != 0) return status_for(errno);
    return status;
  }

  // Closes the unnamed file (it vanishes) and the directory.
  void discard() {
    if (file_ >= 0) ::close(file_), file_ = -1;
    if (dir_ >= 0) ::close(dir_), dir_ = -1;
  }

 private:
  void ask() {
    reader_.read([self = shared_from_this()](std::string_view piece, bool last) {
      self->on_piece(piece, last);
    });
  }

  void on_piece(std::string_view piece, bool last) {
    if (file_ < 0) return;
    if (const int err = write(piece); err != 0) return answer(status_for(err));
    if (!last) return ask();
    answer(commit());
  }

  // Answers, and lets the file go unless commit() linked it (then it stays, named).
  void answer(int status) {
    answer_upload(responder_.response(), status, responder_.request().path());
    discard();
    responder_.send();
  }

  int dir_;
  int file_;
  std::string name_;       // the last segment, inside dir_
  UploadOptions options_;  // a copy: a reload may retire the handler mid-upload
  lithe::BodyReader reader_;
  lithe::Responder responder_;
};

class UploadHandler final : public Handler {
 public:
  UploadHandler(int dir_fd, UploadOptions options) : root_(dir_fd), options_(options) {}

  void handle(const lithe::Request& req, lithe::Response& res) override {
    auto params = req.params();
    if (params.empty() || files::has_escaped_separator(req.path())) return plain_status(res, 400);
    const std::string_view rel = params.back().value;
    char path[PATH_MAX];
    auto cleaned = files::clean_path(rel, false, path, sizeof(path));
    // A name that is refused, empty, or ends in '/' (a directory) cannot be a file.
    if (!cleaned || *cleaned == 0 || rel.back() == '/') return plain_status(res, 400);
    const std::size_t n = *cleaned;
    path[n] = '\0';

    // The parent directory, opened without leaving dir; the name stays a single segment.
    char* slash = std::strrchr(path, '/');
    std::string name(slash ? slash + 1 : path);
    if (slash) *slash = '\0';
    const int dir = root_.open(slash ? path : "");
    if (dir < 0) return plain_status(res, status_for(errno));
    struct stat st {};
    if (::fstat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
      ::close(dir);
      return plain_status(res, 409);
    }
    // Refused before a body byte is read (and before 100 Continue): a directory in the way,
    // or a file that may not be replaced. The link at the end checks again.
    if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        (S_ISDIR(st.st_mode) || !options_.overwrite)) {
      ::close(dir);
      return plain_status(res, 409);
    }
    const int file = ::openat(dir, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
    if (file < 0) {
      const int err = errno;
      ::close(dir);
      return plain_status(res, status_for(err));
    }
    auto upload = std::make_shared<Upload>(dir, file, std::move(name), options_);

    lithe::BodyReader reader = res.body_reader();
    if (reader.active()) return upload->pull(std::move(reader), res.defer());
    // A route with body = "buffer": the body is here already.
    const int err = upload->write(req.body());
    answer_upload(res, err != 0 ? status_for(err) : upload->commit(), req.path());
  }

 private:
  files::Beneath root_;
  UploadOptions options_;
};

}  // namespace

std::unique_ptr<Handler> make_upload(BuildContext& ctx) {
  Options& o = ctx.options;
  o.require_file_path("dir", "/files/*name");
  const int dir = o.directory("dir", "the directory uploads go to");
  if (dir >= 0) {
    // Uploads need unnamed files in dir: a file system without them (or a dir lithe may not
    // write to) is found at load, not on the first upload.
    const int probe = ::openat(dir, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (probe < 0) {
      const Value* v = o.get("dir");
      o.error(v->pos, "cannot create files in dir '" + v->string +
                          "' (O_TMPFILE): " + std::strerror(errno));
    } else {
      ::close(probe);
    }
  }
  UploadOptions options;
  options.fsync = o.boolean("fsync").value_or(false);
  options.overwrite = o.boolean("overwrite").value_or(false);
  o.finish();
  return std::make_unique<UploadHandler>(dir, options);
}

}  // namespace lithe::handlers
