#include "http/output.hpp"

#include <unistd.h>

namespace lithe::http {

void OutputBuffer::release_fd(int fd) {
  ::close(fd);
}

void OutputBuffer::seal() {
  iov_.clear();
  iov_segment_.clear();
  file_offsets_.clear();
  iov_pos_ = 0;
  pending_ = 0;
  sealed_ = true;
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    const Segment& s = segments_[i];
    char* base = nullptr;
    if (s.kind == Kind::owned) base = bytes_.data() + s.offset;
    if (s.kind == Kind::external) base = const_cast<char*>(s.data);
    iov_.push_back({base, s.length});
    iov_segment_.push_back(i);
    file_offsets_.push_back(s.kind == Kind::file ? static_cast<off_t>(s.offset) : 0);
    pending_ += s.length;
  }
}

int OutputBuffer::memory_run() const {
  int n = 0;
  for (std::size_t i = iov_pos_; i < iov_.size() && iov_[i].iov_base != nullptr; ++i) ++n;
  return n;
}

int OutputBuffer::front_fd() const {
  return segments_[iov_segment_[iov_pos_]].fd;
}

off_t* OutputBuffer::front_offset() {
  return &file_offsets_[iov_pos_];
}

bool OutputBuffer::advance(std::size_t n) {
  pending_ -= n;
  while (n > 0 && iov_pos_ < iov_.size()) {
    iovec& v = iov_[iov_pos_];
    if (n >= v.iov_len) {
      n -= v.iov_len;
      v.iov_len = 0;
      ++iov_pos_;
    } else {
      // sendfile moves the file offset itself; memory entries move their base.
      if (v.iov_base) v.iov_base = static_cast<char*>(v.iov_base) + n;
      v.iov_len -= n;
      n = 0;
    }
  }
  return pending_ == 0;
}

void OutputBuffer::clear() {
  for (const Segment& s : segments_)
    if (s.kind == Kind::file && s.close_after) release_fd(s.fd);
  bytes_.clear();
  segments_.clear();
  iov_.clear();
  iov_segment_.clear();
  file_offsets_.clear();
  iov_pos_ = 0;
  pending_ = 0;
  size_ = 0;
  sealed_ = false;
}

}  // namespace lithe::http
