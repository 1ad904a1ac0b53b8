// Whole bodies compressed once, at load, at each coding's highest level: the cost is paid
// once per config, and every response after that is a smaller copy for free.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "encoding/coding.hpp"

namespace lithe::encoding {

// data in coding: gzip at level 9 (zlib), br at quality 11 (brotli), zstd at level 22 with a
// window of at most 8 MiB, what RFC 8878 §3.1.1.1.2 lets an HTTP client refuse beyond.
// identity returns data. Throws std::runtime_error if the library fails (out of memory).
std::string compress(Coding coding, std::string_view data);

// The CRC-32 of data (zlib's), for entity tags that change with the bytes they name.
uint32_t crc32(std::string_view data);

}  // namespace lithe::encoding
