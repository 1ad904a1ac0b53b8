#include "router/router.hpp"

#include <algorithm>
#include <utility>

namespace lithe::router {

namespace {

constexpr base::MethodMask get_bit = base::mask_of(base::Method::GET);
constexpr base::MethodMask head_bit = base::mask_of(base::Method::HEAD);

// Above this many literal children a node binary-searches its sorted keys; below, a linear
// scan is faster (no branch mispredictions, keys mostly differ in length).
constexpr std::size_t linear_scan_max = 8;

enum class SegmentKind : uint8_t { literal, param, wildcard };

struct Segment {
  SegmentKind kind;
  std::string_view text;  // the literal bytes, or the parameter's name
};

bool valid_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

// Splits a pattern into segments (the text after the leading '/', split on '/') and checks it.
// Returns "" on success, else why the pattern is refused.
std::string parse_pattern(std::string_view pattern, std::vector<Segment>& segments) {
  auto fail = [pattern](std::string_view why) {
    return "bad route pattern '" + std::string(pattern) + "': " + std::string(why);
  };
  if (pattern.empty() || pattern[0] != '/') return fail("must start with '/'");

  std::string_view rest = pattern.substr(1);
  std::size_t param_count = 0;
  for (;;) {
    std::size_t slash = rest.find('/');
    bool last = slash == std::string_view::npos;
    std::string_view seg = rest.substr(0, slash);

    Segment parsed{SegmentKind::literal, seg};
    if (!seg.empty() && seg[0] == '*') {
      if (!last) return fail("'*name' must be the last segment");
      parsed = {SegmentKind::wildcard, seg.substr(1)};
    } else if (!seg.empty() && seg[0] == '{') {
      std::size_t close = seg.find('}');
      if (close == std::string_view::npos) return fail("'{' without '}'");
      if (close != seg.size() - 1) return fail("'{name}' must be a whole segment");
      parsed = {SegmentKind::param, seg.substr(1, seg.size() - 2)};
    } else if (seg.find_first_of("{}") != std::string_view::npos) {
      return fail("'{name}' must be a whole segment");
    }

    if (parsed.kind != SegmentKind::literal) {
      if (parsed.text.empty()) return fail("empty parameter name");
      if (!valid_name(parsed.text)) {
        return fail("parameter name '" + std::string(parsed.text) + "' may only use [A-Za-z0-9_]");
      }
      for (const Segment& prior : segments) {
        if (prior.kind != SegmentKind::literal && prior.text == parsed.text)
          return fail("duplicate parameter name '" + std::string(parsed.text) + "'");
      }
      if (++param_count > max_params)
        return fail("more than " + std::to_string(max_params) + " parameters");
    }
    segments.push_back(parsed);
    if (last) break;
    rest = rest.substr(slash + 1);
  }
  return "";
}

// "GET", "GET,POST", or "ANY" for the full set; used in refusal messages.
std::string method_list(base::MethodMask methods) {
  if (methods == base::all_methods) return "ANY";
  std::string out;
  for (unsigned i = 0; i < base::method_count; ++i) {
    if ((methods & (base::MethodMask{1} << i)) == 0) continue;
    if (!out.empty()) out += ',';
    out += base::method_name(static_cast<base::Method>(i));
  }
  return out;
}

}  // namespace

struct Router::Node {
  struct Literal {
    std::string key;
    std::unique_ptr<Node> child;
  };

  struct Route {
    base::MethodMask methods;    // as added
    base::MethodMask effective;  // plus HEAD when implied by GET
    uint32_t id;
    // Param names in pattern order. Never resized after the add, so the strings never move
    // (moving a vector keeps its buffer) and match() can hand out views of them.
    std::vector<std::string> names;
  };

  // State of one match(): the first accepting route wins, but the walk continues so that
  // `allowed` covers every pattern matching the path.
  struct Walk {
    base::MethodMask want;  // the request method's bit; 0 for an unknown method
    Param* params;
    const Route* winner = nullptr;
    unsigned winner_params = 0;
    base::MethodMask allowed = 0;
  };

  std::vector<Literal> literals;  // sorted by key
  std::unique_ptr<Node> param;
  std::unique_ptr<Node> wildcard;
  std::vector<Route> routes;     // routes whose pattern ends here
  base::MethodMask allowed = 0;  // union of routes' effective masks

  const Node* find_literal(std::string_view seg) const {
    if (literals.size() <= linear_scan_max) {
      for (const Literal& lit : literals)
        if (lit.key == seg) return lit.child.get();
      return nullptr;
    }
    auto it = lower_bound(seg);
    return it != literals.end() && it->key == seg ? it->child.get() : nullptr;
  }

  std::vector<Literal>::const_iterator lower_bound(std::string_view seg) const {
    return std::lower_bound(
        literals.begin(), literals.end(), seg,
        [](const Literal& lit, std::string_view key) { return std::string_view(lit.key) < key; });
  }

  // The child for one pattern segment; creates it when asked, else nullptr if absent.
  Node* child(const Segment& seg, bool create) {
    std::unique_ptr<Node>* slot = nullptr;
    switch (seg.kind) {
      case SegmentKind::param:
        slot = &param;
        break;
      case SegmentKind::wildcard:
        slot = &wildcard;
        break;
      case SegmentKind::literal: {
        auto it = literals.begin() + (lower_bound(seg.text) - literals.cbegin());
        if (it != literals.end() && it->key == seg.text) return it->child.get();
        if (!create) return nullptr;
        return literals.insert(it, Literal{std::string(seg.text), std::make_unique<Node>()})
            ->child.get();
      }
    }
    if (!*slot && create) *slot = std::make_unique<Node>();
    return slot->get();
  }

  // GET implies HEAD unless a route at this same pattern names HEAD itself.
  void refresh_methods() {
    bool explicit_head = false;
    for (const Route& r : routes) explicit_head |= (r.methods & head_bit) != 0;
    allowed = 0;
    for (Route& r : routes) {
      r.effective = r.methods;
      if (!explicit_head && (r.methods & get_bit) != 0) r.effective |= head_bit;
      allowed |= r.effective;
    }
  }

  base::MethodMask subtree_allowed() const {
    base::MethodMask all = allowed;
    for (const Literal& lit : literals) all |= lit.child->subtree_allowed();
    if (param) all |= param->subtree_allowed();
    if (wildcard) all |= wildcard->subtree_allowed();
    return all;
  }

  // rest: the path from the current segment on (after its leading '/'). depth: params bound
  // so far. Tries exact, then {param}, then *rest, so the first route found has precedence.
  void walk(std::string_view rest, unsigned depth, Walk& w) const {
    std::size_t slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    if (const Node* lit = find_literal(seg)) lit->step(rest, slash, depth, w);
    if (param && !seg.empty()) {
      // Once a winner is chosen its params are final; later branches only gather `allowed`.
      if (!w.winner) w.params[depth].value = seg;
      param->step(rest, slash, depth + 1, w);
    }
    if (wildcard) {
      if (!w.winner) w.params[depth].value = rest;
      wildcard->arrive(depth + 1, w);
    }
  }

  // Goes on past the segment just matched, or ends here when it was the last one.
  void step(std::string_view rest, std::size_t slash, unsigned depth, Walk& w) const {
    if (slash == std::string_view::npos) {
      arrive(depth, w);
    } else {
      walk(rest.substr(slash + 1), depth, w);
    }
  }

  // The whole path matched this node's pattern.
  void arrive(unsigned depth, Walk& w) const {
    w.allowed |= allowed;
    if (w.winner || (allowed & w.want) == 0) return;
    for (const Route& r : routes) {
      if ((r.effective & w.want) != 0) {
        w.winner = &r;
        w.winner_params = depth;
        return;
      }
    }
  }
};

Router::Router() : root_(std::make_unique<Node>()) {}
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

std::string Router::add(std::string_view pattern, base::MethodMask methods, uint32_t route) {
  if (methods == 0) return "route '" + std::string(pattern) + "' has no methods";
  if ((methods & ~base::all_methods) != 0)
    return "route '" + std::string(pattern) + "' has unknown method bits";

  std::vector<Segment> segments;
  if (std::string err = parse_pattern(pattern, segments); !err.empty()) return err;
  if (!root_) root_ = std::make_unique<Node>();  // a moved-from router is usable again

  // Look before creating, so a refused duplicate leaves no empty nodes behind.
  Node* node = root_.get();
  for (const Segment& seg : segments) {
    node = node->child(seg, /*create=*/false);
    if (!node) break;
  }
  if (node) {
    for (const Node::Route& existing : node->routes) {
      if (base::MethodMask overlap = existing.methods & methods; overlap != 0)
        return "duplicate route: " + method_list(overlap) + " " + std::string(pattern);
    }
  } else {
    node = root_.get();
    for (const Segment& seg : segments) node = node->child(seg, /*create=*/true);
  }

  std::vector<std::string> names;
  for (const Segment& seg : segments)
    if (seg.kind != SegmentKind::literal) names.emplace_back(seg.text);
  node->routes.push_back(Node::Route{methods, methods, route, std::move(names)});
  node->refresh_methods();
  return "";
}

Match Router::match(base::Method method, std::string_view path, Param* params) const {
  Match result;
  if (!root_ || path.empty() || path[0] != '/') return result;

  auto index = static_cast<unsigned>(method);
  Node::Walk w{index < base::method_count ? base::mask_of(method) : 0, params};
  root_->walk(path.substr(1), 0, w);

  result.allowed = w.allowed;
  if (w.winner) {
    result.status = Match::Status::found;
    result.route = w.winner->id;
    result.param_count = static_cast<uint8_t>(w.winner_params);
    for (unsigned i = 0; i < w.winner_params; ++i) params[i].name = w.winner->names[i];
  } else if (w.allowed != 0) {
    result.status = Match::Status::method_not_allowed;
  }
  return result;
}

base::MethodMask Router::all_allowed() const {
  return root_ ? root_->subtree_allowed() : 0;
}

}  // namespace lithe::router
