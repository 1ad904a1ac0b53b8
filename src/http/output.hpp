// A batch of rendered responses waiting for one gather write: bytes copied into an owned
// buffer, large bodies referenced where they live, file bodies sent with sendfile. seal()
// turns the segments into an iovec array in which a file body is an entry with a null base.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace lithe::http {

class OutputBuffer {
 public:
  // Bodies at least this long are referenced instead of copied.
  static constexpr std::size_t reference_threshold = 4096;

  OutputBuffer() {
    bytes_.reserve(16 * 1024);
    // Every per-segment array gets the same room: which pooled buffer takes a deep batch
    // depends on timing, and none should grow on its first.
    segments_.reserve(64);
    iov_.reserve(64);
    iov_segment_.reserve(64);
    file_offsets_.reserve(64);
  }
  ~OutputBuffer() { clear(); }
  OutputBuffer(const OutputBuffer&) = delete;
  OutputBuffer& operator=(const OutputBuffer&) = delete;

  void append(std::string_view s) {
    if (s.empty()) return;
    if (segments_.empty() || segments_.back().kind != Kind::owned)
      segments_.push_back({Kind::owned, bytes_.size(), 0, nullptr, -1, false});
    bytes_.insert(bytes_.end(), s.begin(), s.end());
    segments_.back().length += s.size();
    size_ += s.size();
  }

  // s must stay valid until the batch is sent.
  void reference(std::string_view s) {
    if (s.size() < reference_threshold) return append(s);
    segments_.push_back({Kind::external, 0, s.size(), s.data(), -1, false});
    size_ += s.size();
  }

  // length bytes of fd from offset, sent with sendfile; fd is closed after sending (or on
  // clear()) when close_after is set.
  void file(int fd, uint64_t offset, std::size_t length, bool close_after) {
    if (length == 0) {
      if (close_after) release_fd(fd);
      return;
    }
    segments_.push_back(
        {Kind::file, static_cast<std::size_t>(offset), length, nullptr, fd, close_after});
    size_ += length;
  }

  bool empty() const { return segments_.empty(); }
  std::size_t pending_bytes() const { return pending_; }
  // Bytes not yet sent: all of them until seal(), then what advance() has not taken.
  std::size_t unsent() const { return sealed_ ? pending_ : size_; }

  // Freezes the batch into an iovec array (call once, after the last append).
  void seal();
  // The iovecs still to send; a file entry has iov_base == nullptr.
  iovec* iov() { return iov_.data() + iov_pos_; }
  int iov_count() const { return static_cast<int>(iov_.size() - iov_pos_); }
  // How many leading entries are memory (sendmsg-able) before the next file entry.
  int memory_run() const;
  // The file entry at the front: its descriptor and current offset.
  int front_fd() const;
  off_t* front_offset();
  // Marks n bytes as sent; true when everything is.
  bool advance(std::size_t n);

  // Drops everything (closing owned descriptors); keeps capacity.
  void clear();

  // Room for the message header of a gather write queued now and made later (io_uring).
  msghdr& message() { return message_; }

 private:
  enum class Kind : uint8_t { owned, external, file };
  struct Segment {
    Kind kind;
    std::size_t offset;  // into bytes_ when owned; file offset when file
    std::size_t length;
    const char* data;  // when external
    int fd;            // when file
    bool close_after;
  };
  static void release_fd(int fd);

  std::vector<char> bytes_;
  std::vector<Segment> segments_;
  std::vector<iovec> iov_;
  std::vector<std::size_t> iov_segment_;  // iov index → segment index (files need theirs)
  std::vector<off_t> file_offsets_;       // per iov entry, the file offset (files only)
  std::size_t iov_pos_ = 0;
  std::size_t pending_ = 0;
  std::size_t size_ = 0;  // bytes appended, referenced or sent from files
  bool sealed_ = false;
  msghdr message_{};
};

}  // namespace lithe::http
