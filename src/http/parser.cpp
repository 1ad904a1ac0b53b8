#include "http/parser.hpp"

#include <llhttp.h>

#include <cstring>

#include "http/text.hpp"

static_assert(LLHTTP_VERSION_MAJOR == 8, "lithe's validation layer is written against llhttp 8");

namespace lithe::http {

namespace {

llhttp_t* state(unsigned char* storage) { return reinterpret_cast<llhttp_t*>(storage); }

// llhttp callbacks are plain C function pointers taking llhttp_t*; ours take void* so the header
// needs no llhttp type. The casts below are between identical calling conventions.
template <int (*F)(void*)>
int cb(llhttp_t* p) {
  return F(p);
}
template <int (*F)(void*, const char*, std::size_t)>
int data_cb(llhttp_t* p, const char* at, std::size_t len) {
  return F(p, at, len);
}

}  // namespace

RequestParser& RequestParser::self(void* p) {
  return *static_cast<RequestParser*>(static_cast<llhttp_t*>(p)->data);
}

// One settings table for every parser: the callbacks are the same, the state is per parser.
const void* RequestParser::settings() {
  static const llhttp_settings_t table = [] {
    llhttp_settings_t t;
    llhttp_settings_init(&t);
    t.on_message_begin = cb<on_message_begin>;
    t.on_url = data_cb<on_url>;
    t.on_url_complete = cb<on_url_complete>;
    t.on_header_field = data_cb<on_header_field>;
    t.on_header_field_complete = cb<on_header_field_complete>;
    t.on_header_value = data_cb<on_header_value>;
    t.on_header_value_complete = cb<on_header_value_complete>;
    t.on_headers_complete = cb<on_headers_complete>;
    t.on_body = data_cb<on_body>;
    t.on_message_complete = cb<on_message_complete>;
    return t;
  }();
  return &table;
}

RequestParser::RequestParser() {
  static_assert(sizeof(llhttp_t) <= sizeof(llhttp_));
  static_assert(alignof(llhttp_t) <= 8);
}

void RequestParser::start(RequestImpl& req) {
  req_ = &req;
  llhttp_t* p = state(llhttp_);
  llhttp_init(p, HTTP_REQUEST, static_cast<const llhttp_settings_t*>(settings()));
  p->data = this;
  error_status_ = 0;
  in_request_ = headers_done_ = in_field_ = false;
}

RequestParser::Result RequestParser::feed(const char* data, std::size_t len) {
  llhttp_t* p = state(llhttp_);
  llhttp_errno_t err = llhttp_execute(p, data, len);
  if (err == HPE_OK) return {Status::need_more, len, 0, {}};
  if (err == HPE_PAUSED) {
    // Paused by on_message_complete: one request is ready.
    std::size_t consumed = static_cast<std::size_t>(llhttp_get_error_pos(p) - data);
    llhttp_resume(p);
    in_request_ = headers_done_ = false;
    return {Status::complete, consumed, 0, {}};
  }
  std::size_t consumed = len;
  if (const char* pos = llhttp_get_error_pos(p); pos && pos >= data && pos <= data + len)
    consumed = static_cast<std::size_t>(pos - data);
  uint16_t status = error_status_ ? error_status_ : 400;
  if (!error_status_ && err == HPE_INVALID_VERSION && p->http_major >= 2) status = 505;
  const char* reason = llhttp_get_error_reason(p);
  return {Status::error, consumed, status, reason ? std::string_view(reason) : std::string_view{}};
}

int RequestParser::fail(uint16_t status, const char* reason) {
  error_status_ = status;
  llhttp_set_error_reason(state(llhttp_), reason);
  return HPE_USER;
}

int RequestParser::on_message_begin(void* p) {
  RequestParser& s = self(p);
  s.in_request_ = true;
  s.headers_done_ = false;
  s.in_field_ = false;
  return 0;
}

int RequestParser::on_url(void* p, const char* at, std::size_t len) {
  RequestParser& s = self(p);
  s.req_->extend(s.req_->target_, at, len);
  return 0;
}

int RequestParser::on_url_complete(void* p) {
  self(p).req_->split_target();
  return 0;
}

int RequestParser::on_header_field(void* p, const char* at, std::size_t len) {
  RequestParser& s = self(p);
  RequestImpl& r = *s.req_;
  if (!s.in_field_) {
    if (r.header_count_ == r.header_store_.size()) return s.fail(431, "too many header fields");
    r.header_store_[r.header_count_++] = Header{};
    s.in_field_ = true;
  }
  r.extend(r.header_store_[r.header_count_ - 1].name, at, len);
  return 0;
}

int RequestParser::on_header_field_complete(void* p) {
  self(p).in_field_ = false;
  return 0;
}

int RequestParser::on_header_value(void* p, const char* at, std::size_t len) {
  RequestParser& s = self(p);
  RequestImpl& r = *s.req_;
  s.in_field_ = true;
  r.extend(r.header_store_[r.header_count_ - 1].value, at, len);
  return 0;
}

int RequestParser::on_header_value_complete(void* p) {
  RequestParser& s = self(p);
  RequestImpl& r = *s.req_;
  s.in_field_ = false;
  if (r.header_count_ > 0) {
    Header& h = r.header_store_[r.header_count_ - 1];
    h.value = trim_ows(h.value);
  }
  return 0;
}

int RequestParser::on_headers_complete(void* p) {
  RequestParser& s = self(p);
  RequestImpl& r = *s.req_;
  auto* lp = static_cast<llhttp_t*>(p);
  r.method_id_ = static_cast<Method>(lp->method);
  r.method_ = method_name(r.method_id_);
  r.version_major_ = lp->http_major;
  r.version_minor_ = lp->http_minor;
  r.keep_alive_ = llhttp_should_keep_alive(lp) != 0;
  s.headers_done_ = true;
  return 0;
}

int RequestParser::on_body(void* p, const char* at, std::size_t len) {
  self(p).req_->append_body(at, len);
  return 0;
}

int RequestParser::on_message_complete(void* p) {
  RequestParser& s = self(p);
  // Connection: close or HTTP/1.0 without keep-alive is only known for sure here.
  s.req_->keep_alive_ = llhttp_should_keep_alive(static_cast<llhttp_t*>(p)) != 0;
  return HPE_PAUSED;
}

}  // namespace lithe::http

namespace lithe::http {
const char* llhttp_version() {
#define LITHE_STR2(x) #x
#define LITHE_STR(x) LITHE_STR2(x)
  return LITHE_STR(LLHTTP_VERSION_MAJOR) "." LITHE_STR(LLHTTP_VERSION_MINOR) "." LITHE_STR(
      LLHTTP_VERSION_PATCH);
}
}  // namespace lithe::http
