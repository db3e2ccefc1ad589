// The webhook's picture of the cluster: gateways and providers decoded once, when informers
// report them, and grouped by gateway, so a request only reads memory.
#pragma once

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>

#include "core/kube/informer.h"
#include "webhook/admission.h"

namespace plano::webhook {

class ClusterCache {
 public:
  ClusterCache(kube::ApiClient& client, const std::string& watch_namespace);
  void start();
  void stop();
  bool has_synced() const;
  ClusterView view(const std::string& gateway_key) const;

 private:
  void put_gateway(const nlohmann::json& object);
  void drop_gateway(const nlohmann::json& object);
  void put_provider(const nlohmann::json& object);
  void drop_provider(const nlohmann::json& object);

  kube::Informer gateways_, providers_, namespaces_;
  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<const api::PlanoGateway>> gatewayByKey_;
  std::map<std::string, std::string> gatewayOfProvider_;  // provider key -> gateway key
  std::map<std::string, std::map<std::string, std::shared_ptr<const api::ModelProvider>>> providersByGateway_;
};

}  // namespace plano::webhook
