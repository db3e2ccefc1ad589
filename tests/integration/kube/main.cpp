// Entry point of kube_integration_tests: one real control plane for the whole binary.
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
  ::testing::AddGlobalTestEnvironment(new plano::testing::ControlPlaneEnvironment);
  return RUN_ALL_TESTS();
}
