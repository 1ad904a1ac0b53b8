// The pid file (server.pid_file): written after binding, removed when the server stops or when
// a reload names another path (as nginx does: the new file is written first, then the old one
// goes).
#pragma once

#include <string>

namespace lithe::server {

class PidFile {
 public:
  PidFile() = default;
  // Throws std::system_error when the file cannot be written.
  explicit PidFile(std::string path);
  ~PidFile();
  PidFile(PidFile&& other) noexcept;
  PidFile& operator=(PidFile&& other) noexcept;

 private:
  std::string path_;  // empty: no file (none configured, or it could not be written)
};

}  // namespace lithe::server
