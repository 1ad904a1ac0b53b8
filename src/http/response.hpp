// The pooled response a handler fills, and the pre-rendered form static handlers build at load.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/arena.hpp"
#include "lithe/request.hpp"
#include "lithe/responder.hpp"
#include "lithe/response.hpp"

namespace lithe::http {

// A body kept in a sealed memory file (memfd) and sent with sendfile, as a file's is: the socket
// takes page references instead of a copy, so a large body costs what a file does, and a slow
// reader pins pages rather than a megabyte of socket buffers.
class SealedBody {
 public:
  // Bodies at least this long are kept this way (below it a copy costs less than sendfile).
  static constexpr std::size_t threshold = 64 * 1024;
  // The body in a sealed memfd; empty (no descriptor) when the system refuses one.
  static SealedBody of(std::string_view body);
  SealedBody() = default;
  SealedBody(SealedBody&& o) noexcept : fd_(std::exchange(o.fd_, -1)), size_(o.size_) {}
  SealedBody& operator=(SealedBody&& o) noexcept;
  ~SealedBody();

  explicit operator bool() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  std::size_t size() const { return size_; }

 private:
  int fd_ = -1;
  std::size_t size_ = 0;
};

// A response rendered once when the config loads: only Date (and Connection) are added per
// request. head holds the status line and every fixed header, Content-Length included.
struct PreparedResponse {
  uint16_t status = 200;
  std::string head;
  std::string body;  // empty when the body is in `sealed`
  SealedBody sealed;
  std::size_t body_size() const { return sealed ? sealed.size() : body.size(); }
};

// Renders a prepared response's head: status line, Server, Content-Type, extra headers and
// Content-Length (when the status allows a body).
PreparedResponse prepare_response(uint16_t status, std::string_view server_header,
                                  std::string_view content_type,
                                  const std::vector<std::pair<std::string, std::string>>& headers,
                                  std::string body);

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
  }

  // Asynchronous answers: the connection installs the hook that makes a Responder for the
  // request being dispatched; a handler calling defer() answers later through it.
  using DeferHook = lithe::Responder (*)(void* owner);
  void set_defer_hook(void* owner, DeferHook hook) {
    defer_owner_ = owner;
    defer_hook_ = hook;
  }
  // Empty Responder (and not deferred) where no connection serves the request (unit tests).
  lithe::Responder defer() {
    if (!defer_hook_) return {};
    deferred_ = true;
    return defer_hook_(defer_owner_);
  }
  bool deferred() const { return deferred_; }

  // Answer with a response rendered at load.
  void prepared(const PreparedResponse* p) { prepared_ = p; }
  const PreparedResponse* prepared() const { return prepared_; }

  // The connection must close after this response (errors).
  void close_connection() { close_ = true; }
  bool closes() const { return close_; }

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
  void* defer_owner_ = nullptr;
  DeferHook defer_hook_ = nullptr;
  bool body_owned_ = false;
  bool close_ = false;
  bool deferred_ = false;
};

}  // namespace lithe::http
