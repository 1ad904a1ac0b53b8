#include "http/parser.hpp"

#include <llhttp.h>

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#include "base/text.hpp"

static_assert(LLHTTP_VERSION_MAJOR == 8, "lithe's validation layer is written against llhttp 8");

namespace lithe::http {

namespace {

llhttp_t* state(unsigned char* storage) {
  return reinterpret_cast<llhttp_t*>(storage);
}

// llhttp wants C callbacks taking llhttp_t*; ours take void* so the header stays llhttp-free.
template <int (*F)(void*)>
int cb(llhttp_t* p) {
  return F(p);
}
template <int (*F)(void*, const char*, std::size_t)>
int data_cb(llhttp_t* p, const char* at, std::size_t len) {
  return F(p, at, len);
}

// Index of the first CR or LF (or, with Space, SP) in data[i, len), or len; eight bytes at a
// time, since a head is mostly ordinary bytes and this scan runs before llhttp's own.
template <bool Space>
std::size_t find_break(const char* data, std::size_t i, std::size_t len) {
  constexpr uint64_t ones = 0x0101010101010101ULL;
  constexpr uint64_t highs = 0x8080808080808080ULL;
  constexpr auto zero_bytes = [](uint64_t x) { return (x - ones) & ~x & highs; };
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    std::memcpy(&w, data + i, 8);
    // Flags the bytes of w equal to CR, LF or SP; the lowest flag is exact (later ones may be
    // false positives, which is why only the lowest is used).
    uint64_t hit = zero_bytes(w ^ (ones * '\r')) | zero_bytes(w ^ (ones * '\n'));
    if constexpr (Space) hit |= zero_bytes(w ^ (ones * ' '));
    if (hit) return i + static_cast<std::size_t>(std::countr_zero(hit) >> 3);
  }
  for (; i < len; ++i)
    if (data[i] == '\r' || data[i] == '\n' || (Space && data[i] == ' ')) return i;
  return len;
}

// The bytes a Host value may hold, as a table: every request has a Host, and its dots and colon
// would each cost a search.
constexpr std::array<bool, 256> host_chars = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c)
    t[c] =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        std::string_view("-._~%!$&'()*+;=:[]").find(static_cast<char>(c)) != std::string_view::npos;
  return t;
}();

// Host = uri-host [ ":" port ] (RFC 9110 §7.2): reg-name, IPv4 or [IP-literal]; no list, no
// whitespace. Not empty: an http URI has a non-empty host (RFC 9110 §4.2.1), as nginx holds.
bool valid_host(std::string_view h) {
  if (h.empty()) return false;
  for (unsigned char c : h)
    if (!host_chars[c]) return false;
  return true;
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
    t.on_chunk_header = cb<on_chunk_header>;
    t.on_chunk_extension_name = data_cb<on_chunk_extension>;
    t.on_chunk_extension_value = data_cb<on_chunk_extension>;
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

void RequestParser::start(RequestImpl& req, const ParserLimits& limits) {
  req_ = &req;
  limits_ = limits;
  llhttp_t* p = state(llhttp_);
  llhttp_init(p, HTTP_REQUEST, static_cast<const llhttp_settings_t*>(settings()));
  p->data = this;
  scan_ = {};
  error_status_ = scan_error_ = 0;
  error_reason_ = scan_reason_ = nullptr;
  in_request_ = headers_done_ = in_field_ = paused_at_head_ = streaming_ = false;
  body_limit_ = limits.body;
  // A pooled parser may carry pointers from its previous connection's failed request.
  feed_data_ = feed_end_ = prev_feed_end_ = trailer_value_end_ = nullptr;
}

std::size_t RequestParser::scan_head(const char* data, std::size_t len) {
  HeadScan& s = scan_;
  auto reject = [this](uint16_t status, const char* reason, std::size_t at) {
    scan_error_ = status;
    scan_reason_ = reason;
    return at;
  };
  for (std::size_t i = 0; i < len; ++i) {
    const char c = data[i];
    if (s.after_cr && c != '\n') return reject(400, "bare CR", i);
    if (c == '\r') {
      s.after_cr = true;
    } else if (c == '\n') {
      if (!s.after_cr) return reject(400, "bare LF", i);
      s.after_cr = false;
      if (!s.started) continue;  // an empty line before the request line (RFC 9112 §2.2)
      if (s.in_request_line) {
        if (s.spaces != 2) return reject(400, "malformed request line", i);
        s.in_request_line = false;
        s.line_empty = true;
        continue;
      }
      if (s.line_empty) {
        s.done = true;
        return len;  // the rest is body or the next request: llhttp's alone
      }
      s.line_empty = true;
      continue;
    } else {
      // A header line starting with whitespace is obs-fold (RFC 9112 §5.2): rejected, not joined.
      if (!s.in_request_line && s.line_empty && (c == ' ' || c == '\t'))
        return reject(400, "obs-fold", i);
      s.started = true;
      s.line_empty = false;
      if (!s.in_request_line) {
        // The rest of this header line up to its CR (or a bare LF) counts in one step.
        const std::size_t end = find_break<false>(data, i + 1, len);
        if (s.section_bytes + (end - i) > limits_.header_section)
          return reject(431, "header section too large",
                        i + (limits_.header_section - s.section_bytes));
        s.section_bytes += end - i;
        i = end - 1;
        continue;
      }
      if (c == ' ') {
        // exactly: method SP target SP version
        if (s.line_bytes == 0 || s.prev_space || ++s.spaces > 2)
          return reject(400, "malformed request line", i);
        s.prev_space = true;
        if (++s.line_bytes > limits_.request_line) return reject(414, "request line too long", i);
        continue;
      }
      // A run of request-line bytes up to the next SP, CR or LF.
      const std::size_t end = find_break<true>(data, i + 1, len);
      s.prev_space = false;
      if (s.line_bytes + (end - i) > limits_.request_line)
        return reject(414, "request line too long", i + (limits_.request_line - s.line_bytes));
      s.line_bytes += end - i;
      i = end - 1;
      continue;
    }
    if (!s.in_request_line && ++s.section_bytes > limits_.header_section)
      return reject(431, "header section too large", i);
  }
  return len;
}

RequestParser::Result RequestParser::feed(const char* data, std::size_t len) {
  llhttp_t* p = state(llhttp_);
  prev_feed_end_ = feed_end_;
  feed_data_ = data;
  feed_end_ = data + len;
  piece_begin_ = nullptr;
  piece_size_ = 0;
  const std::size_t allowed = scan_.done ? len : scan_head(data, len);
  llhttp_errno_t err = llhttp_execute(p, data, allowed);
  if (err == HPE_OK) {
    if (scan_error_) return {Status::error, allowed, scan_error_, scan_reason_ ? scan_reason_ : ""};
    return {Status::need_more, len, 0, {}};
  }
  std::size_t consumed = allowed;
  if (const char* pos = llhttp_get_error_pos(p); pos && pos >= data && pos <= data + allowed)
    consumed = static_cast<std::size_t>(pos - data);
  if (err == HPE_PAUSED) {
    llhttp_resume(p);
    if (paused_at_head_) {
      paused_at_head_ = false;
      return {Status::head, consumed, 0, {}};
    }
    if (!req_->expects_continue_) {
      // Paused by on_message_complete: one request is ready.
      in_request_ = headers_done_ = false;
      scan_ = {};
      return {Status::complete, consumed, 0, {}};
    }
    return {Status::expect_continue, consumed, 0, {}};
  }
  uint16_t status = error_status_ ? error_status_ : 400;
  const char* reason = error_reason_ ? error_reason_ : llhttp_get_error_reason(p);
  if (!error_status_ && err == HPE_INVALID_VERSION && p->http_major >= 2) status = 505;
  if (!error_status_ && err == HPE_PAUSED_H2_UPGRADE) {
    status = 505;  // the HTTP/2 connection preface
    reason = "HTTP/2 preface";
  }
  return {Status::error, consumed, status, reason ? std::string_view(reason) : std::string_view{}};
}

int RequestParser::fail(uint16_t status, const char* reason) {
  error_status_ = status;
  error_reason_ = reason;
  llhttp_set_error_reason(state(llhttp_), reason);
  return HPE_USER;
}

int RequestParser::on_message_begin(void* p) {
  RequestParser& s = self(p);
  s.in_request_ = true;
  s.headers_done_ = s.in_field_ = s.have_name_ = s.in_trailers_ = s.too_many_ = false;
  s.te_seen_ = s.te_chunked_last_ = s.te_bad_ = s.te_unknown_ = false;
  s.host_count_ = 0;
  s.body_bytes_ = s.trailer_bytes_ = s.trailer_name_bytes_ = 0;
  s.body_limit_ = s.limits_.body;
  s.body_received_ = 0;
  s.streaming_ = false;
  s.trailer_value_end_ = nullptr;
  return 0;
}

int RequestParser::on_url(void* p, const char* at, std::size_t len) {
  RequestParser& s = self(p);
  s.req_->extend(s.req_->target_, at, len);
  return 0;
}

int RequestParser::on_url_complete(void* p) {
  RequestParser& s = self(p);
  RequestImpl& r = *s.req_;
  r.split_target();
  // The method is known once the target is: a rejection later in the head can honour HEAD.
  r.method_id_ = static_cast<base::Method>(static_cast<llhttp_t*>(p)->method);
  // A fragment is never sent (RFC 9112 §3.2); the target's form is checked with the method.
  if (r.target_.find('#') != std::string_view::npos)
    return s.fail(400, "fragment in request target");
  return 0;
}

int RequestParser::on_header_field(void* p, const char* at, std::size_t len) {
  RequestParser& s = self(p);
  if (s.in_trailers_) {
    s.count_trailer(len, true);
    return 0;
  }
  RequestImpl& r = *s.req_;
  if (!s.in_field_) {
    s.in_field_ = true;
    // Refused when the name is complete, not at its first byte: llhttp may still reject the
    // name itself (400), and which error comes first must not depend on where a read ended.
    if (r.header_count_ == r.header_store_.size()) s.too_many_ = true;
    if (!s.too_many_) r.header_store_[r.header_count_++] = Header{};
  }
  if (!s.too_many_) r.extend(r.header_store_[r.header_count_ - 1].name, at, len);
  return 0;
}

int RequestParser::on_header_field_complete(void* p) {
  RequestParser& s = self(p);
  s.in_field_ = false;
  if (s.in_trailers_) {
    if (s.trailer_name_bytes_ == 0) return s.fail(400, "empty trailer field name");
    s.trailer_name_bytes_ = 0;
    return s.check_trailer_size();
  }
  if (s.too_many_) return s.fail(431, "too many header fields");
  if (s.req_->header_count_ == 0 || s.req_->header_store_[s.req_->header_count_ - 1].name.empty())
    return s.fail(400, "empty header name");
  s.have_name_ = true;
  return 0;
}

int RequestParser::on_header_value(void* p, const char* at, std::size_t len) {
  RequestParser& s = self(p);
  if (s.in_trailers_) {
    // llhttp joins an obs-folded trailer silently: its pieces are not contiguous in one read.
    // A piece may only continue where the last one ended, or start a read that followed a
    // read ending inside the value.
    if (s.trailer_value_end_ && at != s.trailer_value_end_ &&
        !(at == s.feed_data_ && s.trailer_value_end_ == s.prev_feed_end_))
      return s.fail(400, "obs-fold in trailer");
    s.trailer_value_end_ = at + len;
    s.count_trailer(len, false);
    return 0;
  }
  if (!s.have_name_) return s.fail(400, "header field without a name");
  RequestImpl& r = *s.req_;
  s.in_field_ = true;
  r.extend(r.header_store_[r.header_count_ - 1].value, at, len);
  return 0;
}

int RequestParser::on_header_value_complete(void* p) {
  RequestParser& s = self(p);
  s.in_field_ = false;
  if (s.in_trailers_) {
    s.trailer_value_end_ = nullptr;
    return s.check_trailer_size();
  }
  if (!s.have_name_) return s.fail(400, "header field without a name");
  s.have_name_ = false;
  RequestImpl& r = *s.req_;
  Header& h = r.header_store_[r.header_count_ - 1];
  h.value = base::trim_ows(h.value);
  if (find_break<false>(h.value.data(), 0, h.value.size()) != h.value.size())
    return s.fail(400, "obs-fold or bare line break in header value");
  if (base::iequals(h.name, "host")) {
    if (++s.host_count_ > 1) return s.fail(400, "duplicate Host");
    if (!valid_host(h.value)) return s.fail(400, "invalid Host");
  } else if (base::iequals(h.name, "transfer-encoding")) {
    s.te_seen_ = true;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      std::string_view item = base::trim_ows(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      if (item.empty()) continue;
      std::string_view coding = base::trim_ows(item.substr(0, item.find(';')));
      if (coding.empty()) {
        s.te_bad_ = true;
        continue;
      }
      for (unsigned char c : coding)
        if (!base::is_tchar(c)) s.te_bad_ = true;
      if (s.te_chunked_last_) s.te_bad_ = true;  // nothing may follow chunked, not even chunked
      if (base::iequals(coding, "chunked")) {
        s.te_chunked_last_ = true;
      } else {
        s.te_unknown_ = true;
      }
    }
  }
  return 0;
}

int RequestParser::check_head() {
  auto* lp = state(llhttp_);
  RequestImpl& r = *req_;
  if (lp->http_major >= 2) return fail(505, "HTTP version not supported");
  if (lp->http_major != 1 || lp->http_minor > 1) return fail(400, "invalid HTTP version");
  if (r.method_id_ == base::Method::CONNECT) return fail(501, "CONNECT is not supported");
  if (r.target_ == "*" && r.method_id_ != base::Method::OPTIONS)
    return fail(400, "* target without OPTIONS");
  if (r.target_.empty() ||
      (r.target_[0] != '/' && r.target_ != "*" && r.target_.find("://") == std::string_view::npos))
    return fail(400, "invalid request target");
  if (lp->http_minor == 1 && host_count_ == 0) return fail(400, "missing Host");
  if (te_seen_) {
    if (lp->http_minor == 0) return fail(400, "Transfer-Encoding in HTTP/1.0");
    if (te_bad_ || !te_chunked_last_) return fail(400, "invalid Transfer-Encoding");
    if (te_unknown_) return fail(501, "unsupported transfer coding");
  }
  if (std::string_view expect = r.header("expect"); !expect.empty() || r.has_header("expect")) {
    if (!base::iequals(expect, "100-continue")) return fail(417, "unsupported expectation");
    r.expects_continue_ = lp->http_minor == 1;
  }
  if (!limits_.pause_before_body && (lp->flags & F_CONTENT_LENGTH) &&
      lp->content_length > limits_.body)
    return fail(413, "body too large");
  r.declared_length_ = (lp->flags & F_CONTENT_LENGTH) ? lp->content_length : 0;
  r.chunked_ = (lp->flags & F_CHUNKED) != 0;
  if (!r.chunked_ && r.declared_length_ == 0) r.expects_continue_ = false;  // nothing to wait for
  lp->upgrade = 0;  // Upgrade is ignored (SPEC §4): the request is answered as plain HTTP/1.1
  return 0;
}

int RequestParser::on_headers_complete(void* p) {
  RequestParser& s = self(p);
  RequestImpl& r = *s.req_;
  auto* lp = static_cast<llhttp_t*>(p);
  r.method_id_ = static_cast<base::Method>(lp->method);
  r.method_ = base::method_name(r.method_id_);
  r.version_major_ = lp->http_major;
  r.version_minor_ = lp->http_minor;
  r.keep_alive_ = llhttp_should_keep_alive(lp) != 0;
  s.headers_done_ = true;
  s.in_trailers_ = true;  // any header callback from now on is a trailer
  if (int rc = s.check_head()) return rc;
  if (s.limits_.pause_before_body && (r.chunked_ || r.declared_length_ > 0)) {
    s.paused_at_head_ = true;
    return HPE_PAUSED;
  }
  return r.expects_continue_ ? HPE_PAUSED : 0;
}

// Trailers are dropped (a piece costs no memory once counted), but header_section limits them
// too. The limit is checked when a name or a value is complete, not at the end of a read inside
// one: llhttp may still reject that field (400), and which error comes first must not depend on
// where a read ended.
void RequestParser::count_trailer(std::size_t len, bool name) {
  if (name) trailer_name_bytes_ += len;
  trailer_bytes_ += len;
}

int RequestParser::check_trailer_size() {
  return trailer_bytes_ > limits_.header_section ? fail(431, "trailer section too large") : 0;
}

int RequestParser::on_chunk_extension(void* p, const char*, std::size_t len) {
  RequestParser& s = self(p);
  // Extensions are ignored; counted against the body limit so they cannot stream forever.
  s.body_bytes_ += len;
  return s.body_bytes_ > s.body_limit_ ? s.fail(413, "chunk extensions too large") : 0;
}

int RequestParser::on_chunk_header(void* p) {
  RequestParser& s = self(p);
  s.body_bytes_ += static_cast<llhttp_t*>(p)->content_length;
  if (s.body_bytes_ > s.body_limit_) return s.fail(413, "body too large");
  return 0;
}

// A streamed body's pieces of one feed() are moved together in place (over the chunk framing
// between them), so the handler gets one piece per read; the bytes are the caller's buffer.
int RequestParser::on_body(void* p, const char* at, std::size_t len) {
  RequestParser& s = self(p);
  s.body_received_ += len;
  if (!s.streaming_) {
    s.req_->append_body(at, len);
    return 0;
  }
  char* from = const_cast<char*>(at);  // inside the caller's mutable buffer
  if (!s.piece_begin_) s.piece_begin_ = from;
  char* to = s.piece_begin_ + s.piece_size_;
  if (to != from) std::memmove(to, from, len);
  s.piece_size_ += len;
  return 0;
}

int RequestParser::on_message_complete(void* p) {
  RequestParser& s = self(p);
  s.req_->keep_alive_ = llhttp_should_keep_alive(static_cast<llhttp_t*>(p)) != 0;
  s.req_->expects_continue_ = false;  // answered with the final response now
  return HPE_PAUSED;
}

const char* llhttp_version() {
#define LITHE_STR2(x) #x
#define LITHE_STR(x) LITHE_STR2(x)
  return LITHE_STR(LLHTTP_VERSION_MAJOR) "." LITHE_STR(LLHTTP_VERSION_MINOR) "." LITHE_STR(
      LLHTTP_VERSION_PATCH);
}

}  // namespace lithe::http
