// Process-wide logging set-up: text for people, JSON lines for log pipelines.
#pragma once

#include <string>

namespace plano::log {

// level: trace, debug, info, warn, error; format: text or json. Throws std::invalid_argument.
void configure(const std::string& level, const std::string& format);

}  // namespace plano::log
