#include "core/io/manifest_set.h"

#include "core/api/decode.h"
#include "core/rules/object_rules.h"

namespace plano::io {
namespace {

using nlohmann::json;

std::string string_at(const json& body, const char* a, const char* b) {
  if (!body.is_object()) return "";
  auto outer = body.find(a);
  if (outer == body.end() || !outer->is_object()) return "";
  auto inner = outer->find(b);
  return inner != outer->end() && inner->is_string() ? inner->get<std::string>() : "";
}

template <typename T>
void add(std::deque<T>& into, api::Decoded<T> decoded, const Document& doc, ManifestSet& set) {
  auto& obj = *decoded.object;
  if (obj.metadata.namespace_.empty()) obj.metadata.namespace_ = "default";
  auto ref = rules::ref_of(obj);
  for (auto& e : decoded.errors) {
    set.findings.push_back(rules::Finding{rules::Severity::Error, ref, e.path, e.message});
  }
  if (auto [it, fresh] = set.sources.emplace(ref, doc.source); !fresh) {
    set.findings.push_back(rules::Finding{rules::Severity::Error, ref, "metadata.name",
                                          "is defined again (first at " + it->second.describe() +
                                              "); the cluster would keep only the last one: remove one"});
    return;
  }
  if (!decoded.errors.empty() && std::is_same_v<T, api::ModelProvider>) return;  // too broken to judge further
  into.push_back(std::move(obj));
}

}  // namespace

ManifestSet collect(const std::vector<Document>& documents) {
  ManifestSet set;
  for (const auto& doc : documents) {
    auto type = api::type_meta(doc.body);
    const bool ours = type.apiVersion.rfind(std::string(api::kGroup) + "/", 0) == 0;
    if (ours && type.kind == api::kGatewayKind) {
      add(set.gateways, api::decode_gateway(doc.body), doc, set);
    } else if (ours && type.kind == api::kProviderKind) {
      add(set.providers, api::decode_provider(doc.body), doc, set);
    } else if (ours || !doc.body.is_object() || type.kind.empty()) {
      rules::ObjectRef ref{type.kind.empty() ? "?" : type.kind, string_at(doc.body, "metadata", "namespace"),
                           string_at(doc.body, "metadata", "name")};
      set.sources.emplace(ref, doc.source);
      set.findings.push_back(rules::Finding{
          rules::Severity::Error, ref, "kind",
          ours ? "is not a kind of " + std::string(api::kGroup) + "; use PlanoGateway or ModelProvider"
               : "is missing: every document needs apiVersion and kind"});
    } else {
      if (type.kind == "Namespace" && type.apiVersion == "v1") {
        std::map<std::string, std::string> labels;
        if (auto meta = doc.body.find("metadata"); meta != doc.body.end() && meta->is_object()) {
          if (auto l = meta->find("labels"); l != meta->end() && l->is_object()) {
            for (const auto& [k, v] : l->items()) {
              if (v.is_string()) labels[k] = v.get<std::string>();
            }
          }
        }
        set.namespaceLabels[string_at(doc.body, "metadata", "name")] = std::move(labels);
      }
      const std::string name = string_at(doc.body, "metadata", "name");
      set.notes.push_back(doc.source.describe() + ": skipped " + type.kind + (name.empty() ? "" : " " + name) +
                          " (not a plano-operator.io kind)");
    }
  }
  return set;
}

rules::Evaluation ManifestSet::evaluate() const {
  std::vector<const api::PlanoGateway*> gws;
  for (const auto& g : gateways) gws.push_back(&g);
  std::vector<const api::ModelProvider*> mps;
  for (const auto& p : providers) mps.push_back(&p);
  return rules::evaluate(gws, mps, [this](const std::string& ns) -> std::optional<std::map<std::string, std::string>> {
    auto it = namespaceLabels.find(ns);
    if (it == namespaceLabels.end()) return std::nullopt;
    return it->second;
  });
}

std::string ManifestSet::where(const rules::ObjectRef& ref) const {
  auto it = sources.find(ref);
  return it == sources.end() ? "-" : it->second.describe();
}

}  // namespace plano::io
