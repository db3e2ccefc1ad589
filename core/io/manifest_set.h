// Manifests (documents) sorted into this API's objects, for offline use (CLI, tests, benchmarks).
#pragma once

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "core/api/types.h"
#include "core/io/documents.h"
#include "core/rules/evaluation.h"
#include "core/rules/finding.h"

namespace plano::io {

struct ManifestSet {
  // deques keep element addresses stable for the pointers evaluation hands out.
  std::deque<api::PlanoGateway> gateways;
  std::deque<api::ModelProvider> providers;  // document order = offline precedence
  std::map<std::string, std::map<std::string, std::string>> namespaceLabels;
  std::map<rules::ObjectRef, Source> sources;
  std::vector<rules::Finding> findings;  // documents that could not be decoded
  std::vector<std::string> notes;        // documents skipped as other kinds

  rules::Evaluation evaluate() const;
  // Where an object came from; "-" when unknown.
  std::string where(const rules::ObjectRef& ref) const;
};

// Objects without metadata.namespace are put in "default", as kubectl does.
ManifestSet collect(const std::vector<Document>& documents);

}  // namespace plano::io
