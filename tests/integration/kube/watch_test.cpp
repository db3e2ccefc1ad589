// Raw watch streams against a real kube-apiserver.
#include "core/kube/watch.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <regex>
#include <sstream>
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

// A watch of the namespace's ConfigMaps from their current version.
WatchOptions from_now(Client& client, const std::string& ns) {
  WatchOptions options;
  options.resource_version = client.list(resources::kConfigMaps, ns).resource_version;
  return options;
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
  WatchOptions options = from_now(client, ns);
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
  WatchOptions options = from_now(client, ns);
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
  WatchOptions options = from_now(client, ns);
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

TEST(Watch, AnEventLargerThanOneReadArrivesWhole) {
  Client& client = admin_client();
  std::string ns = create_namespace(client, "watch-large");
  WatchOptions options = from_now(client, ns);
  auto stream = client.watch(resources::kConfigMaps, ns, options);
  // Five times the watch's 64 KiB read and many TLS records; the event after it shares a read with its tail.
  std::string large(320 * 1024, 'x');
  for (std::size_t i = 0; i < large.size(); i += 997) large[i] = static_cast<char>('a' + i % 26);
  client.create(resources::kConfigMaps, ns, config_map(ns, "large", large));
  client.create(resources::kConfigMaps, ns, config_map(ns, "small", "1"));

  auto first = next_change(*stream);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->object["metadata"]["name"], "large");
  EXPECT_TRUE(first->object["data"]["v"] == large) << "the large value arrived altered";
  auto second = next_change(*stream);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->object["metadata"]["name"], "small");
  EXPECT_EQ(second->object["data"]["v"], "1");
}

TEST(Watch, BookkeepingCanBeLeftOutWhileParsing) {
  Client& client = admin_client();
  std::string ns = create_namespace(client, "watch-bookkeeping");
  WatchOptions options = from_now(client, ns);
  auto whole = client.watch(resources::kConfigMaps, ns, options);
  options.omit_bookkeeping = true;
  auto lean = client.watch(resources::kConfigMaps, ns, options);
  json object = config_map(ns, "c", "1");
  object["metadata"]["annotations"] = {{"kubectl.kubernetes.io/last-applied-configuration", "{\"kind\":\"ConfigMap\"}"},
                                       {"team", "x"}};
  object["metadata"]["labels"] = {{"managedFields", "stays"}};
  object["data"]["managedFields"] = "outside metadata, stays too";
  client.create(resources::kConfigMaps, ns, object);

  auto full = next_change(*whole);
  ASSERT_TRUE(full);
  ASSERT_TRUE(full->object["metadata"].contains("managedFields")) << "the server records the creation";
  auto without = next_change(*lean);
  ASSERT_TRUE(without);
  EXPECT_FALSE(without->object["metadata"].contains("managedFields"));
  EXPECT_EQ(without->object["metadata"]["annotations"], (json{{"team", "x"}}));
  // Everything else is as the server sent it.
  json expected = full->object;
  expected["metadata"].erase("managedFields");
  expected["metadata"]["annotations"].erase("kubectl.kubernetes.io/last-applied-configuration");
  EXPECT_EQ(without->object, expected);
}

// `kubectl proxy`: the API over plain HTTP, under a path prefix (as Rancher-style server URLs have).
class KubectlProxy {
 public:
  explicit KubectlProxy(const std::string& prefix) {
    log_ = std::filesystem::temp_directory_path() / (testing::unique_name("kubectl-proxy") + ".log");
    pid_ = fork();
    if (pid_ == 0) {
      FILE* out = freopen(log_.c_str(), "w", stdout);
      if (out == nullptr || dup2(fileno(stdout), STDERR_FILENO) < 0) _exit(127);
      execlp("kubectl", "kubectl", "proxy", "--port=0", ("--api-prefix=" + prefix).c_str(), "--kubeconfig",
             control_plane().kubeconfig_path().c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    const std::regex serving(R"(Starting to serve on 127\.0\.0\.1:([0-9]+))");
    testing::eventually(
        [&] {
          std::ifstream in(log_);
          std::stringstream text;
          text << in.rdbuf();
          std::smatch match;
          const std::string s = text.str();
          if (!std::regex_search(s, match, serving)) return false;
          port_ = std::stoi(match[1]);
          return true;
        },
        std::chrono::seconds(20));
  }
  ~KubectlProxy() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove(log_);
  }
  int port() const { return port_; }

 private:
  std::filesystem::path log_;
  pid_t pid_ = -1;
  int port_ = 0;
};

TEST(Watch, FollowsChangesOverPlainHttpUnderAPathPrefix) {
  KubectlProxy proxy("/k8s/clusters/local/");
  ASSERT_GT(proxy.port(), 0) << "kubectl proxy did not start";
  ClientConfig config;
  config.server = "http://127.0.0.1:" + std::to_string(proxy.port()) + "/k8s/clusters/local";
  config.origin = "kubectl proxy";
  Client client(config);
  std::string ns = create_namespace(admin_client(), "watch-proxy");
  WatchOptions options = from_now(client, ns);
  auto stream = client.watch(resources::kConfigMaps, ns, options);
  stream->open();
  admin_client().create(resources::kConfigMaps, ns, config_map(ns, "through-proxy", "1"));
  auto added = next_change(*stream);
  ASSERT_TRUE(added);
  EXPECT_EQ(added->type, WatchEventType::Added);
  EXPECT_EQ(added->object["metadata"]["name"], "through-proxy");
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
