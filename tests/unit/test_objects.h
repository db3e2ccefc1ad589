// Valid objects to start from; each test changes the one field it is about.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/api/decode.h"
#include "core/io/documents.h"
#include "core/rules/finding.h"

namespace plano::testing {

inline api::PlanoGateway gateway(const std::string& ns = "platform", const std::string& name = "shared") {
  api::PlanoGateway gw;
  gw.metadata.namespace_ = ns;
  gw.metadata.name = name;
  gw.spec.listeners.push_back(api::Listener{"llm", "model", 12000, std::nullopt, std::nullopt});
  gw.spec.deployment.image = api::kDefaultPlanoImage;
  gw.spec.allowedProviders.from = api::NamespacesFrom::All;
  return gw;
}

// A passthrough provider attached to platform/shared.
inline api::ModelProvider provider(const std::string& ns, const std::string& name, const std::string& model) {
  api::ModelProvider mp;
  mp.metadata.namespace_ = ns;
  mp.metadata.name = name;
  mp.spec.gatewayRef = api::GatewayRef{"shared", std::string("platform")};
  mp.spec.model = model;
  mp.spec.passthroughAuth = true;
  return mp;
}

inline nlohmann::json yaml(const std::string& text) {
  auto docs = io::parse_documents(text, "test.yaml");
  return docs.empty() ? nlohmann::json() : docs.front().body;
}

// The findings whose field is `field` and whose message contains `phrase`.
inline std::vector<rules::Finding> matching(const std::vector<rules::Finding>& findings, const std::string& field,
                                            const std::string& phrase = "") {
  std::vector<rules::Finding> out;
  std::copy_if(findings.begin(), findings.end(), std::back_inserter(out), [&](const rules::Finding& f) {
    return f.field == field && f.message.find(phrase) != std::string::npos;
  });
  return out;
}

inline std::string dump(const std::vector<rules::Finding>& findings) {
  std::string s;
  for (const auto& f : findings) s += f.object.describe() + " " + f.field + ": " + f.message + "\n";
  return s;
}

}  // namespace plano::testing
