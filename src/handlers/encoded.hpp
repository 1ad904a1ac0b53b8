// A fixed response in every content coding that makes its body smaller, compressed once at
// load; each request gets the form its Accept-Encoding prefers ([compression], README).
// static, json and redirect answer this way.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "encoding/coding.hpp"
#include "handlers/handler.hpp"
#include "lithe/prepared.hpp"

namespace lithe::handlers {

class EncodedResponse {
 public:
  // The identity form, plus one per coding of compression.encodings whose output is smaller,
  // when the route compresses: route.compress, a content type in compression.types and a body
  // of compression.min_size or more. With more than one form, each says Vary: Accept-Encoding
  // and has its own strong ETag, and a GET or HEAD whose If-None-Match names it gets a 304.
  EncodedResponse(const Options& o, int status, std::string_view content_type, std::string body,
                  const PreparedResponse::Headers& headers = {});

  void answer(const lithe::Request& req, lithe::Response& res) const;

  // The codings besides identity this response has, in the server's order.
  std::span<const encoding::Coding> offered() const { return {offered_.data(), offered_count_}; }

 private:
  struct Form {
    PreparedResponse full;
    std::optional<PreparedResponse> not_modified;  // 304 (only when there are several forms)
    std::string etag;                              // "" with a single form
  };
  const Form& form(encoding::Coding c) const;

  std::vector<Form> forms_;  // [0] identity, then one per offered coding, in that order
  std::array<encoding::Coding, encoding::coding_count> offered_{};
  std::size_t offered_count_ = 0;
};

}  // namespace lithe::handlers
