// Snapshot building: metrics route slots stay stable across (re)loads, and running out of them
// is a config error like any other, never an exception escaping a reload.
#include "app/snapshot.hpp"

#include <gtest/gtest.h>

#include <string>

#include "handlers/handler.hpp"

namespace lithe::app {
namespace {

RouteConfig route(std::string path, std::vector<std::string> methods = {"GET"}) {
  RouteConfig r;
  r.path = std::move(path);
  r.methods = std::move(methods);
  r.handler = "health";
  r.path_pos = {7, 8};
  return r;
}

TEST(Snapshot, RouteSlotsAreStableAcrossLoadsAndSharedByPath) {
  handlers::Registry registry;
  handlers::ServerState state;
  Config first;
  first.routes = {route("/a"), route("/b")};
  auto one = build_snapshot(first, registry, state);
  Config second;
  second.routes = {route("/b"), route("/c"), route("/b", {"POST"})};
  auto two = build_snapshot(second, registry, state);

  ASSERT_EQ(one->route_slot.size(), 3u);  // two routes and the unmatched slot
  ASSERT_EQ(two->route_slot.size(), 4u);
  EXPECT_EQ(one->route_slot.back(), 0u);
  EXPECT_EQ(two->route_slot.back(), 0u);
  EXPECT_EQ(two->route_slot[0], one->route_slot[1]);  // /b keeps its slot
  EXPECT_EQ(two->route_slot[2], two->route_slot[0]);  // POST /b shares it
  EXPECT_NE(two->route_slot[1], one->route_slot[0]);  // /c is new
  EXPECT_EQ(state.metrics.labels(), (std::vector<std::string>{"<unmatched>", "/a", "/b", "/c"}));
}

TEST(Snapshot, RunningOutOfRouteSlotsIsAConfigError) {
  handlers::Registry registry;
  handlers::ServerState state;
  const std::size_t limit = metrics::RouteTable::chunk_size * metrics::RouteTable::max_chunks;
  Config cfg;
  cfg.source = "big.toml";
  for (std::size_t i = 0; i < limit; ++i) cfg.routes.push_back(route("/r" + std::to_string(i)));
  try {
    build_snapshot(cfg, registry, state);
    FAIL() << "expected ConfigErrors";
  } catch (const ConfigErrors& e) {
    ASSERT_EQ(e.errors().size(), 1u);  // the one path beyond the last slot
    EXPECT_EQ(e.errors()[0].to_string().rfind("big.toml:7:8: ", 0), 0u)
        << e.errors()[0].to_string();
  }
}

}  // namespace
}  // namespace lithe::app
