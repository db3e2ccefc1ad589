#include "core/render/renderer.h"

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <stdexcept>

namespace plano::render {
namespace {

using api::ModelProvider;

std::string env_token(const std::string& s) {
  std::string out;
  for (unsigned char c : s) out += std::isalnum(c) ? static_cast<char>(std::toupper(c)) : '_';
  return out;
}

void quoted(YAML::Emitter& e, const char* key, const std::string& value) {
  e << YAML::Key << key << YAML::Value << YAML::DoubleQuoted << value;
}

void emit_provider(YAML::Emitter& e, const ModelProvider& mp, bool inline_preferences) {
  const auto& s = mp.spec;
  e << YAML::BeginMap;
  quoted(e, "name", mp.planoName());
  quoted(e, "model", s.model);
  if (mp.isDefault()) e << YAML::Key << "default" << YAML::Value << true;
  if (s.baseURL) quoted(e, "base_url", *s.baseURL);
  if (s.providerInterface) quoted(e, "provider_interface", *s.providerInterface);
  if (s.accessKeySecretRef) {
    const auto& ref = *s.accessKeySecretRef;
    quoted(e, "access_key", "$" + key_variable(mp.metadata.namespace_, ref.name, ref.key));
  }
  if (mp.usesPassthrough()) e << YAML::Key << "passthrough_auth" << YAML::Value << true;
  if (s.httpHost) quoted(e, "http_host", *s.httpHost);
  if (!s.headers.empty()) {
    e << YAML::Key << "headers" << YAML::Value << YAML::BeginMap;
    for (const auto& [k, v] : s.headers) quoted(e, k.c_str(), v);  // std::map: sorted
    e << YAML::EndMap;
  }
  if (inline_preferences && !s.routingPreferences.empty()) {
    e << YAML::Key << "routing_preferences" << YAML::Value << YAML::BeginSeq;
    for (const auto& p : s.routingPreferences) {
      e << YAML::BeginMap;
      quoted(e, "name", p.name);
      quoted(e, "description", p.description);
      e << YAML::EndMap;
    }
    e << YAML::EndSeq;
  }
  e << YAML::EndMap;
}

}  // namespace

std::string sha256_hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed");
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0xf];
  }
  return out;
}

std::string key_variable(const std::string& ns, const std::string& secret, const std::string& key) {
  return "PLANO_KEY_" + env_token(ns) + "_" + env_token(secret) + "_" + env_token(key) + "_" +
         env_token(sha256_hex(ns + "/" + secret + "/" + key).substr(0, 8));
}

RenderResult render(const api::PlanoGateway& gw, const std::vector<const ModelProvider*>& accepted) {
  std::vector<const ModelProvider*> providers(accepted);
  std::sort(providers.begin(), providers.end(), [](const ModelProvider* a, const ModelProvider* b) {
    return std::tie(a->metadata.namespace_, a->metadata.name) < std::tie(b->metadata.namespace_, b->metadata.name);
  });
  // v0.4.0 lists routing preferences at the top level; v0.3.0 (archgw 0.3) keeps them inline.
  const bool top_level_preferences = gw.spec.configVersion != "v0.3.0";

  YAML::Emitter e;
  e.SetIndent(2);
  e << YAML::Comment("Rendered by plano-operator from PlanoGateway " + api::key_of(gw.metadata) +
                     ". Edits are overwritten.");
  e << YAML::BeginMap;
  e << YAML::Key << "version" << YAML::Value << gw.spec.configVersion;
  e << YAML::Key << "listeners" << YAML::Value << YAML::BeginSeq;
  for (const auto& l : gw.spec.listeners) {
    e << YAML::BeginMap;
    quoted(e, "name", l.name);
    e << YAML::Key << "type" << YAML::Value << l.type;
    e << YAML::Key << "port" << YAML::Value << l.port;
    quoted(e, "address", l.address.value_or("0.0.0.0"));
    if (l.timeout) quoted(e, "timeout", *l.timeout);
    e << YAML::EndMap;
  }
  e << YAML::EndSeq;
  if (!providers.empty()) {
    e << YAML::Key << "model_providers" << YAML::Value << YAML::BeginSeq;
    for (const auto* mp : providers) emit_provider(e, *mp, !top_level_preferences);
    e << YAML::EndSeq;
  }
  if (top_level_preferences) {
    std::map<std::string, std::pair<std::string, std::string>> prefs;  // name -> (description, model)
    for (const auto* mp : providers) {
      for (const auto& p : mp->spec.routingPreferences) prefs.emplace(p.name, std::make_pair(p.description, mp->spec.model));
    }
    if (!prefs.empty()) {
      e << YAML::Key << "routing_preferences" << YAML::Value << YAML::BeginSeq;
      for (const auto& [name, pref] : prefs) {
        e << YAML::BeginMap;
        quoted(e, "name", name);
        quoted(e, "description", pref.first);
        e << YAML::Key << "models" << YAML::Value << YAML::BeginSeq << YAML::DoubleQuoted << pref.second << YAML::EndSeq;
        e << YAML::EndMap;
      }
      e << YAML::EndSeq;
    }
  }
  e << YAML::EndMap;
  if (!e.good()) throw std::logic_error("rendering Plano config failed: " + e.GetLastError());

  RenderResult out;
  out.config = std::string(e.c_str()) + "\n";
  for (const auto* mp : providers) {
    if (!mp->spec.accessKeySecretRef) continue;
    const auto& ref = *mp->spec.accessKeySecretRef;
    KeyBinding b{key_variable(mp->metadata.namespace_, ref.name, ref.key), mp->metadata.namespace_, ref.name, ref.key};
    if (std::find(out.keys.begin(), out.keys.end(), b) == out.keys.end()) out.keys.push_back(std::move(b));
  }
  std::sort(out.keys.begin(), out.keys.end(), [](const KeyBinding& a, const KeyBinding& b) { return a.variable < b.variable; });
  return out;
}

}  // namespace plano::render
