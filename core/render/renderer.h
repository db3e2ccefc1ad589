// The one renderer: a gateway and its accepted providers to Plano's config file.
#pragma once

#include <string>
#include <vector>

#include "core/api/types.h"

namespace plano::render {

// An environment variable the config refers to as $VAR, and the Secret key that fills it.
struct KeyBinding {
  std::string variable;
  std::string namespace_;
  std::string secret;
  std::string key;
  bool operator==(const KeyBinding&) const = default;
};

struct RenderResult {
  std::string config;             // plano_config.yaml; never holds a key's value
  std::vector<KeyBinding> keys;   // sorted by variable, no duplicates
};

// Output depends only on the objects, never on their order: the same set gives the same bytes.
// `accepted` must already have passed rules::evaluate for this gateway.
RenderResult render(const api::PlanoGateway& gateway, const std::vector<const api::ModelProvider*>& accepted);

// The stable env variable name for a key of a Secret in a namespace, e.g.
// PLANO_KEY_TEAM_A_OPENAI_CREDENTIALS_API_KEY_1A2B3C4D (the hash keeps "a-b" and "a_b" apart).
std::string key_variable(const std::string& ns, const std::string& secret, const std::string& key);

// Lower-case hex SHA-256.
std::string sha256_hex(const std::string& data);

}  // namespace plano::render
