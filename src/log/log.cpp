#include "log/log.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace lithe::log {

void init(const LogConfig& cfg) {
  std::shared_ptr<spdlog::logger> logger;
  if (cfg.error == "stderr")
    logger = std::make_shared<spdlog::logger>("lithe", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  else
    logger = std::make_shared<spdlog::logger>(
        "lithe", std::make_shared<spdlog::sinks::basic_file_sink_mt>(cfg.error));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z [%l] %v");
  logger->set_level(spdlog::level::from_str(cfg.level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace lithe::log
