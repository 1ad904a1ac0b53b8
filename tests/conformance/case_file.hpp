// Reader for the conformance case files (format documented at the top of cases.txt). Header-only
// and free of lithe and gtest, so the fuzz seed generator reads the same files.
#pragma once

#include <cctype>
#include <cstddef>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace lithe::conformance {

struct Case {
  std::string name;
  std::vector<int> statuses;  // expected responses in order; empty = silent close
  bool close = false;         // the connection must end after them
  bool head = false;          // responses carry no body (the requests are HEAD)
  bool eof = false;           // half-close after sending, no canary
  bool nocanary = false;      // send nothing after the case bytes; the server decides
  std::string bytes;          // decoded raw request bytes
  std::string file;           // where it was defined, for messages
  int line = 0;
};

// Follows every `close` case on the wire (unless eof/nocanary): it must never be answered.
inline constexpr std::string_view canary_request = "GET /canary HTTP/1.1\r\nHost: x\r\n\r\n";

namespace detail {

inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

[[noreturn]] inline void fail(const std::string& file, int line, const std::string& msg) {
  throw std::runtime_error(file + ":" + std::to_string(line) + ": " + msg);
}

// Appends one line of raw text, decoding escapes, to out.
inline void decode_line(std::string_view s, std::string& out, const std::string& file, int line) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out.push_back(s[i]);
      continue;
    }
    if (++i == s.size()) fail(file, line, "dangling backslash");
    switch (s[i]) {
      case 'r': out.push_back('\r'); break;
      case 'n': out.push_back('\n'); break;
      case 't': out.push_back('\t'); break;
      case '\\': out.push_back('\\'); break;
      case 'x': {
        int hi = i + 2 < s.size() ? hex_value(s[i + 1]) : -1;
        int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
        if (hi < 0 || lo < 0) fail(file, line, "\\x needs two hex digits");
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        break;
      }
      case '{': {
        // X\{N}: the byte before the escape, N times in all.
        auto end = s.find('}', i);
        if (end == std::string_view::npos || out.empty()) fail(file, line, "bad \\{N}");
        std::size_t n = std::stoul(std::string(s.substr(i + 1, end - i - 1)));
        if (n == 0) fail(file, line, "\\{0}");
        out.append(n - 1, out.back());
        i = end;
        break;
      }
      default: fail(file, line, std::string("unknown escape \\") + s[i]);
    }
  }
}

inline std::vector<std::string> split_ws(std::string_view s) {
  std::vector<std::string> out;
  std::istringstream in{std::string(s)};
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

}  // namespace detail

// Parses one case file. Throws std::runtime_error naming FILE:LINE on a malformed file.
inline std::vector<Case> read_cases(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<Case> cases;
  std::string text;
  int lineno = 0;
  while (std::getline(in, text)) {
    ++lineno;
    if (!text.empty() && text.back() == '\r') detail::fail(path, lineno, "CRLF line ending");
    if (text.empty() || text[0] == '#') continue;
    if (text.rfind("==", 0) == 0) {
      auto words = detail::split_ws(std::string_view(text).substr(2));
      if (words.size() < 3) detail::fail(path, lineno, "header needs NAME EXPECT CONN");
      Case c;
      c.name = words[0];
      c.file = path;
      c.line = lineno;
      for (char ch : c.name)
        if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_'))
          detail::fail(path, lineno, "case names are [A-Za-z0-9_]+");
      for (const Case& other : cases)
        if (other.name == c.name) detail::fail(path, lineno, "duplicate case " + c.name);
      if (words[1] != "silent-close") {
        std::stringstream list(words[1]);
        for (std::string item; std::getline(list, item, ',');) {
          if (item.size() != 3) detail::fail(path, lineno, "bad status " + item);
          c.statuses.push_back(std::stoi(item));
        }
      }
      if (words[2] == "close")
        c.close = true;
      else if (words[2] != "keep")
        detail::fail(path, lineno, "CONN is close or keep");
      if (c.statuses.empty() && !c.close) detail::fail(path, lineno, "silent-close needs close");
      for (std::size_t i = 3; i < words.size(); ++i) {
        if (words[i] == "head")
          c.head = true;
        else if (words[i] == "eof")
          c.eof = true;
        else if (words[i] == "nocanary")
          c.nocanary = true;
        else
          detail::fail(path, lineno, "unknown flag " + words[i]);
      }
      cases.push_back(std::move(c));
      continue;
    }
    if (cases.empty()) detail::fail(path, lineno, "bytes before the first case header");
    detail::decode_line(text, cases.back().bytes, path, lineno);
  }
  for (const Case& c : cases)
    if (c.bytes.empty()) detail::fail(c.file, c.line, "case " + c.name + " has no bytes");
  return cases;
}

// What a case puts on the wire: its bytes, and the canary after a `close` case.
inline std::string wire_bytes(const Case& c) {
  std::string bytes = c.bytes;
  if (c.close && !c.eof && !c.nocanary) bytes += canary_request;
  return bytes;
}

}  // namespace lithe::conformance
