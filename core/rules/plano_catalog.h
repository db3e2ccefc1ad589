// What Plano knows about model providers (from Plano's config generator, release 0.4.x).
#pragma once

#include <string_view>

namespace plano::rules {

// Providers Plano routes to without a base_url.
bool is_builtin_provider(std::string_view provider);
// Providers Plano knows but that need a base_url (their endpoint is per deployment).
bool provider_requires_base_url(std::string_view provider);
inline bool is_known_provider(std::string_view p) {
  return is_builtin_provider(p) || provider_requires_base_url(p);
}
// Values of Plano's provider_interface enum.
bool is_provider_interface(std::string_view value);
// The enum, comma-separated, for messages.
const char* provider_interfaces_list();

// Header names that carry credentials and so may not be written into a ModelProvider.
bool is_credential_header(std::string_view name);

// Ports Plano's own Envoy uses inside the pod.
bool is_reserved_port(long long port);
const char* reserved_ports_list();

}  // namespace plano::rules
