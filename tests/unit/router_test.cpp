#include "router/router.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lithe::router {
namespace {

using base::Method;
using base::MethodMask;
using Status = Match::Status;

constexpr MethodMask kGet = base::mask_of(Method::GET);
constexpr MethodMask kHead = base::mask_of(Method::HEAD);
constexpr MethodMask kPost = base::mask_of(Method::POST);
constexpr MethodMask kPut = base::mask_of(Method::PUT);
constexpr MethodMask kDelete = base::mask_of(Method::DELETE_);

using Params = std::vector<std::pair<std::string, std::string>>;

struct Result {
  Match match;
  Params params;
};

Result MatchPath(const Router& router, Method method, std::string_view path) {
  std::array<Param, max_params> slots{};
  Result r{router.match(method, path, slots.data()), {}};
  for (unsigned i = 0; i < r.match.param_count; ++i)
    r.params.emplace_back(std::string(slots[i].name), std::string(slots[i].value));
  return r;
}

// The route id for GET path, or -1 when nothing is found.
int64_t RouteFor(const Router& router, std::string_view path, Method method = Method::GET) {
  Match m = MatchPath(router, method, path).match;
  return m.status == Status::found ? static_cast<int64_t>(m.route) : -1;
}

void Add(Router& router, std::string_view pattern, MethodMask methods, uint32_t id) {
  ASSERT_EQ(router.add(pattern, methods, id), "") << pattern;
}

TEST(RouterTest, RootPatternMatchesOnlySlash) {
  Router r;
  Add(r, "/", kGet, 1);
  EXPECT_EQ(RouteFor(r, "/"), 1);
  EXPECT_EQ(RouteFor(r, "//"), -1);
  EXPECT_EQ(RouteFor(r, "/a"), -1);
  EXPECT_EQ(MatchPath(r, Method::GET, "/a").match.status, Status::not_found);
}

TEST(RouterTest, LiteralRoutesMatchExactly) {
  Router r;
  Add(r, "/users", kGet, 1);
  Add(r, "/users/list", kGet, 2);
  Add(r, "/user", kGet, 3);
  EXPECT_EQ(RouteFor(r, "/users"), 1);
  EXPECT_EQ(RouteFor(r, "/users/list"), 2);
  EXPECT_EQ(RouteFor(r, "/user"), 3);
  EXPECT_EQ(RouteFor(r, "/users/lis"), -1);
  EXPECT_EQ(RouteFor(r, "/Users"), -1);
}

TEST(RouterTest, UnknownPathIsNotFoundWithEmptyAllowed) {
  Router r;
  Add(r, "/a", kGet, 1);
  Result res = MatchPath(r, Method::GET, "/b");
  EXPECT_EQ(res.match.status, Status::not_found);
  EXPECT_EQ(res.match.allowed, 0u);
  EXPECT_EQ(res.match.param_count, 0u);
}

TEST(RouterTest, EmptyRouterFindsNothing) {
  Router r;
  EXPECT_EQ(MatchPath(r, Method::GET, "/").match.status, Status::not_found);
  EXPECT_EQ(r.all_allowed(), 0u);
}

TEST(RouterTest, PathWithoutLeadingSlashIsNotFound) {
  Router r;
  Add(r, "/*rest", base::all_methods, 1);
  EXPECT_EQ(MatchPath(r, Method::OPTIONS, "*").match.status, Status::not_found);
  EXPECT_EQ(MatchPath(r, Method::GET, "").match.status, Status::not_found);
  EXPECT_EQ(MatchPath(r, Method::GET, "http://x/").match.status, Status::not_found);
}

TEST(RouterTest, TrailingSlashIsSignificant) {
  Router r;
  Add(r, "/a", kGet, 1);
  Add(r, "/b/", kGet, 2);
  EXPECT_EQ(RouteFor(r, "/a"), 1);
  EXPECT_EQ(RouteFor(r, "/a/"), -1);
  EXPECT_EQ(RouteFor(r, "/b/"), 2);
  EXPECT_EQ(RouteFor(r, "/b"), -1);
  Add(r, "/a/", kGet, 3);
  EXPECT_EQ(RouteFor(r, "/a"), 1);
  EXPECT_EQ(RouteFor(r, "/a/"), 3);
}

TEST(RouterTest, EmptySegmentsAreLiteral) {
  Router r;
  Add(r, "/a//b", kGet, 1);
  Add(r, "//", kGet, 2);
  EXPECT_EQ(RouteFor(r, "/a//b"), 1);
  EXPECT_EQ(RouteFor(r, "/a/b"), -1);
  EXPECT_EQ(RouteFor(r, "//"), 2);
  EXPECT_EQ(RouteFor(r, "/"), -1);
}

TEST(RouterTest, ParamDoesNotMatchEmptySegment) {
  Router r;
  Add(r, "/u/{id}", kGet, 1);
  Add(r, "/{x}", kGet, 2);
  EXPECT_EQ(RouteFor(r, "/u/"), -1);
  EXPECT_EQ(RouteFor(r, "/u//"), -1);
  EXPECT_EQ(RouteFor(r, "/"), -1);
  EXPECT_EQ(RouteFor(r, "/u/7"), 1);
  EXPECT_EQ(RouteFor(r, "/u"), 2);
}

TEST(RouterTest, ExactBeatsParamBeatsWildcardInAnyInsertionOrder) {
  const std::vector<std::pair<std::string, uint32_t>> routes = {
      {"/files/readme", 1}, {"/files/{name}", 2}, {"/files/*rest", 3}};
  for (int order = 0; order < 2; ++order) {
    Router r;
    if (order == 0) {
      for (const auto& [pattern, id] : routes) Add(r, pattern, kGet, id);
    } else {
      for (auto it = routes.rbegin(); it != routes.rend(); ++it)
        Add(r, it->first, kGet, it->second);
    }
    SCOPED_TRACE(order);
    EXPECT_EQ(RouteFor(r, "/files/readme"), 1);
    EXPECT_EQ(RouteFor(r, "/files/other"), 2);
    EXPECT_EQ(RouteFor(r, "/files/a/b"), 3);
    EXPECT_EQ(RouteFor(r, "/files/"), 3);
  }
}

TEST(RouterTest, BacktracksFromLiteralToParamBranch) {
  Router r;
  Add(r, "/a/b/c", kGet, 1);
  Add(r, "/{x}/b/d", kGet, 2);
  Result res = MatchPath(r, Method::GET, "/a/b/d");
  ASSERT_EQ(res.match.status, Status::found);
  EXPECT_EQ(res.match.route, 2u);
  EXPECT_EQ(res.params, (Params{{"x", "a"}}));
  EXPECT_EQ(RouteFor(r, "/a/b/c"), 1);
  EXPECT_EQ(RouteFor(r, "/a/b/e"), -1);
}

TEST(RouterTest, BacktracksToWildcardAfterParamBranchFails) {
  Router r;
  Add(r, "/{x}/{y}/z", kGet, 1);
  Add(r, "/{x}/*rest", kGet, 2);
  Result res = MatchPath(r, Method::GET, "/a/b/q");
  ASSERT_EQ(res.match.status, Status::found);
  EXPECT_EQ(res.match.route, 2u);
  EXPECT_EQ(res.params, (Params{{"x", "a"}, {"rest", "b/q"}}));
  res = MatchPath(r, Method::GET, "/a/b/z");
  EXPECT_EQ(res.match.route, 1u);
  EXPECT_EQ(res.params, (Params{{"x", "a"}, {"y", "b"}}));
}

TEST(RouterTest, FailedBranchDoesNotLeaveStaleParamValues) {
  Router r;
  Add(r, "/a/{y}/z", kGet, 1);
  Add(r, "/{x}/{y}/w", kGet, 2);
  Result res = MatchPath(r, Method::GET, "/a/b/w");
  ASSERT_EQ(res.match.status, Status::found);
  EXPECT_EQ(res.match.route, 2u);
  EXPECT_EQ(res.params, (Params{{"x", "a"}, {"y", "b"}}));
}

TEST(RouterTest, LaterMatchingPatternsDoNotOverwriteWinnerParams) {
  Router r;
  Add(r, "/a/{y}", kGet, 1);
  Add(r, "/{x}/{z}", kPost, 2);
  Result res = MatchPath(r, Method::GET, "/a/b");
  ASSERT_EQ(res.match.status, Status::found);
  EXPECT_EQ(res.match.route, 1u);
  EXPECT_EQ(res.params, (Params{{"y", "b"}}));
  EXPECT_EQ(res.match.allowed, kGet | kHead | kPost);
}

TEST(RouterTest, ParamsCarryNamesAndRawUndecodedValues) {
  Router r;
  Add(r, "/org/{org_id}/repo/{Repo9}", kGet, 4);
  Result res = MatchPath(r, Method::GET, "/org/acme%20inc/repo/x%2Fy");
  ASSERT_EQ(res.match.status, Status::found);
  EXPECT_EQ(res.match.route, 4u);
  EXPECT_EQ(res.match.param_count, 2u);
  EXPECT_EQ(res.params, (Params{{"org_id", "acme%20inc"}, {"Repo9", "x%2Fy"}}));
}

TEST(RouterTest, ParamValuesAreViewsIntoThePath) {
  Router r;
  Add(r, "/u/{id}/*rest", kGet, 1);
  const std::string path = "/u/42/a/b";
  std::array<Param, max_params> slots{};
  Match m = r.match(Method::GET, path, slots.data());
  ASSERT_EQ(m.status, Status::found);
  ASSERT_EQ(m.param_count, 2u);
  EXPECT_EQ(slots[0].value.data(), path.data() + 3);
  EXPECT_EQ(slots[0].value.size(), 2u);
  EXPECT_EQ(slots[1].value.data(), path.data() + 6);
  EXPECT_EQ(slots[1].value, "a/b");
}

TEST(RouterTest, ParamNamesComeFromTheRouteThatMatched) {
  Router r;
  Add(r, "/u/{id}", kGet, 1);
  Add(r, "/u/{name}", kPost, 2);
  Result get = MatchPath(r, Method::GET, "/u/7");
  EXPECT_EQ(get.match.route, 1u);
  EXPECT_EQ(get.params, (Params{{"id", "7"}}));
  Result post = MatchPath(r, Method::POST, "/u/7");
  EXPECT_EQ(post.match.route, 2u);
  EXPECT_EQ(post.params, (Params{{"name", "7"}}));
}

TEST(RouterTest, WildcardMatchesRestIncludingEmptyAndNested) {
  Router r;
  Add(r, "/static/*path", kGet, 1);
  Result res = MatchPath(r, Method::GET, "/static/a/b.css");
  ASSERT_EQ(res.match.status, Status::found);
  EXPECT_EQ(res.params, (Params{{"path", "a/b.css"}}));

  res = MatchPath(r, Method::GET, "/static/");
  ASSERT_EQ(res.match.status, Status::found);
  EXPECT_EQ(res.params, (Params{{"path", ""}}));

  res = MatchPath(r, Method::GET, "/static/a//b/");
  ASSERT_EQ(res.match.status, Status::found);
  EXPECT_EQ(res.params, (Params{{"path", "a//b/"}}));

  EXPECT_EQ(RouteFor(r, "/static"), -1);
  EXPECT_EQ(RouteFor(r, "/staticx/a"), -1);
}

TEST(RouterTest, WildcardAtRootMatchesEverything) {
  Router r;
  Add(r, "/*all", kGet, 9);
  Add(r, "/api/{v}", kGet, 1);
  EXPECT_EQ(MatchPath(r, Method::GET, "/").params, (Params{{"all", ""}}));
  EXPECT_EQ(MatchPath(r, Method::GET, "/x/y").params, (Params{{"all", "x/y"}}));
  EXPECT_EQ(RouteFor(r, "/api/2"), 1);
  EXPECT_EQ(MatchPath(r, Method::GET, "/api/2/x").params, (Params{{"all", "api/2/x"}}));
}

TEST(RouterTest, MethodNotAllowedReportsAllowedMask) {
  Router r;
  Add(r, "/items", kGet, 1);
  Add(r, "/items", kPost, 2);
  Result res = MatchPath(r, Method::DELETE_, "/items");
  EXPECT_EQ(res.match.status, Status::method_not_allowed);
  EXPECT_EQ(res.match.allowed, kGet | kHead | kPost);
  EXPECT_EQ(res.match.param_count, 0u);
  EXPECT_EQ(RouteFor(r, "/items", Method::POST), 2);
}

TEST(RouterTest, AllowedIsUnionOfEveryMatchingPattern) {
  Router r;
  Add(r, "/users/me", kGet, 1);
  Add(r, "/users/{id}", kDelete, 2);
  Add(r, "/users/*rest", kPut, 3);
  Add(r, "/users/other", kPost, 4);  // does not match /users/me
  Result res = MatchPath(r, Method::PATCH, "/users/me");
  EXPECT_EQ(res.match.status, Status::method_not_allowed);
  EXPECT_EQ(res.match.allowed, kGet | kHead | kDelete | kPut);
}

TEST(RouterTest, FoundAlsoReportsAllowed) {
  Router r;
  Add(r, "/users/me", kGet, 1);
  Add(r, "/users/{id}", kDelete, 2);
  Result res = MatchPath(r, Method::GET, "/users/me");
  ASSERT_EQ(res.match.status, Status::found);
  EXPECT_EQ(res.match.allowed, kGet | kHead | kDelete);
  res = MatchPath(r, Method::GET, "/users/5");
  EXPECT_EQ(res.match.status, Status::method_not_allowed);
  EXPECT_EQ(res.match.allowed, kDelete);
}

TEST(RouterTest, LowerPrecedencePatternServesMethodTheBetterOneRefuses) {
  Router r;
  Add(r, "/users/me", kGet, 1);
  Add(r, "/users/{id}", kDelete, 2);
  Result res = MatchPath(r, Method::DELETE_, "/users/me");
  ASSERT_EQ(res.match.status, Status::found);
  EXPECT_EQ(res.match.route, 2u);
  EXPECT_EQ(res.params, (Params{{"id", "me"}}));
}

TEST(RouterTest, GetImpliesHead) {
  Router r;
  Add(r, "/page", kGet, 1);
  Result res = MatchPath(r, Method::HEAD, "/page");
  ASSERT_EQ(res.match.status, Status::found);
  EXPECT_EQ(res.match.route, 1u);
  EXPECT_EQ(res.match.allowed, kGet | kHead);
}

TEST(RouterTest, ExplicitHeadRouteOverridesImpliedHeadInEitherOrder) {
  for (int head_first = 0; head_first < 2; ++head_first) {
    SCOPED_TRACE(head_first);
    Router r;
    if (head_first) Add(r, "/page/{p}", kHead, 2);
    Add(r, "/page/{id}", kGet, 1);
    if (!head_first) Add(r, "/page/{p}", kHead, 2);
    Result head = MatchPath(r, Method::HEAD, "/page/x");
    ASSERT_EQ(head.match.status, Status::found);
    EXPECT_EQ(head.match.route, 2u);
    EXPECT_EQ(head.params, (Params{{"p", "x"}}));
    EXPECT_EQ(RouteFor(r, "/page/x"), 1);
    EXPECT_EQ(head.match.allowed, kGet | kHead);
  }
}

TEST(RouterTest, ExplicitHeadAtAnotherPatternDoesNotDisableImpliedHead) {
  Router r;
  Add(r, "/a/b", kGet, 1);
  Add(r, "/{x}/b", kHead, 2);
  EXPECT_EQ(RouteFor(r, "/a/b", Method::HEAD), 1);
  EXPECT_EQ(RouteFor(r, "/z/b", Method::HEAD), 2);
}

TEST(RouterTest, GetWithoutImpliedHeadStillAllowsHeadFromExplicitRouteOnly) {
  Router r;
  Add(r, "/x", kGet, 1);
  Add(r, "/x", kHead | kPost, 2);
  EXPECT_EQ(RouteFor(r, "/x", Method::HEAD), 2);
  EXPECT_EQ(RouteFor(r, "/x", Method::POST), 2);
  EXPECT_EQ(RouteFor(r, "/x", Method::GET), 1);
}

TEST(RouterTest, AnyMethodRouteAcceptsEveryMethod) {
  Router r;
  Add(r, "/any", base::all_methods, 5);
  for (unsigned i = 0; i < base::method_count; ++i) {
    auto m = static_cast<Method>(i);
    SCOPED_TRACE(base::method_name(m));
    Result res = MatchPath(r, m, "/any");
    ASSERT_EQ(res.match.status, Status::found);
    EXPECT_EQ(res.match.route, 5u);
    EXPECT_EQ(res.match.allowed, base::all_methods);
  }
}

TEST(RouterTest, AnyRouteAtParamCatchesWhatLiteralRefuses) {
  Router r;
  Add(r, "/x/me", kGet, 1);
  Add(r, "/x/{id}", base::all_methods, 2);
  EXPECT_EQ(RouteFor(r, "/x/me"), 1);
  EXPECT_EQ(RouteFor(r, "/x/me", Method::POST), 2);
  EXPECT_EQ(RouteFor(r, "/x/me", Method::HEAD), 1);
}

TEST(RouterTest, DuplicateRouteIsRefusedNamingTheMethod) {
  Router r;
  Add(r, "/u/{id}", kGet | kPost, 1);
  EXPECT_EQ(r.add("/u/{id}", kGet, 2), "duplicate route: GET /u/{id}");
  EXPECT_EQ(r.add("/u/{id}", kPost | kGet | kPut, 2), "duplicate route: GET,POST /u/{id}");
}

TEST(RouterTest, DuplicateIgnoresParamNames) {
  Router r;
  Add(r, "/u/{id}/*rest", kGet, 1);
  EXPECT_EQ(r.add("/u/{name}/*tail", kGet, 2), "duplicate route: GET /u/{name}/*tail");
}

TEST(RouterTest, AnyPlusSpecificMethodAtSamePatternIsDuplicate) {
  Router r;
  Add(r, "/a", base::all_methods, 1);
  EXPECT_EQ(r.add("/a", kPost, 2), "duplicate route: POST /a");
  EXPECT_EQ(r.add("/a", base::all_methods, 2), "duplicate route: ANY /a");

  Router s;
  Add(s, "/a", kPut, 1);
  EXPECT_EQ(s.add("/a", base::all_methods, 2), "duplicate route: PUT /a");
}

TEST(RouterTest, DisjointMethodsAtSamePatternAreNotDuplicates) {
  Router r;
  EXPECT_EQ(r.add("/a", kGet, 1), "");
  EXPECT_EQ(r.add("/a", kPost, 2), "");
  EXPECT_EQ(r.add("/a", kHead, 3), "");
  EXPECT_EQ(RouteFor(r, "/a", Method::GET), 1);
  EXPECT_EQ(RouteFor(r, "/a", Method::POST), 2);
  EXPECT_EQ(RouteFor(r, "/a", Method::HEAD), 3);
}

TEST(RouterTest, RefusedRouteHasNoEffect) {
  Router r;
  Add(r, "/a", kGet, 1);
  EXPECT_NE(r.add("/a", kGet | kPost, 2), "");
  EXPECT_NE(r.add("/b/{x", kGet, 3), "");
  EXPECT_EQ(MatchPath(r, Method::POST, "/a").match.status, Status::method_not_allowed);
  EXPECT_EQ(RouteFor(r, "/a"), 1);
  EXPECT_EQ(MatchPath(r, Method::GET, "/b/{x").match.status, Status::not_found);
  EXPECT_EQ(r.all_allowed(), kGet | kHead);
}

TEST(RouterTest, BadPatternsAreRefusedWithReason) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "bad route pattern '': must start with '/'"},
      {"a/b", "bad route pattern 'a/b': must start with '/'"},
      {"/*rest/x", "bad route pattern '/*rest/x': '*name' must be the last segment"},
      {"/{id", "bad route pattern '/{id': '{' without '}'"},
      {"/a{b}", "bad route pattern '/a{b}': '{name}' must be a whole segment"},
      {"/{a}b", "bad route pattern '/{a}b': '{name}' must be a whole segment"},
      {"/a}", "bad route pattern '/a}': '{name}' must be a whole segment"},
      {"/{}", "bad route pattern '/{}': empty parameter name"},
      {"/x/*", "bad route pattern '/x/*': empty parameter name"},
      {"/{a-b}", "bad route pattern '/{a-b}': parameter name 'a-b' may only use [A-Za-z0-9_]"},
      {"/*a.b", "bad route pattern '/*a.b': parameter name 'a.b' may only use [A-Za-z0-9_]"},
      {"/{id}/{id}", "bad route pattern '/{id}/{id}': duplicate parameter name 'id'"},
      {"/{id}/*id", "bad route pattern '/{id}/*id': duplicate parameter name 'id'"},
  };
  for (const auto& [pattern, message] : cases) {
    Router r;
    EXPECT_EQ(r.add(pattern, kGet, 1), message);
    EXPECT_EQ(r.all_allowed(), 0u) << pattern;
  }
}

TEST(RouterTest, LiteralStarInsideSegmentIsAllowed) {
  Router r;
  Add(r, "/a*b/c*", kGet, 1);
  EXPECT_EQ(RouteFor(r, "/a*b/c*"), 1);
  EXPECT_EQ(RouteFor(r, "/a*b/cd"), -1);
}

std::string PatternWithParams(std::size_t count, bool wildcard_last) {
  std::string pattern;
  for (std::size_t i = 0; i < count; ++i) {
    bool star = wildcard_last && i + 1 == count;
    pattern += star ? "/*p" + std::to_string(i) : "/{p" + std::to_string(i) + "}";
  }
  return pattern;
}

TEST(RouterTest, MaxParamsAcceptedOneMoreRefused) {
  Router r;
  std::string ok = PatternWithParams(max_params, true);
  Add(r, ok, kGet, 1);
  std::string path;
  for (std::size_t i = 0; i < max_params; ++i) path += "/v" + std::to_string(i);
  Result res = MatchPath(r, Method::GET, path + "/more");
  ASSERT_EQ(res.match.status, Status::found);
  ASSERT_EQ(res.params.size(), max_params);
  EXPECT_EQ(res.params.front(), (std::pair<std::string, std::string>{"p0", "v0"}));
  EXPECT_EQ(res.params.back(), (std::pair<std::string, std::string>{"p15", "v15/more"}));

  std::string too_many = PatternWithParams(max_params + 1, false);
  EXPECT_EQ(r.add(too_many, kGet, 2),
            "bad route pattern '" + too_many + "': more than 16 parameters");
}

TEST(RouterTest, RouteWithoutMethodsIsRefused) {
  Router r;
  EXPECT_EQ(r.add("/a", 0, 1), "route '/a' has no methods");
  EXPECT_EQ(r.add("/a", base::all_methods + 1, 1), "route '/a' has unknown method bits");
  EXPECT_EQ(r.all_allowed(), 0u);
}

TEST(RouterTest, AllAllowedIsUnionOfEveryRouteWithImpliedHead) {
  Router r;
  Add(r, "/a", kGet, 1);
  EXPECT_EQ(r.all_allowed(), kGet | kHead);
  Add(r, "/b/{x}", kPost, 2);
  Add(r, "/c/*rest", kDelete, 3);
  EXPECT_EQ(r.all_allowed(), kGet | kHead | kPost | kDelete);
  Add(r, "/d", base::all_methods, 4);
  EXPECT_EQ(r.all_allowed(), base::all_methods);
}

TEST(RouterTest, ManyRoutesAllStillMatch) {
  Router r;
  constexpr uint32_t kCount = 200;
  // Interleave deep literals, params and wildcards; sibling fan-out exceeds the linear-scan size.
  for (uint32_t i = 0; i < kCount; ++i) {
    std::string n = std::to_string(i);
    Add(r, "/r" + n, kGet, i * 4);
    Add(r, "/r" + n + "/{id}", kGet, i * 4 + 1);
    Add(r, "/g/" + n + "/*rest", kPost, i * 4 + 2);
    Add(r, "/g/" + n + "/fixed", kPost, i * 4 + 3);
  }
  for (uint32_t i = 0; i < kCount; ++i) {
    std::string n = std::to_string(i);
    SCOPED_TRACE(n);
    EXPECT_EQ(RouteFor(r, "/r" + n), i * 4);
    Result res = MatchPath(r, Method::GET, "/r" + n + "/x" + n);
    ASSERT_EQ(res.match.status, Status::found);
    EXPECT_EQ(res.match.route, i * 4 + 1);
    EXPECT_EQ(res.params, (Params{{"id", "x" + n}}));
    EXPECT_EQ(RouteFor(r, "/g/" + n + "/a/b", Method::POST), i * 4 + 2);
    EXPECT_EQ(RouteFor(r, "/g/" + n + "/fixed", Method::POST), i * 4 + 3);
  }
  EXPECT_EQ(RouteFor(r, "/r200"), -1);
  EXPECT_EQ(RouteFor(r, "/g/200/fixed", Method::POST), -1);
}

TEST(RouterTest, MovedRouterKeepsRoutesAndParamNameViews) {
  Router a;
  Add(a, "/u/{id}", kGet, 1);
  std::array<Param, max_params> slots{};
  ASSERT_EQ(a.match(Method::GET, "/u/1", slots.data()).status, Status::found);
  const char* name_before = slots[0].name.data();

  Router b(std::move(a));
  for (int i = 0; i < 50; ++i) Add(b, "/u/{id}/x" + std::to_string(i), kGet, 100);
  Add(b, "/u/{name}", kPost, 2);  // grows the route list of the same node
  EXPECT_EQ(slots[0].name, "id");
  std::array<Param, max_params> again{};
  ASSERT_EQ(b.match(Method::GET, "/u/1", again.data()).status, Status::found);
  EXPECT_EQ(again[0].name.data(), name_before);

  Router c;
  c = std::move(b);
  EXPECT_EQ(RouteFor(c, "/u/9", Method::POST), 2);
}

TEST(RouterTest, UnknownMethodValueIsNeverAccepted) {
  Router r;
  Add(r, "/a", base::all_methods, 1);
  Result res = MatchPath(r, static_cast<Method>(200), "/a");
  EXPECT_EQ(res.match.status, Status::method_not_allowed);
  EXPECT_EQ(res.match.allowed, base::all_methods);
}

}  // namespace
}  // namespace lithe::router
