#include "handlers/encoded.hpp"

#include <algorithm>
#include <cstdio>

#include "base/text.hpp"
#include "encoding/accept_encoding.hpp"
#include "encoding/compress.hpp"
#include "handlers/files/conditional.hpp"
#include "http/response.hpp"

namespace lithe::handlers {

namespace {

// The identity form's tag names the bytes (their CRC-32 and length); each coding's adds its
// name, so every form has its own strong tag, as RFC 9110 §8.8.3 asks of representations.
std::string entity_tag(std::string_view body, encoding::Coding c) {
  char tag[64];
  int n = std::snprintf(tag, sizeof tag, "\"%08x%zx", encoding::crc32(body), body.size());
  std::string out(tag, static_cast<std::size_t>(n));
  if (c != encoding::Coding::identity) out.append("-").append(encoding::name(c));
  out.push_back('"');
  return out;
}

}  // namespace

EncodedResponse::EncodedResponse(const Options& o, int status, std::string_view content_type,
                                 std::string body, const PreparedResponse::Headers& headers) {
  const Config& config = o.config();
  const CompressionConfig& c = config.compression;
  const std::string_view server = config.server.server_header;
  // Compressed forms that are smaller than the body, in the server's order.
  std::vector<std::pair<encoding::Coding, std::string>> packed;
  if (o.route().compress && body.size() >= c.min_size && !body.empty() &&
      encoding::compressible(c.types, content_type)) {
    for (const encoding::Coding coding : encoding::parse_codings(c.encodings)) {
      std::string bytes = encoding::compress(coding, body);
      if (bytes.size() < body.size()) packed.emplace_back(coding, std::move(bytes));
    }
  }
  if (packed.empty()) {
    forms_.push_back({PreparedResponse(status, content_type, std::move(body), headers, server),
                      std::nullopt, ""});
    return;
  }
  auto add = [&](encoding::Coding coding, std::string bytes) {
    PreparedResponse::Headers h = headers;
    if (coding != encoding::Coding::identity)
      h.emplace_back("Content-Encoding", std::string(encoding::name(coding)));
    h.emplace_back("Vary", "Accept-Encoding");
    std::string etag = entity_tag(body, coding);
    h.emplace_back("ETag", etag);
    std::optional<PreparedResponse> not_modified;
    if (status == 200) {
      PreparedResponse::Headers n{{"ETag", etag}, {"Vary", "Accept-Encoding"}};
      not_modified.emplace(304, "", "", n, server);
    }
    forms_.push_back({PreparedResponse(status, content_type, std::move(bytes), h, server),
                      std::move(not_modified), std::move(etag)});
  };
  for (auto& [coding, bytes] : packed) {
    offered_[offered_count_++] = coding;
    add(coding, std::move(bytes));
  }
  // identity last, as its ETag needs the body it takes; forms_[0] is kept for it below.
  add(encoding::Coding::identity, body);
  std::rotate(forms_.begin(), forms_.end() - 1, forms_.end());
}

const EncodedResponse::Form& EncodedResponse::form(encoding::Coding c) const {
  for (std::size_t i = 0; i < offered_count_; ++i)
    if (offered_[i] == c) return forms_[i + 1];
  return forms_[0];
}

void EncodedResponse::answer(const lithe::Request& req, lithe::Response& res) const {
  if (offered_count_ == 0) {
    res.prepared(forms_[0].full);
    return;
  }
  const encoding::Coding coding = encoding::AcceptEncoding::of(req.headers()).choose(offered());
  const Form& f = form(coding);
  static_cast<http::ResponseImpl&>(res).set_coding(static_cast<uint8_t>(coding));
  if (f.not_modified && (req.method() == "GET" || req.method() == "HEAD")) {
    for (const Header& h : req.headers()) {
      if (base::iequals(h.name, "If-None-Match") && files::none_match(h.value, f.etag)) {
        res.prepared(*f.not_modified);
        return;
      }
    }
  }
  res.prepared(f.full);
}

}  // namespace lithe::handlers
