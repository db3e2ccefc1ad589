// Informers against a real kube-apiserver: sync, handlers, indexes, bookmarks,
// relist after compaction, and an API server restart.
#include "core/kube/informer.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <set>
#include <tuple>

#include "tests/support/control_plane.h"

namespace plano::kube {
namespace {

using namespace std::chrono_literals;
using testing::admin_client;
using testing::control_plane;
using testing::create_namespace;
using testing::eventually;

const Resource kPodTemplates{"", "v1", "podtemplates", "PodTemplate", true};

json config_map(const std::string& ns, const std::string& name, const std::string& app, const std::string& value) {
  return {{"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"app", app}}}}}, {"data", {{"v", value}}}};
}

json pod_template(const std::string& ns, const std::string& name, const std::string& image = "busybox") {
  return {{"metadata", {{"name", name}, {"namespace", ns}}},
          {"template", {{"spec", {{"containers", json::array({{{"name", "c"}, {"image", image}}})}}}}}};
}

// Handler calls as "add:ns/name", "update:ns/name", "delete:ns/name", in order.
class Recorder {
 public:
  void attach(Informer& informer) {
    informer.on_add([this](const json& o) { push("add:" + object_key(o)); });
    informer.on_update([this](const json& old_object, const json& o) {
      EXPECT_EQ(object_key(old_object), object_key(o));
      push("update:" + object_key(o));
    });
    informer.on_delete([this](const json& o) { push("delete:" + object_key(o)); });
  }
  std::vector<std::string> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  size_t size() const {
    std::lock_guard lock(mu_);
    return calls_.size();
  }

 private:
  void push(std::string call) {
    std::lock_guard lock(mu_);
    calls_.push_back(std::move(call));
  }
  mutable std::mutex mu_;
  std::vector<std::string> calls_;
};

std::set<std::string> cached_names(const Informer& informer) {
  std::set<std::string> names;
  for (const auto& object : informer.list()) names.insert((*object)["metadata"]["name"].get<std::string>());
  return names;
}

long long version_number(const std::string& rv) { return rv.empty() ? 0 : std::stoll(rv); }

// The initial list as a streaming list (the default) or page by page.
void syncs_then_follows_changes_with_handlers_in_order(bool streaming_list) {
  Client& client = admin_client();
  std::string ns = create_namespace(client, "inf-sync");
  client.create(resources::kConfigMaps, ns, config_map(ns, "a", "x", "1"));
  client.create(resources::kConfigMaps, ns, config_map(ns, "b", "y", "1"));

  InformerOptions options;
  options.namespace_ = ns;
  options.page_size = 1;  // a paged list goes through pagination
  options.streaming_list = streaming_list;
  Recorder recorder;  // declared first: the informer's thread stops before the recorder goes
  Informer informer(client, resources::kConfigMaps, options);
  informer.add_index("app", [](const json& o) {
    return std::vector<std::string>{o["metadata"]["labels"].value("app", "")};
  });
  recorder.attach(informer);
  // The first list's objects reach the handlers as they arrive (so a handler's work overlaps the
  // rest of the list): each already in the cache, the ones after it not yet, the informer not synced.
  std::vector<std::tuple<bool, std::size_t, bool>> first_adds;  // {cached, cache size, synced}; written before sync only
  informer.on_add([&](const json& o) {
    if (first_adds.size() < 2) first_adds.emplace_back(informer.get(object_key(o)) != nullptr, informer.store().size(), informer.has_synced());
  });
  EXPECT_FALSE(informer.has_synced());
  informer.start();
  ASSERT_TRUE(informer.wait_for_sync(10s));
  EXPECT_EQ(recorder.size(), 2u) << "synced only once the handlers have seen the list: a handler's own copy is complete";
  EXPECT_EQ(first_adds, (std::vector<std::tuple<bool, std::size_t, bool>>{{true, 1, false}, {true, 2, false}}));
  EXPECT_EQ(cached_names(informer), (std::set<std::string>{"a", "b"}));
  EXPECT_FALSE(informer.resource_version().empty());

  client.create(resources::kConfigMaps, ns, config_map(ns, "c", "x", "1"));
  client.patch(resources::kConfigMaps, ns, "a", PatchType::Merge,
               {{"data", {{"v", "2"}}},
                {"metadata", {{"annotations", {{"kubectl.kubernetes.io/last-applied-configuration", "{\"kind\":\"ConfigMap\"}"},
                                               {"team", "x"}}}}}});
  client.remove(resources::kConfigMaps, ns, "b");

  ASSERT_TRUE(eventually([&] { return recorder.size() >= 5; }, 10s)) << recorder.size();
  EXPECT_EQ(recorder.calls(), (std::vector<std::string>{"add:" + ns + "/a", "add:" + ns + "/b", "add:" + ns + "/c",
                                                        "update:" + ns + "/a", "delete:" + ns + "/b"}));
  EXPECT_EQ(cached_names(informer), (std::set<std::string>{"a", "c"}));

  ObjectPtr a = informer.get(ns, "a");
  ASSERT_TRUE(a);
  EXPECT_EQ((*a)["data"]["v"], "2");
  EXPECT_FALSE((*a)["metadata"].contains("managedFields")) << "the cache strips managedFields";
  EXPECT_EQ((*a)["metadata"]["annotations"], (json{{"team", "x"}})) << "and kubectl's last-applied copy, nothing else";
  EXPECT_EQ(*informer.get(ns + "/a"), *a);
  EXPECT_FALSE(informer.get(ns, "b"));

  auto apps_x = informer.by_index("app", "x");
  ASSERT_EQ(apps_x.size(), 2u);
  EXPECT_TRUE(informer.by_index("app", "y").empty()) << "deleting b removed it from the index";

  auto stopping = std::chrono::steady_clock::now();
  informer.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - stopping, 2s) << "stop() must not wait for the watch timeout";
  InformerStats stats = informer.stats();
  EXPECT_EQ(stats.lists, 1u);
  EXPECT_EQ(stats.relists, 0u);
  EXPECT_EQ(stats.streamed_lists, streaming_list ? 1u : 0u);
  EXPECT_EQ(stats.events, 3u);
}

TEST(Informer, SyncsThenFollowsChangesWithHandlersInOrder) { syncs_then_follows_changes_with_handlers_in_order(true); }

TEST(Informer, SyncsPageByPageThenFollowsChangesWithHandlersInOrder) {
  syncs_then_follows_changes_with_handlers_in_order(false);
}

TEST(Informer, ALabelSelectorRestrictsTheCacheAndBookmarksAdvanceItsVersion) {
  Client& client = admin_client();
  std::string ns = create_namespace(client, "inf-label");
  auto secret = [&](const std::string& name, bool watched) {
    json labels = watched ? json{{"plano-operator.io/watch", "true"}} : json::object();
    return json{{"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
                {"stringData", {{"k", "v"}}}};
  };
  client.create(resources::kSecrets, ns, secret("watched-1", true));
  client.create(resources::kSecrets, ns, secret("ignored-1", false));

  InformerOptions options;
  options.namespace_ = ns;
  options.label_selector = "plano-operator.io/watch=true";
  options.watch_timeout = 3s;  // each watch lasts 3-6 s and gets a bookmark 2 s before its end
  Informer informer(client, resources::kSecrets, options);
  informer.start();
  ASSERT_TRUE(informer.wait_for_sync(10s));
  EXPECT_EQ(cached_names(informer), (std::set<std::string>{"watched-1"}));

  client.create(resources::kSecrets, ns, secret("watched-2", true));
  ASSERT_TRUE(eventually([&] { return informer.get(ns, "watched-2") != nullptr; }, 10s));

  // Changes the informer does not see move its version forward only through bookmarks. The server
  // bookmarks only versions newer than a watch's start, so keep writing until a watch spans a write.
  json unseen = client.create(resources::kSecrets, ns, secret("ignored-2", false));
  long long target = version_number(unseen["metadata"]["resourceVersion"]);
  int writes = 0;
  ASSERT_TRUE(eventually(
      [&] {
        if (version_number(informer.resource_version()) >= target) return true;
        client.create(resources::kSecrets, ns, secret("ignored-more-" + std::to_string(++writes), false));
        return false;
      },
      20s, 500ms))
      << "informer version " << informer.resource_version() << " never reached " << target;
  EXPECT_GT(informer.stats().bookmarks, 0u);
  EXPECT_EQ(cached_names(informer), (std::set<std::string>{"watched-1", "watched-2"}));

  // A label change that leaves the selector is a delete for the informer.
  client.patch(resources::kSecrets, ns, "watched-1", PatchType::Merge,
               {{"metadata", {{"labels", {{"plano-operator.io/watch", nullptr}}}}}});
  ASSERT_TRUE(eventually([&] { return informer.get(ns, "watched-1") == nullptr; }, 10s));
}

// A transform makes the informer keep less (here: a ConfigMap's data as its size); the objects
// listed, watched and handed to handlers are all transformed, and as_cached gives any object in the
// same form, so a desired object compares equal to its cached copy.
TEST(Informer, ATransformAppliesToListedAndWatchedObjectsAndAsCached) {
  Client& client = admin_client();
  std::string ns = create_namespace(client, "inf-transform");
  auto config_map = [&](const std::string& name, const std::string& text) {
    return json{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", name}, {"namespace", ns}}}, {"data", {{"config", text}}}};
  };
  client.create(resources::kConfigMaps, ns, config_map("listed", std::string(5000, 'a')));

  InformerOptions options;
  options.namespace_ = ns;
  options.transform = [](json& object) {
    if (auto data = object.find("data"); data != object.end()) *data = {{"size", data->dump().size()}};
  };
  Informer informer(client, resources::kConfigMaps, options);
  std::vector<json> handled;
  std::mutex mu;
  informer.on_add([&](const json& o) {
    std::lock_guard lock(mu);
    handled.push_back(o);
  });
  informer.start();
  ASSERT_TRUE(informer.wait_for_sync(10s));
  const auto listed = informer.get(ns, "listed");
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->at("data"), (json{{"size", 5013}}));

  const auto desired = config_map("watched", std::string(100, 'b'));
  client.create(resources::kConfigMaps, ns, desired);
  ASSERT_TRUE(eventually([&] { return informer.get(ns, "watched") != nullptr; }, 10s));
  EXPECT_EQ(informer.get(ns, "watched")->at("data"), (json{{"size", 113}}));
  EXPECT_EQ(informer.as_cached(desired).at("data"), informer.get(ns, "watched")->at("data"));
  std::lock_guard lock(mu);
  ASSERT_EQ(handled.size(), 2u);
  for (const auto& o : handled) EXPECT_TRUE(o.at("data").contains("size")) << o.dump();
}

// Wraps the real client and can hold back new watches, so changes can happen
// while the informer is between watches.
class GatedClient final : public ApiClient {
 public:
  explicit GatedClient(ApiClient& inner) : inner_(inner) {}

  void close() {
    std::lock_guard lock(mu_);
    open_ = false;
  }
  void open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  bool someone_waiting() const {
    std::lock_guard lock(mu_);
    return waiting_ > 0;
  }

  json get(const Resource& r, const std::string& ns, const std::string& name) override {
    return inner_.get(r, ns, name);
  }
  ListResult list_page(const Resource& r, const std::string& ns, const ListOptions& o) override {
    return inner_.list_page(r, ns, o);
  }
  json create(const Resource& r, const std::string& ns, const json& obj, const WriteOptions& o) override {
    return inner_.create(r, ns, obj, o);
  }
  json update(const Resource& r, const json& obj, const WriteOptions& o, const std::string& sub) override {
    return inner_.update(r, obj, o, sub);
  }
  json apply(const Resource& r, const json& obj, const ApplyOptions& o, const std::string& sub) override {
    return inner_.apply(r, obj, o, sub);
  }
  json patch(const Resource& r, const std::string& ns, const std::string& name, PatchType t, const json& p,
             const WriteOptions& o, const std::string& sub) override {
    return inner_.patch(r, ns, name, t, p, o, sub);
  }
  json remove(const Resource& r, const std::string& ns, const std::string& name, const DeleteOptions& o) override {
    return inner_.remove(r, ns, name, o);
  }
  json create_subresource(const Resource& r, const std::string& ns, const std::string& name, const std::string& sub,
                          const json& body, const WriteOptions& o) override {
    return inner_.create_subresource(r, ns, name, sub, body, o);
  }
  std::unique_ptr<WatchStream> watch(const Resource& r, const std::string& ns, const WatchOptions& o) override {
    {
      std::unique_lock lock(mu_);
      ++waiting_;
      cv_.wait(lock, [this] { return open_; });
      --waiting_;
    }
    return inner_.watch(r, ns, o);
  }

 private:
  ApiClient& inner_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  int waiting_ = 0;
};

TEST(Informer, RelistsWhenItsVersionWasCompactedAway) {
  ASSERT_TRUE(control_plane().apiserver_has_flag(testing::kUncachedResourceFlag))
      << "the control plane was started without " << testing::kUncachedResourceFlag;
  Client& client = admin_client();
  GatedClient gated(client);
  std::string ns = create_namespace(client, "inf-relist");
  client.create(kPodTemplates, ns, pod_template(ns, "keep"));
  client.create(kPodTemplates, ns, pod_template(ns, "drop"));

  InformerOptions options;
  options.namespace_ = ns;
  options.watch_timeout = 1s;  // watches end every 1-2 s, so the informer soon asks for a new one
  Recorder recorder;  // declared first: the informer's thread stops before the recorder goes
  Informer informer(gated, kPodTemplates, options);
  recorder.attach(informer);
  informer.start();
  ASSERT_TRUE(informer.wait_for_sync(10s));
  std::string synced_version = informer.resource_version();

  // Hold the informer between two watches, change things behind its back, and compact etcd past its version.
  gated.close();
  ASSERT_TRUE(eventually([&] { return gated.someone_waiting(); }, 10s));
  EXPECT_EQ(informer.resource_version(), synced_version);
  client.patch(kPodTemplates, ns, "keep", PatchType::Merge, {{"metadata", {{"labels", {{"changed", "yes"}}}}}});
  client.remove(kPodTemplates, ns, "drop");
  client.create(kPodTemplates, ns, pod_template(ns, "new"));
  control_plane().etcd_compact(control_plane().etcd_revision());
  gated.open();

  // The watch from the compacted version gets 410 Gone; the informer lists again and diffs.
  ASSERT_TRUE(eventually([&] { return informer.stats().relists >= 1 && recorder.size() >= 5; }, 15s))
      << "relists " << informer.stats().relists << ", handler calls " << recorder.size();
  EXPECT_EQ(informer.stats().relists, 1u);
  EXPECT_EQ(cached_names(informer), (std::set<std::string>{"keep", "new"}));
  ObjectPtr keep = informer.get(ns, "keep");
  ASSERT_TRUE(keep);
  EXPECT_EQ((*keep)["metadata"]["labels"]["changed"], "yes");
  auto calls = recorder.calls();
  ASSERT_EQ(calls.size(), 5u);
  EXPECT_EQ(std::set<std::string>(calls.begin() + 2, calls.end()),
            (std::set<std::string>{"delete:" + ns + "/drop", "update:" + ns + "/keep", "add:" + ns + "/new"}));
  EXPECT_GT(version_number(informer.resource_version()), version_number(synced_version));

  // And it keeps following changes from the new list's version.
  client.create(kPodTemplates, ns, pod_template(ns, "after"));
  ASSERT_TRUE(eventually([&] { return informer.get(ns, "after") != nullptr; }, 10s));
  EXPECT_EQ(informer.stats().relists, 1u);
}

TEST(Informer, RecoversWhenTheApiServerIsKilledAndRestartedMidWatch) {
  // Its own control plane: killing the shared API server would disturb tests running in parallel.
  std::unique_ptr<testing::ControlPlane> cp;
  try {
    cp = testing::ControlPlane::start();
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  Client client(cp->admin_config());
  std::string ns = create_namespace(client, "inf-restart");
  client.create(resources::kConfigMaps, ns, config_map(ns, "before", "x", "1"));

  InformerOptions options;
  options.namespace_ = ns;
  options.initial_backoff = 100ms;
  options.max_backoff = 1s;
  Informer informer(client, resources::kConfigMaps, options);
  informer.start();
  ASSERT_TRUE(informer.wait_for_sync(10s));
  ASSERT_TRUE(eventually([&] { return informer.stats().watches >= 1; }, 5s)) << "the informer never started watching";

  cp->kill_apiserver();
  // Reconnecting fails while it is down; the informer keeps retrying with backoff and keeps its cache.
  ASSERT_TRUE(eventually([&] { return informer.stats().errors >= 2; }, 10s)) << informer.stats().errors;
  EXPECT_EQ(cached_names(informer), (std::set<std::string>{"before"}));
  EXPECT_TRUE(informer.has_synced());

  cp->start_apiserver();
  client.create(resources::kConfigMaps, ns, config_map(ns, "after", "x", "1"));
  client.remove(resources::kConfigMaps, ns, "before");
  ASSERT_TRUE(eventually([&] { return cached_names(informer) == std::set<std::string>{"after"}; }, 15s))
      << "cache holds " << cached_names(informer).size() << " objects after the restart";
  EXPECT_GE(informer.stats().watch_restarts, 1u);
  informer.stop();
}

json provider_object(const std::string& name, const std::string& gateway, const std::string& rv) {
  return json{{"metadata", {{"name", name}, {"namespace", "ns"}, {"resourceVersion", rv}, {"uid", "uid-" + name}}},
              {"spec", {{"gatewayRef", {{"name", gateway}}}, {"model", "openai/gpt-4o"}}}};
}

std::vector<std::string> gateway_of(const json& o) { return {o["spec"]["gatewayRef"]["name"].get<std::string>()}; }

TEST(Store, IndexesFollowUpsertsErasesAndReplace) {
  Store store;
  store.add_index("gateway", gateway_of);
  EXPECT_FALSE(store.upsert(provider_object("p1", "gw-a", "1")));
  store.upsert(provider_object("p2", "gw-a", "1"));
  EXPECT_EQ(store.by_index("gateway", "gw-a").size(), 2u);
  EXPECT_EQ(*store.get("ns/p2"), provider_object("p2", "gw-a", "1")) << "what is read is what was stored";

  ObjectPtr previous = store.upsert(provider_object("p1", "gw-b", "2"));
  ASSERT_TRUE(previous);
  EXPECT_EQ((*previous)["metadata"]["resourceVersion"], "1");
  EXPECT_EQ(store.by_index("gateway", "gw-a").size(), 1u);
  EXPECT_EQ(store.by_index("gateway", "gw-b").size(), 1u);
  // Updates that keep the index values (status writes), packed to the same size and to another.
  for (const char* version : {"3", "10"}) {
    store.upsert(provider_object("p2", "gw-a", version));
    EXPECT_EQ(*store.get("ns/p2"), provider_object("p2", "gw-a", version)) << "what is read is the update";
    EXPECT_EQ(store.by_index("gateway", "gw-a").size(), 1u);
  }

  Store::Contents next = store.next_contents();
  next.add(provider_object("p1", "gw-b", "2"));
  next.add(provider_object("p3", "gw-c", "1"));
  Store::ReplaceDiff diff = store.replace(std::move(next));
  EXPECT_EQ(diff.added.size(), 1u);
  EXPECT_EQ(diff.updated.size(), 0u) << "same resourceVersion: unchanged";
  ASSERT_EQ(diff.deleted.size(), 1u);
  EXPECT_EQ(object_key(*diff.deleted[0].unpack()), "ns/p2");
  EXPECT_TRUE(store.by_index("gateway", "gw-a").empty());
  EXPECT_EQ(store.by_index("gateway", "gw-c").size(), 1u);

  EXPECT_EQ(store.keys(), (std::vector<std::string>{"ns/p1", "ns/p3"}));
  EXPECT_TRUE(store.erase("ns/p3"));
  EXPECT_FALSE(store.erase("ns/p3"));
  EXPECT_TRUE(store.by_index("gateway", "gw-c").empty());
  EXPECT_EQ(store.size(), 1u);
  EXPECT_THROW(store.by_index("missing", "x"), std::invalid_argument);
}

TEST(Store, AnIndexAddedLaterCoversWhatIsStored) {
  Store store;
  store.upsert(provider_object("p1", "gw-a", "1"));
  store.add_index("gateway", gateway_of);
  ASSERT_EQ(store.by_index("gateway", "gw-a").size(), 1u);
  store.upsert(provider_object("p1", "gw-b", "2"));
  EXPECT_TRUE(store.by_index("gateway", "gw-a").empty());
  EXPECT_EQ(store.by_index("gateway", "gw-b").size(), 1u);
}

TEST(Store, WithoutObjectsKeepsIdentitiesIndexesAndRelistDifferences) {
  Store store(/*keep_objects=*/false);
  store.add_index("gateway", gateway_of);
  store.upsert(provider_object("p1", "gw-a", "1"));
  store.upsert(provider_object("p2", "gw-a", "1"));
  const ObjectPtr kept = store.get("ns/p1");
  ASSERT_TRUE(kept);
  EXPECT_EQ(*kept, (json{{"metadata", {{"name", "p1"}, {"namespace", "ns"}, {"resourceVersion", "1"}, {"uid", "uid-p1"}}}}))
      << "only the identity is kept";
  EXPECT_EQ(store.by_index("gateway", "gw-a").size(), 2u) << "indexes come from the whole object";

  Store::Contents next = store.next_contents();
  next.add(provider_object("p1", "gw-a", "2"));
  next.add(provider_object("p3", "gw-b", "1"));
  Store::ReplaceDiff diff = store.replace(std::move(next));
  ASSERT_EQ(diff.updated.size(), 1u);
  EXPECT_EQ(diff.updated[0].first.unpack()->at("metadata").at("resourceVersion"), "1");
  EXPECT_EQ(*diff.updated[0].second.unpack(), provider_object("p1", "gw-a", "2")) << "handlers get the whole new object";
  ASSERT_EQ(diff.added.size(), 1u);
  EXPECT_EQ(*diff.added[0].unpack(), provider_object("p3", "gw-b", "1")) << "handlers get the whole new object";
  ASSERT_EQ(diff.deleted.size(), 1u);
  EXPECT_EQ(object_key(*diff.deleted[0].unpack()), "ns/p2");
  EXPECT_FALSE(store.get("ns/p3")->contains("spec")) << "and the store keeps only the identity";
  EXPECT_EQ(store.by_index("gateway", "gw-b").size(), 1u);
}

}  // namespace
}  // namespace plano::kube
