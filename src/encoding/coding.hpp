// The content codings lithe can send (RFC 9110 §8.4.1), by the names HTTP gives them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lithe::encoding {

enum class Coding : uint8_t { identity = 0, gzip, br, zstd };
inline constexpr std::size_t coding_count = 4;

// The coding's token in Content-Encoding and Accept-Encoding ("identity", "gzip", "br", "zstd").
std::string_view name(Coding c);
// A token as a client or a config writes it, ASCII case-insensitive; "x-gzip" is gzip, as
// RFC 9110 §8.4.1.3 asks. Nothing for a coding lithe does not know.
std::optional<Coding> parse_coding(std::string_view token);
// The codings a list of names (compression.encodings) holds, in its order; names lithe does not
// know are left out (the config loader refuses them first).
std::vector<Coding> parse_codings(const std::vector<std::string>& list);
// The suffix of a precompressed sidecar file (".gz", ".br", ".zst"; "" for identity).
std::string_view file_suffix(Coding c);

// Whether a content type ("text/html; charset=utf-8") is one of types (compression.types:
// "type/subtype" or "type/*"), parameters aside and ASCII case ignored.
bool compressible(const std::vector<std::string>& types, std::string_view content_type);

}  // namespace lithe::encoding
