#include "operator/missing_secrets.h"

#include <gtest/gtest.h>

namespace plano::op {
namespace {

using namespace std::chrono_literals;
using Known = MissingSecrets::Known;
const auto t0 = MissingSecrets::Clock::time_point{} + 1h;

TEST(MissingSecrets, ASecretFoundMissingIsTakenAsMissingUntilItsRecheckIsDueOnce) {
  MissingSecrets missing(15s, 1);
  EXPECT_EQ(missing.check("team/key", t0), Known::No);
  EXPECT_EQ(missing.check("team/key", t0), Known::No) << "asking is the caller's; nothing is known until it says";
  missing.found_missing("team/key", t0);
  EXPECT_EQ(missing.check("team/key", t0), Known::Missing);
  EXPECT_EQ(missing.check("team/key", t0 + 7499ms), Known::Missing);
  EXPECT_EQ(missing.check("team/key", t0 + 15s), Known::RecheckDue);
  EXPECT_EQ(missing.check("team/key", t0 + 15s), Known::Missing) << "one recheck at a time";
  EXPECT_EQ(missing.check("team/key", t0 + 30s), Known::RecheckDue) << "the recheck found nothing: due again later";
  EXPECT_EQ(missing.check("team/other", t0), Known::No);
}

TEST(MissingSecrets, ASecretFoundIsAskedForAgainAtOnceWhenItGoes) {
  MissingSecrets missing(15s, 1);
  missing.found_missing("team/key", t0);
  missing.found("team/key");
  EXPECT_EQ(missing.check("team/key", t0 + 1ms), Known::No);
  EXPECT_EQ(missing.size(), 0u);
}

// Found missing together, rechecked over half the interval, not all at once.
TEST(MissingSecrets, SecretsFoundMissingTogetherAreRecheckedSpreadOut) {
  MissingSecrets missing(15s, 7);
  for (int i = 0; i < 200; ++i) missing.found_missing("flood/s" + std::to_string(i), t0);
  int due_early = 0, due_late = 0;
  for (int i = 0; i < 200; ++i) due_early += missing.check("flood/s" + std::to_string(i), t0 + 10s) == Known::RecheckDue;
  for (int i = 0; i < 200; ++i) due_late += missing.check("flood/s" + std::to_string(i), t0 + 15s) == Known::RecheckDue;
  EXPECT_GT(due_early, 40);  // about a third are due after 10 s
  EXPECT_LT(due_early, 100);
  EXPECT_EQ(due_early + due_late, 200);  // and the others by the interval's end
}

TEST(MissingSecrets, SecretsNoProviderNamesAreForgotten) {
  MissingSecrets missing(15s, 1);
  missing.found_missing("team/kept", t0);
  missing.found_missing("team/dropped", t0);
  missing.keep_only([](const std::string& key) { return key == "team/kept"; });
  EXPECT_EQ(missing.size(), 1u);
  EXPECT_EQ(missing.check("team/kept", t0), Known::Missing);
  EXPECT_EQ(missing.check("team/dropped", t0), Known::No);
}

}  // namespace
}  // namespace plano::op
