// `files`: static files under a root directory, sent with sendfile.
//
// A request's path is checked segment by segment (path.hpp), opened without leaving root
// (beneath.hpp), answered with its validators, preconditions (conditional.hpp) and one byte
// range (range.hpp). A file whose type is worth compressing may be sent as a precompressed
// sidecar (app.js.br beside app.js) in the coding the client prefers. Per request nothing
// touches the heap: paths and header values are built in stack buffers and res.header() copies
// them into the request arena.
#pragma once

#include <sys/stat.h>

#include <string>
#include <vector>

#include "encoding/coding.hpp"
#include "handlers/files/beneath.hpp"
#include "handlers/handler.hpp"

namespace lithe::handlers::files {

class FilesHandler final : public Handler {
 public:
  // root_fd: the root directory, opened O_PATH (owned; -1 answers every request with 404).
  // cache_control: "max-age=N", or empty. sidecars: the codings whose sidecar files may be
  // sent (empty: none), in the server's order; compression: which types they apply to.
  FilesHandler(int root_fd, std::string index, std::string cache_control, bool dotfiles,
               std::vector<encoding::Coding> sidecars = {},
               const CompressionConfig& compression = {});

  void handle(const lithe::Request& req, lithe::Response& res) override;

 private:
  // Opens path + a sidecar suffix in the coding the request prefers, when there is a usable
  // one: a regular file beneath root, no older than the original (a stale one would serve old
  // bytes). On success fd and st are the sidecar's. path[n] stays the end of the original's.
  encoding::Coding open_sidecar(const lithe::Request& req, char* path, std::size_t n, int& fd,
                                struct stat& st) const;

  Beneath root_;
  std::string index_;                       // the file a directory's path serves
  std::string cache_control_;               // sent with the validators when set
  bool dotfiles_;                           // whether hidden segments may be served
  std::vector<encoding::Coding> sidecars_;  // precompressed = true: the codings to look for
  std::vector<bool> compressible_;          // by mime_index: may a sidecar be sent for it
};

}  // namespace lithe::handlers::files
