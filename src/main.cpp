// The lithe daemon: command line (SPEC §2) → config → Server.
#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <boost/version.hpp>
#include <charconv>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "config/toml_version.hpp"
#include "config/units.hpp"
#include "http/parser.hpp"
#include "lithe/server.hpp"
#include "lithe/version.hpp"
#include "log/log.hpp"

namespace {

constexpr const char* usage_text =
    "usage: lithe [-c FILE] [-l ADDR]... [-w N] [-t] [--version] [-h]\n"
    "  -c, --config FILE   TOML config; without it the built-in default config is used\n"
    "  -l, --listen ADDR   replaces server.listen (repeatable): HOST:PORT, [V6]:PORT or unix:/path\n"
    "  -w, --workers N     replaces server.workers\n"
    "  -t, --check         validate the config and exit: 0, or 1 with each error as FILE:LINE:COL: message\n"
    "  --version           print the version and the versions of its libraries\n"
    "  -h, --help          print this help\n";

struct Options {
  std::optional<std::string> config_file;
  std::vector<lithe::ListenAddress> listen;
  std::optional<unsigned> workers;
  bool check = false;
};

int bad_usage(const std::string& message) {
  std::fprintf(stderr, "lithe: %s\n%s", message.c_str(), usage_text);
  return 1;
}

std::string versions() {
  return fmt::format(
      "lithe {}\nllhttp {}\nBoost.Asio {}.{}.{}\nsimdjson {}\ntoml++ {}\nspdlog {}.{}.{}\nfmt {}.{}.{}\n",
      lithe::version, lithe::http::llhttp_version(), BOOST_VERSION / 100000,
      BOOST_VERSION / 100 % 1000, BOOST_VERSION % 100,
      fmt::format("{}.{}.{}", int(simdjson::SIMDJSON_VERSION_MAJOR), int(simdjson::SIMDJSON_VERSION_MINOR),
                  int(simdjson::SIMDJSON_VERSION_REVISION)),
      lithe::config::toml_version(), SPDLOG_VER_MAJOR, SPDLOG_VER_MINOR, SPDLOG_VER_PATCH,
      FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100);
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* flag) -> std::optional<std::string> {
      if (i + 1 >= args.size()) return std::nullopt;
      (void)flag;
      return args[++i];
    };
    if (a == "-h" || a == "--help") {
      std::fputs(usage_text, stdout);
      return 0;
    } else if (a == "--version") {
      std::fputs(versions().c_str(), stdout);
      return 0;
    } else if (a == "-t" || a == "--check") {
      opt.check = true;
    } else if (a == "-c" || a == "--config") {
      auto v = value("-c");
      if (!v) return bad_usage(a + " needs a file");
      opt.config_file = *v;
    } else if (a == "-l" || a == "--listen") {
      auto v = value("-l");
      if (!v) return bad_usage(a + " needs an address");
      std::string error;
      auto addr = lithe::config::parse_listen_address(*v, &error);
      if (!addr) return bad_usage("bad listen address '" + *v + "': " + error);
      opt.listen.push_back(*addr);
    } else if (a == "-w" || a == "--workers") {
      auto v = value("-w");
      if (!v) return bad_usage(a + " needs a number");
      unsigned n = 0;
      auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      if (ec != std::errc() || end != v->data() + v->size() || n > 1024)
        return bad_usage("bad worker count '" + *v + "'");
      opt.workers = n;
    } else {
      return bad_usage("unknown argument '" + a + "'");
    }
  }

  lithe::Config config;
  try {
    config = opt.config_file ? lithe::load_config(*opt.config_file) : lithe::default_config();
  } catch (const lithe::ConfigErrors& e) {
    for (const auto& err : e.errors()) std::fprintf(stderr, "%s\n", err.to_string().c_str());
    return 1;
  }
  try {
    lithe::log::init(config.log);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lithe: cannot open log: %s\n", e.what());
    return 1;
  }

  lithe::Server server(std::move(config));
  // -l and -w stay in force across reloads (SPEC §2).
  if (!opt.listen.empty()) server.override_listen(opt.listen);
  if (opt.workers) server.override_workers(*opt.workers);
  if (opt.check) {
    try {
      server.check();
    } catch (const lithe::ConfigErrors& e) {
      for (const auto& err : e.errors()) std::fprintf(stderr, "%s\n", err.to_string().c_str());
      return 1;
    }
    std::printf("%s: ok\n", opt.config_file ? opt.config_file->c_str() : "<default>");
    return 0;
  }
  return server.run();
}
