// The one renderer: a gateway and its accepted providers to Plano's config file.
#pragma once

#include <optional>
#include <string>
#include <string_view>
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
  std::vector<KeyBinding> keys;   // one per distinct Secret key, in variable-number order
};

// The most config a gateway's ConfigMap may hold: the API server refuses one over 1 MiB, and
// metadata needs room.
inline constexpr std::size_t kMaxConfigBytes = 1000 * 1000;

// Output depends only on the objects, never on their order: the same set gives the same bytes.
// `accepted` must already have passed rules::evaluate for this gateway.
RenderResult render(const api::PlanoGateway& gateway, const std::vector<const api::ModelProvider*>& accepted);

// The environment variable of the n-th (from 1) distinct namespace/Secret/key a gateway uses, in
// that order: PLANO_KEY_<n>_<NS>_<SECRET>_<KEY>. The number alone tells variables apart, so two
// references never share one however their names are spelt; the rest is for people reading it.
std::string key_variable(std::size_t n, const std::string& ns, const std::string& secret, const std::string& key);

// Why a key's value cannot reach Plano intact, or nullopt when it can. Plano's start-up writes
// access_key as a plain YAML scalar and envsubst pastes the value into it unquoted, so the value
// must read back as that same string: a word of letters, digits and -._~+/= that YAML does not
// take for a number, boolean, null or date. The message never quotes the value.
std::optional<std::string> key_value_problem(std::string_view value);

// Why a Postgres connection string cannot reach Plano intact, or nullopt when it can: like a key it
// is pasted unquoted into YAML, so it must be a postgres:// or postgresql:// URI without spaces, '#'
// or '$' (letters, digits and -._~%!&'()*+,;=:@/? only), not ending in ':'. The message never quotes
// the value.
std::optional<std::string> connection_string_problem(std::string_view value);

// Lower-case hex SHA-256.
std::string sha256_hex(const std::string& data);

}  // namespace plano::render
