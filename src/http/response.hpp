// The pooled response a handler fills, and the pre-rendered form static handlers build at load.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/arena.hpp"
#include "lithe/body_reader.hpp"
#include "lithe/prepared.hpp"
#include "lithe/request.hpp"
#include "lithe/responder.hpp"
#include "lithe/response.hpp"
#include "lithe/stream.hpp"

namespace lithe::http {

class SessionPort;

class ResponseImpl : public lithe::Response {
 public:
  explicit ResponseImpl(Arena& arena) : arena_(arena) { extra_headers_.reserve(16); }
  ~ResponseImpl() { drop_file(); }

  void reset() {
    drop_file();
    status_ = 200;
    content_type_ = body_ = {};
    extra_headers_.clear();
    prepared_ = nullptr;
    body_owned_ = false;
    close_ = false;
    deferred_ = false;
    coding_ = 0;
  }

  // Asynchronous and streamed answers: defer(), stream() and body_reader() ask the session
  // serving the request for their handles (none outside a connection).
  void set_port(SessionPort* port) { port_ = port; }
  bool deferred() const { return deferred_; }
  // What the handler chose with the public calls of the same names.
  const PreparedResponse* prepared_response() const { return prepared_; }
  bool closes() const { return close_; }
  // The content coding the body goes in (encoding::Coding's value, 0 = identity), which a
  // handler that picks a compressed form sets for the metrics.
  void set_coding(uint8_t coding) { coding_ = coding; }
  uint8_t coding() const { return coding_; }

  std::string_view content_type() const { return content_type_; }
  std::string_view body() const { return body_; }
  bool body_owned() const { return body_owned_; }  // in the arena: copy before the next request
  const std::vector<Header>& extra_headers() const { return extra_headers_; }

  struct FileBody {
    int fd = -1;
    uint64_t offset = 0;
    uint64_t length = 0;
  };
  bool has_file() const { return file_.fd >= 0; }
  uint64_t file_length() const { return file_.length; }
  // Hands the file over (to the output buffer, which closes it once sent).
  FileBody take_file() {
    FileBody f = file_;
    file_ = {};
    return f;
  }

 private:
  friend class lithe::Response;
  void drop_file();

  Arena& arena_;
  FileBody file_;
  std::vector<Header> extra_headers_;
  const PreparedResponse* prepared_ = nullptr;
  SessionPort* port_ = nullptr;
  bool body_owned_ = false;
  bool close_ = false;
  bool deferred_ = false;
  uint8_t coding_ = 0;
};

}  // namespace lithe::http
