#include "operator/written_statuses.h"

#include <gtest/gtest.h>

namespace plano::op {
namespace {

using nlohmann::json;
using Clock = WrittenStatuses::Clock;

const json kStatus = {{"configHash", "new"}};
const auto kStatusText = WrittenStatuses::text_of(kStatus);

TEST(WrittenStatuses, StandsInUntilTheVersionWrittenIsDelivered) {
  WrittenStatuses w;
  const auto serial = w.writing("PlanoGateway/ns/gw", kStatusText);
  EXPECT_EQ(w.pending("PlanoGateway/ns/gw", "10"), kStatus) << "in flight: the cache cannot have it yet";
  w.written("PlanoGateway/ns/gw", serial, "12");
  // Another writer's change (an annotation) read back before ours: still older than our write.
  w.delivered("PlanoGateway/ns/gw", "11");
  EXPECT_EQ(w.pending("PlanoGateway/ns/gw", "11"), kStatus);
  w.delivered("PlanoGateway/ns/gw", "12");
  EXPECT_EQ(w.pending("PlanoGateway/ns/gw", "12"), std::nullopt);
  EXPECT_EQ(w.size(), 0u);
}

TEST(WrittenStatuses, AVersionDeliveredBeforeTheAnswerCameBackEndsIt) {
  WrittenStatuses w;
  const auto serial = w.writing("ModelProvider/ns/p", kStatusText);
  w.delivered("ModelProvider/ns/p", "11");
  w.delivered("ModelProvider/ns/p", "12");
  w.written("ModelProvider/ns/p", serial, "12");
  EXPECT_EQ(w.size(), 0u);
  EXPECT_EQ(w.pending("ModelProvider/ns/p", "13"), std::nullopt) << "a later version is never hidden";
}

TEST(WrittenStatuses, ANewerWriteReplacesAnOlderOnesAnswer) {
  WrittenStatuses w;
  const auto first = w.writing("ModelProvider/ns/p", WrittenStatuses::text_of({{"n", 1}}));
  const auto second = w.writing("ModelProvider/ns/p", WrittenStatuses::text_of({{"n", 2}}));
  w.written("ModelProvider/ns/p", first, "12");
  w.delivered("ModelProvider/ns/p", "12");
  EXPECT_EQ(w.pending("ModelProvider/ns/p", "12"), (json{{"n", 2}})) << "the second write is still in flight";
  w.failed("ModelProvider/ns/p", first);
  EXPECT_EQ(w.size(), 1u) << "an older write's failure leaves the newer one";
  w.failed("ModelProvider/ns/p", second);
  EXPECT_EQ(w.size(), 0u);
}

TEST(WrittenStatuses, EntriesExpireAndGoWithTheirObjects) {
  Clock::time_point now{};
  WrittenStatuses w(std::chrono::seconds(30), [&] { return now; });
  w.written("PlanoGateway/ns/gw", w.writing("PlanoGateway/ns/gw", kStatusText), "12");
  w.writing("ModelProvider/ns/gone", kStatusText);
  w.keep_only([](const std::string& key) { return key != "ModelProvider/ns/gone"; });
  EXPECT_EQ(w.size(), 1u);
  now += std::chrono::seconds(31);  // a relist skipped version 12
  EXPECT_EQ(w.pending("PlanoGateway/ns/gw", "13"), std::nullopt);
  w.keep_only([](const std::string&) { return true; });
  EXPECT_EQ(w.size(), 0u);
}

}  // namespace
}  // namespace plano::op
