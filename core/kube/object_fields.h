// Reading a field of a live object (a json tree from the API server or a cache) in place: bodies
// are untrusted, so every step may be missing or of another type.
#pragma once

#include <initializer_list>
#include <string>

#include <nlohmann/json.hpp>

namespace plano::kube {

// The member at `path` (objects all the way down), or null when a step is missing or no object.
inline const nlohmann::json* field_at(const nlohmann::json& object, std::initializer_list<const char*> path) {
  const nlohmann::json* node = &object;
  for (const char* step : path) {
    if (!node->is_object()) return nullptr;
    const auto it = node->find(step);
    if (it == node->end()) return nullptr;
    node = &*it;
  }
  return node;
}

// The string at `path`, or "" when a step is missing or the value is no string.
inline std::string string_at(const nlohmann::json& object, std::initializer_list<const char*> path) {
  const nlohmann::json* value = field_at(object, path);
  return value && value->is_string() ? value->get<std::string>() : "";
}

}  // namespace plano::kube
