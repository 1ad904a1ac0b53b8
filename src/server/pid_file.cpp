#include "server/pid_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>
#include <utility>

namespace lithe::server {

PidFile::PidFile(std::string path) : path_(std::move(path)) {
  if (path_.empty()) return;
  std::FILE* f = std::fopen(path_.c_str(), "we");
  if (!f) throw std::system_error(errno, std::generic_category(), "cannot write " + path_);
  std::fprintf(f, "%d\n", static_cast<int>(::getpid()));
  std::fclose(f);
}

PidFile::~PidFile() {
  if (!path_.empty()) ::unlink(path_.c_str());
}

PidFile::PidFile(PidFile&& other) noexcept : path_(std::exchange(other.path_, {})) {}

PidFile& PidFile::operator=(PidFile&& other) noexcept {
  if (this != &other) {
    if (!path_.empty()) ::unlink(path_.c_str());
    path_ = std::exchange(other.path_, {});
  }
  return *this;
}

}  // namespace lithe::server
