#include "http/output.hpp"

namespace lithe::http {

void OutputBuffer::seal() {
  iov_.clear();
  iov_pos_ = 0;
  pending_ = 0;
  for (const Segment& s : segments_) {
    char* base = s.external ? const_cast<char*>(s.data) : bytes_.data() + s.offset;
    iov_.push_back({base, s.length});
    pending_ += s.length;
  }
}

bool OutputBuffer::advance(std::size_t n) {
  pending_ -= n;
  while (n > 0 && iov_pos_ < iov_.size()) {
    iovec& v = iov_[iov_pos_];
    if (n >= v.iov_len) {
      n -= v.iov_len;
      ++iov_pos_;
    } else {
      v.iov_base = static_cast<char*>(v.iov_base) + n;
      v.iov_len -= n;
      n = 0;
    }
  }
  return pending_ == 0;
}

}  // namespace lithe::http
