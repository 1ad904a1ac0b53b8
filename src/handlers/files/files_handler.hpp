// `files`: static files under a root directory, sent with sendfile.
//
// A request's path is checked segment by segment (path.hpp), opened without leaving root
// (beneath.hpp), answered with its validators, preconditions (conditional.hpp) and one byte
// range (range.hpp). Per request nothing touches the heap: paths and header values are built
// in stack buffers and res.header() copies them into the request arena.
#pragma once

#include <string>

#include "handlers/files/beneath.hpp"
#include "handlers/handler.hpp"

namespace lithe::handlers::files {

class FilesHandler final : public Handler {
 public:
  // root_fd: the root directory, opened O_PATH (owned; -1 answers every request with 404).
  // cache_control: "max-age=N", or empty.
  FilesHandler(int root_fd, std::string index, std::string cache_control, bool dotfiles)
      : root_(root_fd),
        index_(std::move(index)),
        cache_control_(std::move(cache_control)),
        dotfiles_(dotfiles) {}

  void handle(const lithe::Request& req, lithe::Response& res) override;

 private:
  Beneath root_;
  std::string index_;          // the file a directory's path serves
  std::string cache_control_;  // sent with the validators when set
  bool dotfiles_;              // whether hidden segments may be served
};

}  // namespace lithe::handlers::files
