// A batch of rendered responses waiting for one gather write: bytes copied into an owned
// buffer, large bodies referenced where they live. Segments become an iovec array at send time.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <string_view>
#include <vector>

namespace lithe::http {

class OutputBuffer {
 public:
  // Bodies at least this long are referenced instead of copied.
  static constexpr std::size_t reference_threshold = 4096;

  OutputBuffer() {
    bytes_.reserve(16 * 1024);
    segments_.reserve(64);
    iov_.reserve(64);
  }

  void append(std::string_view s) {
    if (s.empty()) return;
    if (segments_.empty() || segments_.back().external) segments_.push_back({false, bytes_.size(), 0, nullptr});
    bytes_.insert(bytes_.end(), s.begin(), s.end());
    segments_.back().length += s.size();
  }

  // s must stay valid until the batch is sent.
  void reference(std::string_view s) {
    if (s.size() < reference_threshold) return append(s);
    segments_.push_back({true, 0, s.size(), s.data()});
  }

  bool empty() const { return segments_.empty(); }
  std::size_t pending_bytes() const { return pending_; }

  // Freezes the batch into an iovec array (call once, after the last append).
  void seal();
  // The iovecs still to send.
  iovec* iov() { return iov_.data() + iov_pos_; }
  int iov_count() const { return static_cast<int>(iov_.size() - iov_pos_); }
  // Marks n bytes as sent; true when everything is.
  bool advance(std::size_t n);

  // Drops everything; keeps capacity.
  void clear() {
    bytes_.clear();
    segments_.clear();
    iov_.clear();
    iov_pos_ = 0;
    pending_ = 0;
  }

 private:
  struct Segment {
    bool external;
    std::size_t offset;  // into bytes_ when owned
    std::size_t length;
    const char* data;    // when external
  };
  std::vector<char> bytes_;
  std::vector<Segment> segments_;
  std::vector<iovec> iov_;
  std::size_t iov_pos_ = 0;
  std::size_t pending_ = 0;
};

}  // namespace lithe::http
