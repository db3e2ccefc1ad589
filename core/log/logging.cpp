#include "core/log/logging.h"

#include <nlohmann/json.hpp>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <ctime>
#include <mutex>
#include <stdexcept>

namespace plano::log {
namespace {

// One JSON object per line on stderr; the message is escaped properly, unlike a pattern could.
class JsonSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    auto secs = std::chrono::system_clock::to_time_t(msg.time);
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char ts[40];
    std::size_t n = std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(ts + n, sizeof ts - n, ".%03lldZ", static_cast<long long>(millis));
    nlohmann::json line = {{"ts", ts},
                           {"level", spdlog::level::to_string_view(msg.level).data()},
                           {"msg", std::string(msg.payload.data(), msg.payload.size())}};
    auto text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::fwrite(text.data(), 1, text.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

}  // namespace

void configure(const std::string& level, const std::string& format) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    throw std::invalid_argument("--log-level must be trace, debug, info, warn or error, not \"" + level + "\"");
  }
  std::shared_ptr<spdlog::logger> logger;
  if (format == "json") {
    logger = std::make_shared<spdlog::logger>("plano", std::make_shared<JsonSink>());
  } else if (format == "text") {
    logger = std::make_shared<spdlog::logger>("plano", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  } else {
    throw std::invalid_argument("--log-format must be text or json, not \"" + format + "\"");
  }
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace plano::log
