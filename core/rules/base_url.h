// The parts of a provider's base URL that Plano uses (it derives its upstream cluster from them).
#pragma once

#include <optional>
#include <string>

namespace plano::rules {

struct BaseUrl {
  std::string scheme;  // lower case
  std::string host;    // lower case, without brackets for IPv6
  int port = 0;        // explicit, or 80/443 from the scheme
  std::string path;
  bool hasUserinfo = false;
};

// nullopt when `url` has no scheme://host form or an unparseable port.
std::optional<BaseUrl> parse_base_url(const std::string& url);

}  // namespace plano::rules
