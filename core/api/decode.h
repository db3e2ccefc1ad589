// Strict decoding of API objects from JSON: unknown fields and wrong types are field errors.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/api/types.h"

namespace plano::api {

struct FieldError {
  std::string path;     // e.g. spec.listeners[1].port
  std::string message;  // what is wrong and how to fix it
};

template <typename T>
struct Decoded {
  std::optional<T> object;  // set when decoding succeeded well enough to evaluate rules
  std::vector<FieldError> errors;
};

Decoded<PlanoGateway> decode_gateway(const nlohmann::json& body);
Decoded<ModelProvider> decode_provider(const nlohmann::json& body);
// A provider's status alone (one the operator wrote), leniently: unknown fields are skipped.
ModelProviderStatus decode_provider_status(const nlohmann::json& status);

// kind and apiVersion, without judging the rest; empty strings when absent or not strings.
struct TypeMeta {
  std::string apiVersion;
  std::string kind;
};
TypeMeta type_meta(const nlohmann::json& body);

}  // namespace plano::api
