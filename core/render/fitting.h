// What a gateway serves when all its providers do not fit in one ConfigMap: the shared limit is
// divided fairly between namespaces, so that a tenant who floods the gateway gives way first and
// every other tenant's providers, new ones included, are still served.
#pragma once

#include <vector>

#include "core/api/types.h"
#include "core/render/renderer.h"

namespace plano::render {

struct FittedRender {
  RenderResult rendered;                            // of `served`; at most kMaxConfigBytes
  std::vector<const api::ModelProvider*> served;    // in the order given
  std::vector<const api::ModelProvider*> leftOut;   // in the order given; empty when all fit
};

// Renders `accepted` (in precedence order, first is kept first) if it fits in kMaxConfigBytes;
// otherwise the most providers that fit when taken round by round across namespaces: every
// namespace's first provider, then every namespace's second, and so on, each round in precedence
// order. A namespace with fewer providers than the one that fills the config keeps all of its own.
FittedRender render_fitting(const api::PlanoGateway& gateway, const std::vector<const api::ModelProvider*>& accepted);

}  // namespace plano::render
