#include "core/rules/base_url.h"

#include <algorithm>
#include <cctype>

namespace plano::rules {

std::optional<BaseUrl> parse_base_url(const std::string& url) {
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
  };
  auto sep = url.find("://");
  if (sep == std::string::npos || sep == 0) return std::nullopt;
  BaseUrl out;
  out.scheme = lower(url.substr(0, sep));
  auto rest = url.substr(sep + 3);
  auto path_at = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, path_at);
  out.path = path_at == std::string::npos ? "" : rest.substr(path_at);
  if (auto at = authority.rfind('@'); at != std::string::npos) {
    out.hasUserinfo = true;
    authority = authority.substr(at + 1);
  }
  std::string port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos) return std::nullopt;
    out.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return std::nullopt;
      port = authority.substr(close + 2);
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string::npos) {
    out.host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  } else {
    out.host = authority;
  }
  out.host = lower(out.host);
  if (out.host.empty()) return std::nullopt;
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); })) {
      return std::nullopt;
    }
    out.port = std::stoi(port);
    if (out.port < 1 || out.port > 65535) return std::nullopt;
  } else {
    out.port = out.scheme == "https" ? 443 : 80;
  }
  return out;
}

}  // namespace plano::rules
