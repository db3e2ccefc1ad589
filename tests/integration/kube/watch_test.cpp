// Raw watch streams against a real kube-apiserver.
#include "core/kube/watch.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "core/kube/client.h"
#include "tests/support/control_plane.h"

namespace plano::kube {
namespace {

using testing::admin_client;
using testing::control_plane;
using testing::create_namespace;

// podtemplates bypass the watch cache in the test control plane (see kUncachedResourceFlag).
const Resource kPodTemplates{"", "v1", "podtemplates", "PodTemplate", true};

json pod_template(const std::string& ns, const std::string& name) {
  return {{"metadata", {{"name", name}, {"namespace", ns}}},
          {"template", {{"spec", {{"containers", json::array({{{"name", "c"}, {"image", "busybox"}}})}}}}}};
}

json config_map(const std::string& ns, const std::string& name, const std::string& value) {
  return {{"metadata", {{"name", name}, {"namespace", ns}}}, {"data", {{"v", value}}}};
}

// The next non-bookmark event.
std::optional<WatchEvent> next_change(WatchStream& stream) {
  while (auto event = stream.next()) {
    if (event->type != WatchEventType::Bookmark) return event;
  }
  return std::nullopt;
}

TEST(Watch, DeliversChangesInOrderAsTheyHappen) {
  Client& client = admin_client();
  std::string ns = create_namespace(client, "watch-order");
  ListResult start = client.list(resources::kConfigMaps, ns);
  EXPECT_TRUE(start.items.empty());

  WatchOptions options;
  options.resource_version = start.resource_version;
  auto stream = client.watch(resources::kConfigMaps, ns, options);

  // Each change is made only after the previous event arrived, so the events
  // must be read from the body as they come, not at its end (minutes away).
  client.create(resources::kConfigMaps, ns, config_map(ns, "a", "1"));
  auto added = next_change(*stream);
  ASSERT_TRUE(added);
  EXPECT_EQ(added->type, WatchEventType::Added);
  EXPECT_EQ(added->object["metadata"]["name"], "a");

  client.patch(resources::kConfigMaps, ns, "a", PatchType::Merge, {{"data", {{"v", "2"}}}});
  client.create(resources::kConfigMaps, ns, config_map(ns, "b", "1"));
  client.remove(resources::kConfigMaps, ns, "a");

  auto modified = next_change(*stream);
  ASSERT_TRUE(modified);
  EXPECT_EQ(modified->type, WatchEventType::Modified);
  EXPECT_EQ(modified->object["data"]["v"], "2");
  auto second = next_change(*stream);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->type, WatchEventType::Added);
  EXPECT_EQ(second->object["metadata"]["name"], "b");
  auto deleted = next_change(*stream);
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->type, WatchEventType::Deleted);
  EXPECT_EQ(deleted->object["metadata"]["name"], "a");
  EXPECT_EQ(deleted->object["data"]["v"], "2") << "a DELETED event carries the last state";

  // Resource versions only grow along the stream.
  EXPECT_LT(std::stoll(added->object["metadata"]["resourceVersion"].get<std::string>()),
            std::stoll(deleted->object["metadata"]["resourceVersion"].get<std::string>()));
}

TEST(Watch, StopEndsABlockedNextPromptly) {
  Client& client = admin_client();
  std::string ns = create_namespace(client, "watch-stop");
  WatchOptions options;
  options.resource_version = client.list(resources::kConfigMaps, ns).resource_version;
  options.timeout = std::chrono::seconds(300);
  auto stream = client.watch(resources::kConfigMaps, ns, options);

  auto reader = std::async(std::launch::async, [&] {
    std::optional<WatchEvent> last;
    while (auto event = stream->next()) last = event;  // only bookmarks could come
    return true;
  });
  EXPECT_EQ(reader.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout) << "next() should block";
  auto stopped_at = std::chrono::steady_clock::now();
  stream->stop();
  ASSERT_EQ(reader.wait_for(std::chrono::seconds(2)), std::future_status::ready) << "next() did not return after stop()";
  EXPECT_TRUE(reader.get());
  EXPECT_LT(std::chrono::steady_clock::now() - stopped_at, std::chrono::seconds(1));
}

TEST(Watch, TheServerTimeoutEndsTheStreamCleanly) {
  Client& client = admin_client();
  std::string ns = create_namespace(client, "watch-timeout");
  WatchOptions options;
  options.resource_version = client.list(resources::kConfigMaps, ns).resource_version;
  options.timeout = std::chrono::seconds(1);
  auto started = std::chrono::steady_clock::now();
  auto stream = client.watch(resources::kConfigMaps, ns, options);
  while (stream->next()) {
  }
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST(Watch, BookmarksCarryTheCurrentResourceVersion) {
  Client& client = admin_client();
  std::string ns = create_namespace(client, "watch-bookmark");
  WatchOptions options;
  options.resource_version = client.list(resources::kConfigMaps, ns).resource_version;
  options.label_selector = "watched=yes";
  // The watch cache sends a bookmark 2 s before a watch's deadline, so a 4 s watch gets one quickly;
  // it only does when the collection moved past the watch's version, hence the unwatched write.
  options.timeout = std::chrono::seconds(4);
  options.allow_bookmarks = true;
  auto stream = client.watch(resources::kConfigMaps, ns, options);
  // A bookmark only goes out for versions newer than the watch's start, so the write must come after it.
  stream->open();
  json unseen = client.create(resources::kConfigMaps, ns, config_map(ns, "not-watched", "1"));

  std::optional<WatchEvent> bookmark;
  while (auto event = stream->next()) {
    ASSERT_EQ(event->type, WatchEventType::Bookmark) << "the only change does not match the selector";
    bookmark = event;
    break;
  }
  ASSERT_TRUE(bookmark) << "no BOOKMARK before the watch ended";
  EXPECT_GE(std::stoll(bookmark->object["metadata"]["resourceVersion"].get<std::string>()),
            std::stoll(unseen["metadata"]["resourceVersion"].get<std::string>()));
  EXPECT_EQ(bookmark->object["kind"], "ConfigMap");
}

TEST(Watch, AVersionCompactedAwayInEtcdIsGone) {
  ASSERT_TRUE(control_plane().apiserver_has_flag(testing::kUncachedResourceFlag))
      << "the control plane in " << control_plane().dir() << " was started without " << testing::kUncachedResourceFlag
      << "; stop it so the tests can start their own";
  Client& client = admin_client();
  std::string ns = create_namespace(client, "watch-gone");
  json first = client.create(kPodTemplates, ns, pod_template(ns, "t0"));
  std::string old_version = first["metadata"]["resourceVersion"];
  for (int i = 1; i < 5; ++i) client.create(kPodTemplates, ns, pod_template(ns, "t" + std::to_string(i)));
  control_plane().etcd_compact(control_plane().etcd_revision());

  WatchOptions options;
  options.resource_version = old_version;
  options.timeout = std::chrono::seconds(30);
  auto stream = client.watch(kPodTemplates, ns, options);
  try {
    while (stream->next()) {
    }
    FAIL() << "watching from a compacted resourceVersion did not fail";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), 410) << e.what();
    EXPECT_EQ(e.reason(), ErrorReason::Gone) << e.what();
  }
}

}  // namespace
}  // namespace plano::kube
