#include "core/kube/bookkeeping.h"

#include <gtest/gtest.h>

namespace plano::kube {
namespace {

using json = nlohmann::json;

const char* const kEvent = R"({"type":"MODIFIED","object":{"apiVersion":"v1","kind":"ConfigMap",
  "metadata":{"name":"c","namespace":"n","labels":{"managedFields":"stays"},
    "managedFields":[{"manager":"m","fieldsV1":{"f:data":{".":{},"f:v":{}}},"time":"t"},{"manager":"k"}],
    "annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"big\":[1,2,{\"x\":null}]}","team":"x"},
    "resourceVersion":"7"},
  "data":{"managedFields":"outside metadata","v":"1"},
  "managedFields":{"at the top":[true, 1.5, null]}}})";

TEST(Bookkeeping, AnEventParsedWithoutItIsTheEventWithItRemoved) {
  json expected = json::parse(kEvent);
  expected["object"] = without_bookkeeping(expected["object"]);
  EXPECT_EQ(parse_event_without_bookkeeping(kEvent), expected);
  EXPECT_FALSE(expected["object"]["metadata"].contains("managedFields"));
  EXPECT_EQ(expected["object"]["metadata"]["annotations"], (json{{"team", "x"}}));
  EXPECT_EQ(expected["object"]["data"]["managedFields"], "outside metadata");
  EXPECT_TRUE(expected["object"].contains("managedFields")) << "only metadata's is bookkeeping";
}

TEST(Bookkeeping, ScalarBookkeepingIsSkippedAndTheParseGoesOn) {
  const json parsed = parse_event_without_bookkeeping(
      R"({"type":"ADDED","object":{"metadata":{"managedFields":null,"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}"},"name":"after"}}})");
  EXPECT_EQ(parsed, (json{{"type", "ADDED"}, {"object", {{"metadata", {{"annotations", json::object()}, {"name", "after"}}}}}}))
      << "an annotations map left empty by the parse stays (without_bookkeeping drops it)";
}

TEST(Bookkeeping, TextThatIsNotJsonIsDiscarded) {
  EXPECT_TRUE(parse_event_without_bookkeeping(R"({"type":"ADDED","object":{"metadata":{"managedFields":[)").is_discarded());
  EXPECT_TRUE(parse_event_without_bookkeeping("not json").is_discarded());
}

TEST(Bookkeeping, AnObjectWithOnlyTheLastAppliedAnnotationLosesTheMap) {
  const json object = {{"metadata", {{"name", "a"}, {"annotations", {{"kubectl.kubernetes.io/last-applied-configuration", "{}"}}}}}};
  EXPECT_EQ(without_bookkeeping(object), (json{{"metadata", {{"name", "a"}}}}));
}

}  // namespace
}  // namespace plano::kube
