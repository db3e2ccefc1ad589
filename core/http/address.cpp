#include "core/http/address.h"

#include <stdexcept>

namespace plano::http {

std::pair<std::string, std::uint16_t> parse_address(const std::string& address, const std::string& flag) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument(flag + " must be HOST:PORT, e.g. 0.0.0.0:8080");
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  const std::string port_text = address.substr(colon + 1);
  int port = -1;
  if (!port_text.empty() && port_text.size() <= 5 && port_text.find_first_not_of("0123456789") == std::string::npos) {
    port = std::stoi(port_text);
  }
  if (port < 0 || port > 65535) throw std::invalid_argument(flag + ": \"" + address + "\" has no valid port");
  return {host, static_cast<std::uint16_t>(port)};
}

}  // namespace plano::http
