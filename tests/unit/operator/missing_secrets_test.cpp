#include "operator/missing_secrets.h"

#include <gtest/gtest.h>

namespace plano::op {
namespace {

using namespace std::chrono_literals;
const auto t0 = MissingSecrets::Clock::time_point{} + 1h;

TEST(MissingSecrets, ASecretFoundMissingIsNotAskedForAgainUntilTheRecheck) {
  MissingSecrets missing(15s, 1);
  EXPECT_FALSE(missing.known_missing("team/key", t0));
  missing.found_missing("team/key", t0);
  EXPECT_TRUE(missing.known_missing("team/key", t0));
  EXPECT_TRUE(missing.known_missing("team/key", t0 + 7499ms));
  EXPECT_FALSE(missing.known_missing("team/key", t0 + 15s));
  EXPECT_FALSE(missing.known_missing("team/other", t0));
}

TEST(MissingSecrets, ASecretFoundIsAskedForAgainAtOnceWhenItGoes) {
  MissingSecrets missing(15s, 1);
  missing.found_missing("team/key", t0);
  missing.found("team/key");
  EXPECT_FALSE(missing.known_missing("team/key", t0 + 1ms));
  EXPECT_EQ(missing.size(), 0u);
}

// Found missing together, asked for again over half the interval, not all in one reconcile.
TEST(MissingSecrets, SecretsFoundMissingTogetherAreRecheckedSpreadOut) {
  MissingSecrets missing(15s, 7);
  for (int i = 0; i < 200; ++i) missing.found_missing("flood/s" + std::to_string(i), t0);
  int due_early = 0, due_late = 0;
  for (int i = 0; i < 200; ++i) {
    const auto key = "flood/s" + std::to_string(i);
    due_early += !missing.known_missing(key, t0 + 10s);
    due_late += !missing.known_missing(key, t0 + 15s);
  }
  EXPECT_GT(due_early, 40);   // about a third are due after 10 s
  EXPECT_LT(due_early, 100);
  EXPECT_EQ(due_late, 200);  // and every one by the interval's end
}

TEST(MissingSecrets, SecretsNoProviderNamesAreForgotten) {
  MissingSecrets missing(15s, 1);
  missing.found_missing("team/kept", t0);
  missing.found_missing("team/dropped", t0);
  missing.keep_only([](const std::string& key) { return key == "team/kept"; });
  EXPECT_EQ(missing.size(), 1u);
  EXPECT_TRUE(missing.known_missing("team/kept", t0));
  EXPECT_FALSE(missing.known_missing("team/dropped", t0));
}

}  // namespace
}  // namespace plano::op
