#include "encoding/stream_compressor.hpp"

#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include <cstddef>
#include <cstdlib>
#include <new>

namespace lithe::encoding {

// Each block carries its size in front, so release() can give the count back.
void* StreamCompressor::allocate(void* self, std::size_t size) {
  auto* block = static_cast<std::size_t*>(std::malloc(size + sizeof(std::max_align_t)));
  if (!block) return nullptr;
  *block = size;
  static_cast<StreamCompressor*>(self)->memory_ += size;
  return reinterpret_cast<char*>(block) + sizeof(std::max_align_t);
}

void StreamCompressor::release(void* self, void* p) {
  if (!p) return;
  auto* block = reinterpret_cast<std::size_t*>(static_cast<char*>(p) - sizeof(std::max_align_t));
  static_cast<StreamCompressor*>(self)->memory_ -= *block;
  std::free(block);
}

namespace {

// Output is produced in steps of this many bytes, appended to the caller's string.
constexpr std::size_t step = 4096;

class Gzip final : public StreamCompressor {
 public:
  Gzip() {
    z_.zalloc = [](void* self, uInt n, uInt size) {
      return allocate(self, static_cast<std::size_t>(n) * size);
    };
    z_.zfree = [](void* self, void* p) { release(self, p); };
    z_.opaque = this;
    // windowBits 13 + 16 (gzip wrapper), memLevel 6: 8 KiB of window and 32 KiB of hash.
    if (deflateInit2(&z_, 6, Z_DEFLATED, 13 + 16, 6, Z_DEFAULT_STRATEGY) != Z_OK)
      throw std::bad_alloc();
  }
  ~Gzip() override { deflateEnd(&z_); }
  void compress(std::string_view piece, bool last, std::string& out) override {
    run(piece, last ? Z_FINISH : Z_SYNC_FLUSH, out);
  }

 private:
  void run(std::string_view in, int flush, std::string& out) {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    do {
      const std::size_t at = out.size();
      out.resize(at + step);
      z_.next_out = reinterpret_cast<Bytef*>(out.data() + at);
      z_.avail_out = static_cast<uInt>(step);
      deflate(&z_, flush);
      out.resize(out.size() - z_.avail_out);
    } while (z_.avail_out == 0);  // a full step: there may be more
  }

  z_stream z_{};
};

class Brotli final : public StreamCompressor {
 public:
  Brotli()
      : state_(BrotliEncoderCreateInstance(
            [](void* self, std::size_t size) { return allocate(self, size); },
            [](void* self, void* p) { release(self, p); }, this)) {
    if (!state_) throw std::bad_alloc();
    BrotliEncoderSetParameter(state_, BROTLI_PARAM_QUALITY, 3);
    BrotliEncoderSetParameter(state_, BROTLI_PARAM_LGWIN, 16);
    BrotliEncoderSetParameter(state_, BROTLI_PARAM_LGBLOCK, 16);
  }
  ~Brotli() override { BrotliEncoderDestroyInstance(state_); }
  void compress(std::string_view piece, bool last, std::string& out) override {
    run(piece, last ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_FLUSH, out);
  }

 private:
  void run(std::string_view in, BrotliEncoderOperation op, std::string& out) {
    std::size_t avail_in = in.size();
    const auto* next_in = reinterpret_cast<const uint8_t*>(in.data());
    for (;;) {
      const std::size_t at = out.size();
      out.resize(at + step);
      std::size_t avail_out = step;
      auto* next_out = reinterpret_cast<uint8_t*>(out.data() + at);
      BrotliEncoderCompressStream(state_, op, &avail_in, &next_in, &avail_out, &next_out, nullptr);
      out.resize(out.size() - avail_out);
      if (avail_in == 0 && !BrotliEncoderHasMoreOutput(state_) &&
          (op != BROTLI_OPERATION_FINISH || BrotliEncoderIsFinished(state_)))
        break;
    }
  }

  BrotliEncoderState* state_;
};

class Zstd final : public StreamCompressor {
 public:
  Zstd() : cctx_(ZSTD_createCCtx()) {
    if (!cctx_) throw std::bad_alloc();
    // Level 3's search on small tables: the tables, not the window, are most of the state.
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, 3);
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_windowLog, 16);
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_hashLog, 14);
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_chainLog, 14);
  }
  ~Zstd() override { ZSTD_freeCCtx(cctx_); }
  void compress(std::string_view piece, bool last, std::string& out) override {
    run(piece, last ? ZSTD_e_end : ZSTD_e_flush, out);
  }
  // zstd's custom allocator is in its experimental API; its size query is stable.
  std::size_t state_memory() const override { return ZSTD_sizeof_CCtx(cctx_); }

 private:
  void run(std::string_view in, ZSTD_EndDirective mode, std::string& out) {
    ZSTD_inBuffer input{in.data(), in.size(), 0};
    for (;;) {
      const std::size_t at = out.size();
      out.resize(at + step);
      ZSTD_outBuffer output{out.data() + at, step, 0};
      const std::size_t left = ZSTD_compressStream2(cctx_, &output, &input, mode);
      out.resize(at + output.pos);
      if (ZSTD_isError(left)) throw std::bad_alloc();  // only allocation can fail here
      if (left == 0 && input.pos == input.size) break;
    }
  }

  ZSTD_CCtx* cctx_;
};

}  // namespace

std::unique_ptr<StreamCompressor> StreamCompressor::make(Coding coding) {
  switch (coding) {
    case Coding::gzip:
      return std::make_unique<Gzip>();
    case Coding::br:
      return std::make_unique<Brotli>();
    case Coding::zstd:
      return std::make_unique<Zstd>();
    case Coding::identity:
      break;
  }
  return nullptr;
}

}  // namespace lithe::encoding
