// Content codings (src/encoding/): the Accept-Encoding table of tests/conformance, and bodies
// compressed by lithe that the gzip, brotli and zstd command-line tools decode byte for byte.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "encoding/accept_encoding.hpp"
#include "encoding/coding.hpp"
#include "encoding/compress.hpp"
#include "encoding/stream_compressor.hpp"

namespace lithe::encoding {
namespace {

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// A comma-separated list of codings ("zstd, br, gzip"), as an `offered:` line writes it.
std::vector<Coding> codings(const std::string& list) {
  std::vector<Coding> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (trim(item).empty()) continue;
    auto c = parse_coding(trim(item));
    if (!c) throw std::runtime_error("unknown coding " + item);
    out.push_back(*c);
  }
  return out;
}

TEST(AcceptEncoding, EveryCaseOfTheTable) {
  std::ifstream file(LITHE_ACCEPT_ENCODING_CASES);
  ASSERT_TRUE(file) << LITHE_ACCEPT_ENCODING_CASES;
  std::vector<Coding> offered;
  std::string line;
  int number = 0, cases = 0;
  while (std::getline(file, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("offered:", 0) == 0) {
      offered = codings(line.substr(8));
      continue;
    }
    const auto arrow = line.find("<-");
    ASSERT_NE(arrow, std::string::npos) << "line " << number << ": " << line;
    auto expected = parse_coding(trim(line.substr(0, arrow)));
    ASSERT_TRUE(expected) << "line " << number;
    AcceptEncoding accept;
    std::string rest = line.substr(arrow + 2);
    for (std::size_t open = rest.find('"'); open != std::string::npos; open = rest.find('"')) {
      const std::size_t close = rest.find('"', open + 1);
      ASSERT_NE(close, std::string::npos) << "line " << number;
      accept.add(rest.substr(open + 1, close - open - 1));
      rest = rest.substr(close + 1);
    }
    EXPECT_EQ(name(accept.choose(offered)), name(*expected))
        << "accept_encoding.txt:" << number << ": " << line;
    // ranked() tries first what choose() sends, and is empty when that is identity.
    const Ranked r = accept.ranked(offered);
    EXPECT_EQ(name(r.count ? r.codings[0] : Coding::identity), name(*expected))
        << "accept_encoding.txt:" << number << ": " << line;
    ++cases;
  }
  EXPECT_GT(cases, 50);
}

// The order a precompressed file's sidecars are tried in.
std::string ranked(const std::string& field) {
  AcceptEncoding accept;
  accept.add(field);
  std::string out;
  for (Coding c : accept.ranked(codings("zstd, br, gzip")))
    out += (out.empty() ? "" : " ") + std::string(name(c));
  return out;
}

TEST(AcceptEncoding, RankedByWeightThenTheServersOrder) {
  EXPECT_EQ(ranked("gzip;q=0.5, br, zstd;q=0.5"), "br zstd gzip");
  EXPECT_EQ(ranked("gzip, br, zstd"), "zstd br gzip");
  EXPECT_EQ(ranked("gzip, identity;q=0.8, br;q=0.5"), "gzip");
  EXPECT_EQ(ranked("*;q=0.3, gzip;q=0"), "zstd br");
  EXPECT_EQ(ranked("identity"), "");
  EXPECT_EQ(ranked(""), "");
}

TEST(AcceptEncoding, EveryFieldOfARequestMakesOneList) {
  struct Field {
    std::string name, value;
  };
  const std::vector<Field> headers = {
      {"accept-encoding", "gzip;q=0.5"}, {"Host", "a"}, {"ACCEPT-ENCODING", "br, zstd;q=0.2"}};
  const AcceptEncoding accept = AcceptEncoding::of(headers);
  EXPECT_EQ(accept.weight(Coding::gzip), 500);
  EXPECT_EQ(accept.weight(Coding::br), 1000);
  EXPECT_EQ(accept.weight(Coding::zstd), 200);
  EXPECT_EQ(AcceptEncoding::of(std::vector<Field>{{"Host", "gzip"}}).weight(Coding::gzip), -1);
}

TEST(AcceptEncoding, QValues) {
  EXPECT_EQ(parse_qvalue("1"), 1000);
  EXPECT_EQ(parse_qvalue("1."), 1000);
  EXPECT_EQ(parse_qvalue("1.000"), 1000);
  EXPECT_EQ(parse_qvalue("0"), 0);
  EXPECT_EQ(parse_qvalue("0.5"), 500);
  EXPECT_EQ(parse_qvalue("0.05"), 50);
  EXPECT_EQ(parse_qvalue("0.001"), 1);
  for (const char* bad : {"", "2", "1.5", "1.0001", "0.1234", ".5", "0,5", "-0", "0.a", "01"})
    EXPECT_EQ(parse_qvalue(bad), -1) << bad;
}

TEST(Coding, ACompressionListInItsOrderWithoutUnknownNames) {
  const std::vector<Coding> c = parse_codings({"br", "deflate", "GZIP", "zstd"});
  EXPECT_EQ(c, (std::vector<Coding>{Coding::br, Coding::gzip, Coding::zstd}));
  EXPECT_TRUE(parse_codings({}).empty());
}

TEST(Coding, NamesAndSidecarSuffixes) {
  EXPECT_EQ(parse_coding("X-GZIP"), Coding::gzip);
  EXPECT_EQ(parse_coding("identity"), Coding::identity);
  EXPECT_FALSE(parse_coding("deflate"));
  EXPECT_FALSE(parse_coding("*"));
  EXPECT_EQ(file_suffix(Coding::gzip), ".gz");
  EXPECT_EQ(file_suffix(Coding::br), ".br");
  EXPECT_EQ(file_suffix(Coding::zstd), ".zst");
  EXPECT_EQ(name(Coding::br), "br");
}

// What the coding's command-line tool makes of compressed bytes.
std::string decode_with_cli(Coding c, const std::string& compressed) {
  const auto dir = std::filesystem::temp_directory_path();
  const std::string stem = "lithe-encoding-" + std::to_string(::getpid());
  const auto in = dir / (stem + std::string(file_suffix(c)));
  const auto out = dir / (stem + ".out");
  std::ofstream(in, std::ios::binary) << compressed;
  const char* tool = c == Coding::gzip ? "gzip" : c == Coding::br ? "brotli" : "zstd -q";
  const std::string command =
      std::string(tool) + " -dc '" + in.string() + "' > '" + out.string() + "'";
  const int status = std::system(command.c_str());
  std::ifstream result(out, std::ios::binary);
  std::string decoded((std::istreambuf_iterator<char>(result)), {});
  std::filesystem::remove(in);
  std::filesystem::remove(out);
  if (status != 0) return "<" + command + " failed>";
  return decoded;
}

// A JSON-like text: repetitive enough to compress, varied enough not to be trivial.
std::string sample(std::size_t size) {
  std::mt19937 rng(42);
  std::string s;
  while (s.size() < size)
    s += "{\"id\":" + std::to_string(rng() % 100000) + ",\"name\":\"item-" +
         std::to_string(rng() % 1000) + "\",\"tags\":[\"a\",\"b\"]},\n";
  s.resize(size);
  return s;
}

TEST(Compress, EveryCodingDecodesWithItsToolToTheSameBytes) {
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{300}, std::size_t{200000}}) {
    const std::string data = sample(size);
    for (Coding c : {Coding::gzip, Coding::br, Coding::zstd}) {
      const std::string packed = compress(c, data);
      EXPECT_EQ(decode_with_cli(c, packed), data) << name(c) << ", " << size << " bytes";
      if (size >= 300) {
        EXPECT_LT(packed.size(), data.size() / 2) << name(c) << ", " << size;
      }
    }
  }
  EXPECT_EQ(compress(Coding::identity, "as is"), "as is");
}

TEST(StreamCompressor, PiecesDecodeWithTheToolsAndTheStateStaysSmall) {
  const std::string text = sample(200000);
  for (Coding c : {Coding::gzip, Coding::br, Coding::zstd}) {
    auto compressor = StreamCompressor::make(c);
    ASSERT_TRUE(compressor);
    std::string out;
    std::size_t peak = 0;
    for (std::size_t at = 0; at < text.size(); at += 700) {
      out += compressor->write(std::string_view(text).substr(at, 700));
      peak = std::max(peak, compressor->memory());
    }
    out += compressor->finish();
    EXPECT_EQ(decode_with_cli(c, out), text) << name(c);
    EXPECT_LT(out.size(), text.size() / 2) << name(c);
    // What README "Compression" quotes per open compressed stream.
    std::printf("%s: %zu bytes of coding state per stream\n", std::string(name(c)).c_str(), peak);
    EXPECT_LE(peak, 1u << 20) << name(c);
  }
  EXPECT_FALSE(StreamCompressor::make(Coding::identity));
}

}  // namespace
}  // namespace lithe::encoding
