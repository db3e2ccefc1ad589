#include "core/render/fitting.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>

#include "tests/unit/test_objects.h"

namespace plano::render {
namespace {

using plano::testing::gateway;
using plano::testing::provider;

// Providers of about 1,100 rendered bytes each (a long routing preference), in precedence order.
struct Providers {
  std::deque<api::ModelProvider> objects;
  std::vector<const api::ModelProvider*> order;
  void add(const std::string& ns, int n) {
    for (int i = 0; i < n; ++i) {
      const auto name = ns + "-" + std::to_string(i);
      auto& p = objects.emplace_back(provider(ns, name, "vllm/" + name));
      p.spec.baseURL = "http://" + name + ".svc.cluster.local:8000/v1";
      p.spec.providerInterface = "openai";
      p.spec.routingPreferences = {{name, std::string(1000, 'x')}};
      order.push_back(&p);
    }
  }
  std::map<std::string, int> count(const std::vector<const api::ModelProvider*>& of) const {
    std::map<std::string, int> n;
    for (const auto* p : of) ++n[p->metadata.namespace_];
    return n;
  }
};

TEST(RenderFitting, WhatFitsIsRenderedWhole) {
  Providers p;
  p.add("team-a", 3);
  p.add("team-b", 2);
  const auto fitted = render_fitting(gateway(), p.order);
  EXPECT_EQ(fitted.served, p.order);
  EXPECT_TRUE(fitted.leftOut.empty());
  EXPECT_EQ(fitted.rendered.config, render(gateway(), p.order).config);
}

// A flood that came first fills the config; every later tenant is still served in full, and only
// the flood's newest are left out.
TEST(RenderFitting, TheNamespaceWithTheMostProvidersGivesWayFirst) {
  Providers p;
  p.add("flood", 1500);
  p.add("small", 3);
  p.add("medium", 40);
  const auto fitted = render_fitting(gateway(), p.order);
  EXPECT_LE(fitted.rendered.config.size(), kMaxConfigBytes);
  EXPECT_EQ(fitted.rendered.config, render(gateway(), fitted.served).config);
  auto served = p.count(fitted.served);
  EXPECT_EQ(served["small"], 3);
  EXPECT_EQ(served["medium"], 40);
  EXPECT_GT(served["flood"], 40);
  EXPECT_EQ(p.count(fitted.leftOut), (std::map<std::string, int>{{"flood", 1500 - served["flood"]}}));
  // The flood keeps its first providers, in order, and both lists keep the given order.
  for (int i = 0; i < served["flood"]; ++i) EXPECT_EQ(fitted.served[static_cast<std::size_t>(i)], p.order[static_cast<std::size_t>(i)]);
  EXPECT_EQ(fitted.leftOut.front(), p.order[static_cast<std::size_t>(served["flood"])]);
  // As many as fit: one more of the flood would not.
  auto one_more = fitted.served;
  one_more.push_back(fitted.leftOut.front());
  EXPECT_GT(render(gateway(), one_more).config.size(), kMaxConfigBytes);
}

// Two floods share what is left equally, whichever came first.
TEST(RenderFitting, NamespacesThatEachFillTheConfigShareItEqually) {
  Providers p;
  p.add("first", 1000);
  p.add("second", 1000);
  const auto served = p.count(render_fitting(gateway(), p.order).served);
  EXPECT_GT(served.at("first"), 300);
  EXPECT_LE(served.at("first") - served.at("second"), 1);
  EXPECT_GE(served.at("first") - served.at("second"), 0);
}

}  // namespace
}  // namespace plano::render
