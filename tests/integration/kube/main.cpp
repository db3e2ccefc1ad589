// Entry point of the integration and end-to-end test binaries: one real control plane for the whole
// binary. Bare (etcd + kube-apiserver) unless the target defines PLANO_TEST_WITH_CONTROLLERS.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "tests/support/control_plane.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  // Informer retries and relists log at info/warn; keep them visible when debugging with PLANO_KUBE_TEST_LOG=debug.
  if (const char* level = std::getenv("PLANO_KUBE_TEST_LOG")) {
    spdlog::set_level(spdlog::level::from_str(level));
  } else {
    spdlog::set_level(spdlog::level::warn);
  }
#ifdef PLANO_TEST_WITH_CONTROLLERS
  constexpr auto kCluster = plano::testing::Cluster::WithControllers;
#else
  constexpr auto kCluster = plano::testing::Cluster::Bare;
#endif
  ::testing::AddGlobalTestEnvironment(new plano::testing::ControlPlaneEnvironment(kCluster));
  return RUN_ALL_TESTS();
}
