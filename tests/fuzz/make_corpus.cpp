// Writes the seed corpora from the conformance cases: one file per case and target, in the
// input format each target reads (parser_fuzz: a 2-byte split point first; connection_fuzz:
// a 1-byte split point first), so every case seeds both fuzzers.
//   make_corpus CASES_FILE OUT_DIR
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "case_file.hpp"

namespace fs = std::filesystem;

namespace {

void write(const fs::path& dir, const std::string& name, const std::string& bytes) {
  std::ofstream out(dir / name, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + (dir / name).string());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_corpus CASES_FILE OUT_DIR\n");
    return 2;
  }
  try {
    auto cases = lithe::conformance::read_cases(argv[1]);
    const fs::path out = argv[2];
    const fs::path parser = out / "parser_fuzz", connection = out / "connection_fuzz";
    fs::remove_all(parser);  // cases may have been renamed or removed
    fs::remove_all(connection);
    fs::create_directories(parser);
    fs::create_directories(connection);
    for (const auto& c : cases) {
      // With the canary, as the conformance runner sends them: connection_fuzz checks that
      // nothing follows a response carrying Connection: close.
      const std::string bytes = lithe::conformance::wire_bytes(c);
      // Split in the middle: seeds start on the interesting path, the fuzzer moves the cut.
      const std::size_t mid = bytes.size() / 2;
      std::string p;
      p.push_back(static_cast<char>(mid >> 8));
      p.push_back(static_cast<char>(mid & 0xff));
      write(parser, c.name, p + bytes);
      write(connection, c.name, std::string(1, '\x80') + bytes);
    }
    std::printf("make_corpus: %zu seeds per target in %s\n", cases.size(), out.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_corpus: %s\n", e.what());
    return 1;
  }
  return 0;
}
