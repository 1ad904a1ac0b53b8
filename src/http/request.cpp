#include "http/request.hpp"

#include <algorithm>
#include <cstring>

#include "base/text.hpp"
#include "http/arena.hpp"
#include "http/session_port.hpp"

namespace lithe {

std::string_view Request::header(std::string_view name) const {
  for (uint16_t i = 0; i < header_count_; ++i)
    if (base::iequals(headers_[i].name, name)) return headers_[i].value;
  return {};
}

bool Request::has_header(std::string_view name) const {
  for (uint16_t i = 0; i < header_count_; ++i)
    if (base::iequals(headers_[i].name, name)) return true;
  return false;
}

simdjson::dom::element Request::json() const {
  // One parser per worker thread: its buffers are reused, so parsing allocates only while it
  // grows to the largest document seen.
  thread_local simdjson::dom::parser parser;
  static_assert(http::json_padding >= simdjson::SIMDJSON_PADDING);
  return parser.parse(body_.data(), body_.size(), false).value();
}

std::string_view Request::param(std::string_view name) const {
  for (uint8_t i = 0; i < param_count_; ++i)
    if (params_[i].name == name) return params_[i].value;
  return {};
}

namespace {

// A query name or value as a form encodes it: '+' is a space, %XX a byte. Decoded into the
// arena only when it holds either.
std::string_view form_decode(std::string_view raw, http::Arena* arena) {
  if (raw.find_first_of("%+") == std::string_view::npos || !arena) return raw;
  char* out = arena->allocate(raw.size());
  std::replace_copy(raw.begin(), raw.end(), out, '+', ' ');
  return {out, base::percent_decode({out, raw.size()}, out)};  // in place: it only shrinks
}

}  // namespace

std::string_view Request::query_param(std::string_view name) const {
  for (std::string_view rest = query_; !rest.empty();) {
    const std::size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    if (form_decode(pair.substr(0, eq), scratch_) != name) continue;
    return eq == std::string_view::npos ? std::string_view()
                                        : form_decode(pair.substr(eq + 1), scratch_);
  }
  return {};
}

std::string_view Request::client_address() const {
  return port_ ? port_->client_address() : std::string_view();
}

// Cookie: a=1; b="two" (RFC 6265 §4.2.1), in one header or several.
std::string_view Request::cookie(std::string_view name) const {
  for (uint16_t i = 0; i < header_count_; ++i) {
    if (!base::iequals(headers_[i].name, "cookie")) continue;
    for (std::string_view rest = headers_[i].value; !rest.empty();) {
      const std::size_t semi = rest.find(';');
      const std::string_view pair = base::trim_ows(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      const std::size_t eq = pair.find('=');
      if (eq == std::string_view::npos || base::trim_ows(pair.substr(0, eq)) != name) continue;
      std::string_view value = base::trim_ows(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
        value = value.substr(1, value.size() - 2);
      return value;
    }
  }
  return {};
}

}  // namespace lithe

namespace lithe::http {

RequestImpl::RequestImpl(std::size_t max_headers) {
  header_store_.resize(max_headers);
  headers_ = header_store_.data();
  params_ = param_store_;
  scratch_ = &arena_;
}

void RequestImpl::reset() {
  method_ = target_ = path_ = query_ = body_ = request_id_ = {};
  version_major_ = version_minor_ = 1;
  header_count_ = 0;
  param_count_ = 0;
  method_id_ = base::Method::GET;
  keep_alive_ = true;
  expects_continue_ = false;
  chunked_ = false;
  declared_length_ = 0;
  body_in_store_ = false;
  body_store_.clear();
  arena_.reset();
  port_ = nullptr;
}

namespace {
void shift(std::string_view& v, const char* lo, const char* hi, std::ptrdiff_t delta) {
  if (!v.empty() && v.data() >= lo && v.data() < hi) v = {v.data() + delta, v.size()};
}
}  // namespace

void RequestImpl::rebase(const char* lo, const char* hi, std::ptrdiff_t delta) {
  shift(target_, lo, hi, delta);
  shift(path_, lo, hi, delta);
  shift(query_, lo, hi, delta);
  for (uint16_t i = 0; i < header_count_; ++i) {
    shift(header_store_[i].name, lo, hi, delta);
    shift(header_store_[i].value, lo, hi, delta);
  }
  if (!body_in_store_) shift(body_, lo, hi, delta);
}

void RequestImpl::pin() {
  auto own = [this](std::string_view& v) {
    if (!v.empty() && !arena_.owns(v.data())) v = arena_.copy(v);
  };
  // path and query are views into target: copy target once and re-derive them.
  if (!target_.empty() && !arena_.owns(target_.data())) {
    target_ = arena_.copy(target_);
    split_target();
  }
  for (uint16_t i = 0; i < header_count_; ++i) {
    own(header_store_[i].name);
    own(header_store_[i].value);
  }
  if (!body_in_store_ && !body_.empty()) {
    body_store_.reserve(body_.size() + json_padding);
    body_store_.assign(body_);
    body_ = body_store_;
    body_in_store_ = true;
  }
}

void RequestImpl::extend(std::string_view& field, const char* at, std::size_t len) {
  field = field.empty() ? std::string_view(at, len) : arena_.append(field, {at, len});
}

void RequestImpl::append_body(const char* at, std::size_t len) {
  if (body_.empty() && !body_in_store_) {
    body_ = {at, len};
    return;
  }
  if (!body_in_store_) {
    body_store_.reserve(body_.size() + len + json_padding);
    body_store_.assign(body_);
    body_in_store_ = true;
  } else if (body_store_.capacity() < body_store_.size() + len + json_padding) {
    body_store_.reserve(
        std::max(body_store_.capacity() * 2, body_store_.size() + len + json_padding));
  }
  body_store_.append(at, len);
  body_ = body_store_;
}

void RequestImpl::split_target() {
  std::string_view t = target_;
  // absolute-form (RFC 9112 §3.2.2): route on the path component.
  if (t.size() > 7 && t[0] != '/' && t.find("://") != std::string_view::npos) {
    auto authority = t.find("://") + 3;
    auto slash = t.find_first_of("/?", authority);
    t = slash == std::string_view::npos ? std::string_view("/") : t.substr(slash);
    if (!t.empty() && t[0] == '?') {
      path_ = "/";
      query_ = t.substr(1);
      return;
    }
  }
  auto q = t.find('?');
  if (q == std::string_view::npos) {
    path_ = t;
    query_ = {};
  } else {
    path_ = t.substr(0, q);
    query_ = t.substr(q + 1);
  }
}

void RequestImpl::set_params(const RawParam* params, std::size_t count) {
  param_count_ = static_cast<uint8_t>(count);
  for (std::size_t i = 0; i < count; ++i) {
    param_store_[i].name = params[i].name;
    std::string_view raw = params[i].value;
    if (raw.find('%') == std::string_view::npos) {
      param_store_[i].value = raw;
    } else {
      char* out = arena_.allocate(raw.size());
      param_store_[i].value = {out, base::percent_decode(raw, out)};
    }
  }
}

}  // namespace lithe::http
