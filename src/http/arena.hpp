// A bump allocator for per-request bytes (split fields, decoded params, extra headers).
// reset() keeps the largest block, so a warmed-up arena never touches the heap again.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace lithe::http {

class Arena {
 public:
  explicit Arena(std::size_t first_block = 4096) : block_size_(first_block) {}

  // Uninitialised bytes, valid until reset().
  char* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(end_ - cur_)) grow(n);
    char* p = cur_;
    cur_ += n;
    last_ = p;
    return p;
  }

  std::string_view copy(std::string_view s) {
    if (s.empty()) return {};
    char* p = allocate(s.size());
    std::memcpy(p, s.data(), s.size());
    return {p, s.size()};
  }

  // head + tail as one string; extends head in place when it is the newest allocation.
  std::string_view append(std::string_view head, std::string_view tail) {
    if (!head.empty() && head.data() == last_ && head.data() + head.size() == cur_ &&
        tail.size() <= static_cast<std::size_t>(end_ - cur_)) {
      std::memcpy(cur_, tail.data(), tail.size());
      cur_ += tail.size();
      return {head.data(), head.size() + tail.size()};
    }
    char* p = allocate(head.size() + tail.size());
    std::memcpy(p, head.data(), head.size());
    std::memcpy(p + head.size(), tail.data(), tail.size());
    return {p, head.size() + tail.size()};
  }

  // Does p point into memory this arena handed out?
  bool owns(const char* p) const {
    for (const auto& b : blocks_)
      if (p >= b.data.get() && p < b.data.get() + b.size) return true;
    return false;
  }

  void reset() {
    if (blocks_.size() > 1) {
      // Keep only the largest block (the newest: blocks grow) for the next request.
      Block keep = std::move(blocks_.back());
      blocks_.clear();
      blocks_.push_back(std::move(keep));
    }
    if (blocks_.empty()) {
      cur_ = end_ = last_ = nullptr;
    } else {
      cur_ = blocks_.back().data.get();
      end_ = cur_ + blocks_.back().size;
      last_ = nullptr;
    }
  }

 private:
  struct Block {
    std::unique_ptr<char[]> data;
    std::size_t size;
  };

  void grow(std::size_t n) {
    std::size_t size = block_size_;
    while (size < n) size *= 2;
    block_size_ = size * 2;
    blocks_.push_back({std::make_unique_for_overwrite<char[]>(size), size});
    cur_ = blocks_.back().data.get();
    end_ = cur_ + size;
  }

  std::vector<Block> blocks_;
  std::size_t block_size_;   // size of the next block to allocate
  char* cur_ = nullptr;      // next free byte
  char* end_ = nullptr;      // end of the current block
  char* last_ = nullptr;     // start of the newest allocation (for append in place)
};

}  // namespace lithe::http
