#include "operator/caches.h"

#include "core/kube/object_fields.h"
#include "core/render/renderer.h"

namespace plano::op {
namespace {

using nlohmann::json;

kube::InformerOptions options_for(const CacheOptions& o, std::string label_selector = {}, bool namespaced = true) {
  kube::InformerOptions out;
  if (namespaced) out.namespace_ = o.watchNamespace;
  out.label_selector = std::move(label_selector);
  out.watch_timeout = o.watchTimeout;
  return out;
}

// A gateway's ConfigMap holds up to 1 MB of config, which the operator only ever compares with
// what it would write: the cache keeps a digest of the data instead.
kube::InformerOptions with_data_digest(kube::InformerOptions options) {
  options.transform = [](json& object) {
    if (auto data = object.find("data"); data != object.end()) *data = {{kDataDigestKey, render::sha256_hex(data->dump())}};
  };
  return options;
}

// A referenced Secret is read for its data alone: its labels, annotations, type and owners are
// dropped as it arrives, and a change to them alone reconciles nothing.
kube::InformerOptions data_only(kube::InformerOptions options) {
  options.transform = [](json& object) {
    json kept = kube::identity_of(object);
    if (auto data = object.find("data"); data != object.end()) kept["data"] = std::move(*data);
    object = std::move(kept);
  };
  return options;
}

// The providers are kept decoded in ProviderCache instead.
kube::InformerOptions identities_only(kube::InformerOptions options) {
  options.keep_objects = false;
  return options;
}

using kube::field_at;
using kube::string_at;

std::string ns_of(const json& object) { return string_at(object, {"metadata", "namespace"}); }

}  // namespace

std::string gateway_key_of_provider(const json& p) {
  const json* ns = field_at(p, {"spec", "gatewayRef", "namespace"});
  return (ns && ns->is_string() ? ns->get<std::string>() : ns_of(p)) + "/" + string_at(p, {"spec", "gatewayRef", "name"});
}

Caches::Caches(kube::ApiClient& client, const CacheOptions& o)
    : gateways(client, kube::resources::kPlanoGateways, options_for(o)),
      providers(client, kube::resources::kModelProviders, identities_only(options_for(o))),
      namespaces(client, kube::resources::kNamespaces, options_for(o, {}, false)),
      referencedSecrets(client, kube::resources::kSecrets, data_only(options_for(o, std::string(kReferencedSecretLabel) + "=true"))),
      configMaps(client, kube::resources::kConfigMaps, with_data_digest(options_for(o, std::string(kManagedByLabel) + "=plano-operator"))),
      ownedSecrets(client, kube::resources::kSecrets, options_for(o, std::string(kManagedByLabel) + "=plano-operator")),
      deployments(client, kube::resources::kDeployments, options_for(o, std::string(kManagedByLabel) + "=plano-operator")),
      services(client, kube::resources::kServices, options_for(o, std::string(kManagedByLabel) + "=plano-operator")),
      networkPolicies(client, kube::resources::kNetworkPolicies, options_for(o, std::string(kManagedByLabel) + "=plano-operator")),
      disruptionBudgets(client, kube::resources::kPodDisruptionBudgets, options_for(o, std::string(kManagedByLabel) + "=plano-operator")) {
  // First, so that every later handler, and every reconcile it queues, reads the decoded provider.
  providers.on_add([this](const json& p) {
    providerObjects.upsert(p);
    provider_changed(nullptr, providerObjects.get(kube::object_key(p)));
  });
  providers.on_update([this](const json&, const json& p) {
    auto before = providerObjects.upsert(p);
    provider_changed(before, providerObjects.get(kube::object_key(p)));
  });
  providers.on_delete([this](const json& p) { provider_changed(providerObjects.erase(kube::object_key(p)), nullptr); });
  providers.add_index(kByGateway, [](const json& p) { return std::vector<std::string>{gateway_key_of_provider(p)}; });
  providers.add_index(kBySecret, [](const json& p) {
    const json* name = field_at(p, {"spec", "accessKeySecretRef", "name"});
    if (!name || !name->is_string()) return std::vector<std::string>{};
    return std::vector<std::string>{ns_of(p) + "/" + name->get<std::string>()};
  });
  gateways.add_index(kBySecret, [](const json& g) {
    const json* name = field_at(g, {"spec", "stateStorage", "connectionStringSecretRef", "name"});
    if (!name || !name->is_string()) return std::vector<std::string>{};
    return std::vector<std::string>{ns_of(g) + "/" + name->get<std::string>()};
  });
  for (auto* informer : owned()) {
    informer->add_index(kByOwnerGateway, [](const json& o) {
      const json* gateway = field_at(o, {"metadata", "labels", "plano-operator.io/gateway"});
      if (!gateway || !gateway->is_string()) return std::vector<std::string>{};
      return std::vector<std::string>{ns_of(o) + "/" + gateway->get<std::string>()};
    });
  }
}

void Caches::provider_changed(const ProviderCache::ProviderPtr& before, const ProviderCache::ProviderPtr& now) const {
  if (provider_changed_) provider_changed_(before, now);
}

bool only_status_changed(const json& before, const json& after) {
  auto without_status = [](json o) {
    o.erase("status");
    if (auto m = o.find("metadata"); m != o.end() && m->is_object()) m->erase("resourceVersion");
    return o;
  };
  return before.value("status", json()) != after.value("status", json()) && without_status(before) == without_status(after);
}

void Caches::on_change(std::function<void(const std::string&)> enqueue) {
  auto self = [enqueue](const json& o) { enqueue(ns_of(o) + "/" + string_at(o, {"metadata", "name"})); };
  gateways.on_add(self);
  gateways.on_update([self](const json& o, const json& n) {
    if (!only_status_changed(o, n)) self(n);
  });
  gateways.on_delete(self);

  provider_changed_ = [enqueue](const ProviderCache::ProviderPtr& before, const ProviderCache::ProviderPtr& now) {
    if (before && now && only_status_changed(*before, *now)) return;
    // A provider that moves to another gateway leaves the old one too.
    if (before) enqueue(gateway_key_of(*before));
    if (now) enqueue(gateway_key_of(*now));
  };

  // Namespace labels decide Selector policies: re-judge every gateway (by key: the initial list of
  // a thousand namespaces would unpack every gateway a thousand times).
  auto all_gateways = [this, enqueue](const json&) {
    for (const auto& key : gateways.keys()) enqueue(key);
  };
  namespaces.on_add(all_gateways);
  namespaces.on_update([all_gateways](const json& o, const json& n) {
    const json* before = field_at(o, {"metadata", "labels"});
    const json* after = field_at(n, {"metadata", "labels"});
    if ((before ? *before : json::object()) != (after ? *after : json::object())) {
      all_gateways(n);
    }
  });
  namespaces.on_delete(all_gateways);

  auto secret = [this, enqueue](const json& s) {
    const auto key = ns_of(s) + "/" + string_at(s, {"metadata", "name"});
    for (const auto& [provider, version] : providers.versions_by_index(kBySecret, key)) {
      if (auto p = providerObjects.get(provider)) enqueue(gateway_key_of(*p));
    }
    for (const auto& g : gateways.by_index(kBySecret, key)) enqueue(ns_of(*g) + "/" + string_at(*g, {"metadata", "name"}));
  };
  referencedSecrets.on_add(secret);
  referencedSecrets.on_update([secret](const json& o, const json& n) {
    if (o.value("data", json()) != n.value("data", json())) secret(n);
  });
  referencedSecrets.on_delete(secret);

  for (auto* informer : owned()) {
    auto owner = [enqueue](const json& o) {
      const json* gateway = field_at(o, {"metadata", "labels", "plano-operator.io/gateway"});
      if (gateway && gateway->is_string()) enqueue(ns_of(o) + "/" + gateway->get<std::string>());
    };
    informer->on_add(owner);
    informer->on_update([owner](const json&, const json& n) { owner(n); });
    informer->on_delete(owner);
  }
}

void Caches::start() {
  for (auto* i : all(*this)) i->start();
}

void Caches::stop() {
  for (auto* i : all(*this)) i->stop();
}

bool Caches::wait_for_sync(std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (const auto* i : all(*this)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (!i->wait_for_sync(std::max(left, std::chrono::milliseconds(0)))) return false;
  }
  return true;
}

bool Caches::has_synced() const {
  for (const auto* i : all(*this)) {
    if (!i->has_synced()) return false;
  }
  return true;
}

std::uint64_t Caches::watch_restarts() const {
  std::uint64_t n = 0;
  for (const auto* i : all(*this)) n += i->stats().watch_restarts;
  return n;
}

}  // namespace plano::op
