#include "core/kube/namespace_labels.h"

namespace plano::kube {

rules::NamespaceLabels namespace_labels(const Informer& namespaces) {
  return [&namespaces](const std::string& ns) -> std::optional<std::map<std::string, std::string>> {
    auto obj = namespaces.get(ns);
    if (!obj) return std::nullopt;
    std::map<std::string, std::string> labels;
    auto meta = obj->find("metadata");
    if (meta == obj->end() || !meta->is_object()) return labels;
    auto found = meta->find("labels");
    if (found == meta->end() || !found->is_object()) return labels;
    for (const auto& [k, v] : found->items()) {
      if (v.is_string()) labels[k] = v.get<std::string>();
    }
    return labels;
  };
}

}  // namespace plano::kube
