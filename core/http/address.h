// Listen addresses given on the command line.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace plano::http {

// "host:port", "[::1]:port" or ":port" (all interfaces) -> (host, port); port 0 picks a free one.
// Throws std::invalid_argument naming `flag`.
std::pair<std::string, std::uint16_t> parse_address(const std::string& address, const std::string& flag);

}  // namespace plano::http
