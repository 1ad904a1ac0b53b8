#include "log/client_address.hpp"

#include "base/text.hpp"

namespace lithe::log {

bool is_trusted(const ProxyConfig& proxy, const IpAddress& address) noexcept {
  for (const Cidr& cidr : proxy.trusted)
    if (cidr.contains(address)) return true;
  return false;
}

namespace {

// The walk from the right, computed in one pass from the left so that the list needs no storage
// and Forwarded's quoted commas need no backward scan: the answer depends only on the last hop
// that stops the walk and on the first good hop after it.
class HopWalk {
 public:
  explicit HopWalk(const ProxyConfig& proxy) : proxy_(proxy) {}

  void hop(const IpAddress& address) {
    if (!is_trusted(proxy_, address)) {
      stop_ = Stop::untrusted;
      untrusted_ = address;
      has_trusted_after_stop_ = false;
    } else if (!has_trusted_after_stop_) {
      trusted_after_stop_ = address;
      has_trusted_after_stop_ = true;
    }
  }

  void unreadable() {
    stop_ = Stop::unreadable;
    has_trusted_after_stop_ = false;
  }

  // nullopt: the walk named nobody, so the peer stands.
  std::optional<IpAddress> result() const {
    if (stop_ == Stop::untrusted) return untrusted_;
    if (has_trusted_after_stop_) return trusted_after_stop_;
    return std::nullopt;
  }

 private:
  enum class Stop : uint8_t { none, unreadable, untrusted };
  const ProxyConfig& proxy_;
  Stop stop_ = Stop::none;
  IpAddress untrusted_{};
  IpAddress trusted_after_stop_{};
  bool has_trusted_after_stop_ = false;
};

void walk_x_forwarded_for(std::string_view value, HopWalk& walk) {
  for (;;) {
    std::size_t comma = value.find(',');
    // Empty list elements are allowed and carry nothing (RFC 9110 §5.6.1).
    std::string_view element = base::trim_ows(value.substr(0, comma));
    if (!element.empty()) {
      if (auto address = base::parse_ip(element))
        walk.hop(*address);
      else
        walk.unreadable();
    }
    if (comma == std::string_view::npos) return;
    value.remove_prefix(comma + 1);
  }
}

bool is_qdtext(char c) {
  auto u = static_cast<unsigned char>(c);
  return u == '\t' || u == ' ' || u == 0x21 || (u >= 0x23 && u <= 0x5b) ||
         (u >= 0x5d && u <= 0x7e) || u >= 0x80;
}

bool is_obfuscated_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
         c == '_' || c == '-';
}

// node-port (RFC 7239 §6): 1*5DIGIT, or "_" and obfuscated characters.
bool is_node_port(std::string_view port) {
  if (port.empty()) return false;
  if (port[0] == '_') {
    if (port.size() == 1) return false;
    for (char c : port)
      if (!is_obfuscated_char(c)) return false;
    return true;
  }
  if (port.size() > 5) return false;
  for (char c : port)
    if (c < '0' || c > '9') return false;
  return true;
}

// A for= node: IPv4, or [IPv6], each with an optional port. "unknown" and obfuscated names
// ("_hidden") name no address, so they give nullopt like garbage does.
std::optional<IpAddress> parse_node(std::string_view node) {
  std::string_view name, port_part;
  if (!node.empty() && node[0] == '[') {
    std::size_t close = node.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    name = node.substr(1, close - 1);
    if (name.find(':') == std::string_view::npos) return std::nullopt;  // "[192.0.2.1]"
    port_part = node.substr(close + 1);
  } else {
    std::size_t colon = node.find(':');
    name = node.substr(0, colon);
    if (colon != std::string_view::npos) port_part = node.substr(colon);
  }
  if (!port_part.empty() && (port_part[0] != ':' || !is_node_port(port_part.substr(1))))
    return std::nullopt;
  return base::parse_ip(name);
}

// Reads the Forwarded grammar (RFC 7239 §4) over one field value, with OWS tolerated around
// ";" as well as ",".
class ForwardedReader {
 public:
  explicit ForwardedReader(std::string_view text) : text_(text) {}

  // Feeds every element of the field to walk. A syntax error makes the rest of the field one
  // unreadable hop: where its elements begin can no longer be told.
  void walk(HopWalk& walk) {
    for (;;) {
      skip_ows();
      if (at_end()) return;
      Element element;
      if (!read_element(element)) {
        walk.unreadable();
        return;
      }
      if (element.pairs > 0) {
        std::optional<IpAddress> address;
        if (element.for_count == 1 && !element.for_escaped) address = parse_node(element.for_value);
        if (address)
          walk.hop(*address);
        else
          walk.unreadable();
      }
      if (at_end()) return;
      ++pos_;  // the ',' that ended the element
    }
  }

 private:
  struct Element {
    std::size_t pairs = 0;
    std::size_t for_count = 0;  // more than one is malformed (§4)
    std::string_view for_value;
    bool for_escaped = false;  // a quoted-pair: no address needs one, so it is refused
  };

  bool at_end() const { return pos_ == text_.size(); }

  void skip_ows() {
    while (!at_end() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
  }

  bool read_token(std::string_view& out) {
    std::size_t start = pos_;
    while (!at_end() && base::is_tchar(text_[pos_])) ++pos_;
    out = text_.substr(start, pos_ - start);
    return !out.empty();
  }

  // A token or a quoted-string; out is the quoted string's raw content.
  bool read_value(std::string_view& out, bool& escaped) {
    escaped = false;
    if (at_end() || text_[pos_] != '"') return read_token(out);
    std::size_t start = ++pos_;
    while (!at_end()) {
      char c = text_[pos_];
      if (c == '"') {
        out = text_.substr(start, pos_ - start);
        ++pos_;
        return true;
      }
      if (c == '\\') {
        escaped = true;
        if (++pos_ == text_.size()) return false;
        char quoted = text_[pos_];
        if (!is_qdtext(quoted) && quoted != '"' && quoted != '\\') return false;
      } else if (!is_qdtext(c)) {
        return false;
      }
      ++pos_;
    }
    return false;  // unterminated
  }

  // Stops at the end of the text or on the ',' after the element (not consumed).
  bool read_element(Element& element) {
    for (;;) {
      skip_ows();
      if (at_end() || text_[pos_] == ',') return true;
      if (text_[pos_] == ';') {  // an empty pair
        ++pos_;
        continue;
      }
      std::string_view name, value;
      bool escaped = false;
      if (!read_token(name)) return false;
      if (at_end() || text_[pos_] != '=') return false;
      ++pos_;
      if (!read_value(value, escaped)) return false;
      ++element.pairs;
      if (base::iequals(name, "for")) {
        ++element.for_count;
        element.for_value = value;
        element.for_escaped = escaped;
      }
      skip_ows();
      if (at_end() || text_[pos_] == ',') return true;
      if (text_[pos_] != ';') return false;
      ++pos_;
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

std::optional<IpAddress> from_x_real_ip(std::span<const Header> headers) {
  std::optional<IpAddress> found;
  std::size_t fields = 0;
  for (const Header& header : headers) {
    if (!base::iequals(header.name, "X-Real-IP")) continue;
    // Two fields cannot be told apart: which one did the trusted proxy write?
    if (++fields > 1) return std::nullopt;
    found = base::parse_ip(base::trim_ows(header.value));
  }
  return found;
}

}  // namespace

IpAddress resolve_client_address(const IpAddress& peer, const ProxyConfig& proxy,
                                 std::span<const Header> headers) noexcept {
  if (!is_trusted(proxy, peer)) return peer;
  return forwarded_client(proxy, headers).value_or(peer);
}

std::optional<IpAddress> forwarded_client(const ProxyConfig& proxy,
                                          std::span<const Header> headers) noexcept {
  const std::string& wanted = proxy.client_header;
  if (base::iequals(wanted, "X-Real-IP")) return from_x_real_ip(headers);
  bool forwarded = base::iequals(wanted, "Forwarded");
  if (!forwarded && !base::iequals(wanted, "X-Forwarded-For")) return std::nullopt;

  HopWalk walk(proxy);
  for (const Header& header : headers) {
    if (!base::iequals(header.name, wanted)) continue;
    if (forwarded)
      ForwardedReader(header.value).walk(walk);
    else
      walk_x_forwarded_for(header.value, walk);
  }
  return walk.result();
}

std::string_view client_address(const IpAddress& peer, const ProxyConfig& proxy,
                                std::span<const Header> headers,
                                char (&out)[ip_text_size]) noexcept {
  return base::format_ip(resolve_client_address(peer, proxy, headers), out);
}

}  // namespace lithe::log
