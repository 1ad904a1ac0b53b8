// A streamed body compressed as it is written (Response::compressed_stream): each piece is
// flushed at once, so a client decodes an event or a line when it arrives, and the coding's
// state is kept small, since a server may hold thousands of open streams.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "encoding/coding.hpp"

namespace lithe::encoding {

class StreamCompressor {
 public:
  // A compressor for coding (gzip: zlib level 6 with an 8 KiB window; br: quality 3 with a
  // 64 KiB window; zstd: level 3 with a 64 KiB window and 16K-entry tables), or null for
  // identity. Throws std::bad_alloc when the library cannot set up its state.
  static std::unique_ptr<StreamCompressor> make(Coding coding);
  virtual ~StreamCompressor() = default;

  // piece, compressed and flushed; valid until the next call.
  std::string_view write(std::string_view piece) {
    out_.clear();
    compress(piece, false, out_);
    return out_;
  }
  // The end of the stream (what tells the client the body is whole); valid until the next call.
  std::string_view finish() {
    out_.clear();
    compress({}, true, out_);
    return out_;
  }
  // Bytes this stream's compression holds now: the library's window, tables and buffers, and
  // the last piece's output.
  std::size_t memory() const { return state_memory() + out_.capacity(); }

 protected:
  // What the library holds (counted through allocate/release unless a coding says otherwise).
  virtual std::size_t state_memory() const { return memory_; }
  // Appends piece to out, flushed, or the stream's end when last.
  virtual void compress(std::string_view piece, bool last, std::string& out) = 0;
  // zlib and brotli allocate through these, so that memory() counts exactly what they hold.
  static void* allocate(void* self, std::size_t size);
  static void release(void* self, void* p);

 private:
  std::size_t memory_ = 0;
  std::string out_;  // the last piece's output (its capacity is kept for the next)
};

}  // namespace lithe::encoding
