#include "core/rules/plano_catalog.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

namespace plano::rules {
namespace {

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& set, std::string_view v) {
  return std::find(set.begin(), set.end(), v) != set.end();
}

constexpr std::array<std::string_view, 16> kBuiltin = {
    "deepseek", "groq",  "mistral",   "openai", "xiaomi",       "gemini", "anthropic", "together_ai",
    "xai",      "moonshotai", "zhipu", "chatgpt", "digitalocean", "vercel", "openrouter", "edenai"};
constexpr std::array<std::string_view, 5> kNeedBaseUrl = {"azure_openai", "ollama", "qwen",
                                                           "amazon_bedrock", "plano"};
constexpr std::array<std::string_view, 13> kInterfaces = {
    "plano",  "deepseek", "groq",         "mistral", "openai",     "xiaomi", "gemini",
    "chatgpt", "digitalocean", "vercel", "openrouter", "edenai", "moonshotai"};
constexpr std::array<std::string_view, 5> kCredentialHeaders = {
    "authorization", "proxy-authorization", "x-api-key", "api-key", "cookie"};
// Every port the Plano pod binds besides its listeners, from katanemo/plano 0.4.36:
// config/envoy.template.yaml: admin 0.0.0.0:9901, prompt ingress 10000 (planoai/utils.py
// convert_legacy_listeners' default), internal listeners 10001, 11000, 12001;
// crates/brightstaff/src/main.rs BIND_ADDRESS 0.0.0.0:9091; crates/brightstaff/src/metrics/mod.rs
// DEFAULT_METRICS_BIND 0.0.0.0:9092. (The tracing collector, localhost:4317, is dialled, not bound.)
constexpr std::array<long long, 7> kReservedPorts = {10000, 10001, 11000, 12001, 9091, 9092, 9901};

}  // namespace

bool is_builtin_provider(std::string_view p) { return contains(kBuiltin, p); }
bool provider_requires_base_url(std::string_view p) { return contains(kNeedBaseUrl, p); }
bool is_provider_interface(std::string_view v) { return contains(kInterfaces, v); }
const char* provider_interfaces_list() {
  return "plano, deepseek, groq, mistral, openai, xiaomi, gemini, chatgpt, digitalocean, vercel, "
         "openrouter, edenai, moonshotai";
}

bool is_credential_header(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return contains(kCredentialHeaders, lower);
}

bool is_reserved_port(long long port) {
  return std::find(kReservedPorts.begin(), kReservedPorts.end(), port) != kReservedPorts.end();
}
const char* reserved_ports_list() { return "9091, 9092, 9901, 10000, 10001, 11000, 12001"; }

}  // namespace plano::rules
