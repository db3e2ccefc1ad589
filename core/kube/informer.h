// Informer: keeps a local, indexed copy of a collection in sync with the API
// server (list, then watch; relist when the watch's version is gone) and
// tells handlers about each change.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/kube/client.h"

namespace plano::kube {

// Cached objects are immutable and shared; holding one is cheap and safe across threads.
using ObjectPtr = std::shared_ptr<const nlohmann::json>;

// Maps an object to the index values it is found under (e.g. its gatewayRef).
using IndexFunc = std::function<std::vector<std::string>(const nlohmann::json&)>;

// "namespace/name", or "name" for cluster-scoped objects.
std::string object_key(const nlohmann::json& object);
std::string object_key(const std::string& ns, const std::string& name);
// {"metadata": {name, namespace, uid, resourceVersion}}: what a store keeps of an object without it.
nlohmann::json identity_of(const nlohmann::json& object);

// One stored object: packed, with what it is indexed under (so unindexing needs no unpacking).
struct StoredObject {
  std::vector<std::uint8_t> packed;
  std::string resource_version;
  std::vector<std::pair<std::string, std::string>> indexed;  // {index name, value}
};

// A thread-safe map of objects by key, with named secondary indexes. Objects are kept packed
// (MessagePack, a third of the JSON text and a fifth to a tenth of a json tree) and unpacked on
// each read, so a cache of 10,000 objects costs megabytes, not tens of them. Reads return fresh
// trees: callers may keep them as long as they like.
class Store {
 public:
  // keep_objects false: only each object's identity (metadata name, namespace, uid,
  // resourceVersion) is kept, enough to report a relist's differences; for callers whose handlers
  // keep what they need themselves. Reads then return those identities.
  explicit Store(bool keep_objects = true) : keep_objects_(keep_objects) {}

  // Objects already stored are indexed too (from what is kept of them: add indexes first).
  void add_index(const std::string& name, IndexFunc fn);

  // Inserts or replaces the object under its key; returns the previous one (null if new).
  ObjectPtr upsert(const nlohmann::json& object);
  // Removes a key; returns whether it was there.
  bool erase(const std::string& key);

  // The whole next content, gathered one object at a time (a list page by page), packed as it
  // comes so that the trees of at most one page are alive at once.
  class Contents {
   public:
    void add(const nlohmann::json& object);
    void clear() {
      entries_.clear();
      wholes_.clear();
    }

   private:
    friend class Store;
    explicit Contents(const Store& store) : store_(&store) {}
    // What the store will keep of an object, and, for a store of identities, where the whole
    // object (for the handlers) lies in wholes_.
    struct Entry {
      StoredObject stored;
      std::size_t whole_offset = 0, whole_size = 0;
    };
    const Store* store_;
    std::map<std::string, Entry> entries_;
    // A store of identities' whole objects, one after another: freed at once after the handlers,
    // they leave no holes between the store's entries (10,000 buffers of their own left 7.6 MB of
    // free chunks glibc could neither reuse nor give back).
    std::vector<std::uint8_t> wholes_;
  };
  Contents next_contents() const { return Contents(*this); }

  // One object of a relist's differences, kept packed until its handler needs it: unpacked all at
  // once, a 10,000-object list is tens of megabytes of trees, which the allocator then keeps.
  class PackedObject {
   public:
    explicit PackedObject(std::vector<std::uint8_t> packed);
    // `size` bytes at `offset` of a buffer shared with other objects.
    PackedObject(std::shared_ptr<const std::vector<std::uint8_t>> buffer, std::size_t offset, std::size_t size)
        : buffer_(std::move(buffer)), offset_(offset), size_(size) {}
    ObjectPtr unpack() const;
    // The object, letting go of the packed copy (so a diff handed over one object at a time shrinks as it goes).
    ObjectPtr take();

   private:
    std::shared_ptr<const std::vector<std::uint8_t>> buffer_;
    std::size_t offset_ = 0, size_ = 0;
  };
  struct ReplaceDiff {
    std::vector<PackedObject> added;
    std::vector<std::pair<PackedObject, PackedObject>> updated;  // {old, new}; only where resourceVersion changed
    std::vector<PackedObject> deleted;
  };
  // Makes `contents` the whole content, reporting what changed (whole objects, also when the store
  // keeps identities: the handlers get them).
  ReplaceDiff replace(Contents contents);

  ObjectPtr get(const std::string& key) const;
  std::vector<ObjectPtr> list() const;  // ordered by key
  std::vector<std::string> keys() const;  // ordered; nothing unpacked
  std::vector<ObjectPtr> by_index(const std::string& index, const std::string& value) const;
  // The keys and resourceVersions of by_index's objects, without unpacking them: a reader that
  // keeps what it made of each version reads again only those that changed.
  std::vector<std::pair<std::string, std::string>> versions_by_index(const std::string& index, const std::string& value) const;
  size_t size() const;

 private:
  struct Index {
    IndexFunc fn;
    std::map<std::string, std::set<std::string>> keys_by_value;
  };
  // Callers hold mu_. whole: the object itself, else only its identity.
  StoredObject pack(const nlohmann::json& object, bool whole) const;
  void index_locked(const std::string& key, const StoredObject& entry);
  // Calls each(key, entry) for the objects whose index `index` has `value`.
  template <class Each>
  void for_each_indexed_locked(const std::string& index, const std::string& value, Each each) const;
  void unindex_locked(const std::string& key, const StoredObject& entry);

  const bool keep_objects_;
  mutable std::shared_mutex mu_;
  std::map<std::string, StoredObject> objects_;
  std::map<std::string, Index> indexes_;
};

struct InformerOptions {
  std::string namespace_;      // empty: all namespaces (and required for cluster-scoped resources)
  std::string label_selector;  // only objects matching this are listed, watched and cached
  std::string field_selector;
  std::int64_t page_size = 500;
  // Server-side timeout of each watch; every watch takes a random value in
  // [timeout, 2 * timeout) so that many informers do not reconnect together.
  std::chrono::seconds watch_timeout{300};
  // Delay before retrying after an error (API server down, forbidden, ...), doubling up to max_backoff.
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30000};
  std::string name;  // for logs; defaults to the resource name
  // false: the store keeps identities only (see Store); for callers that keep their own copy.
  bool keep_objects = true;
  // Lists as a streaming list (a watch with sendInitialEvents, Kubernetes 1.34+ by default); a
  // server that refuses one is listed page by page instead. false: always page by page.
  bool streaming_list = true;
  // Applied to every object before handlers and the store see it (client-go's SetTransform), to
  // keep less of it; see Informer::as_cached.
  std::function<void(nlohmann::json&)> transform;
};

struct InformerStats {
  std::uint64_t lists = 0;           // full lists, the initial one included
  std::uint64_t relists = 0;         // lists after the initial one (after 410 Gone)
  std::uint64_t streamed_lists = 0;  // of the lists, those that came as a streaming list
  std::uint64_t watches = 0;         // watches opened
  std::uint64_t watch_restarts = 0;  // watches opened after the first one
  std::uint64_t errors = 0;          // failed lists or watches (each followed by a backoff)
  std::uint64_t events = 0;          // ADDED/MODIFIED/DELETED received
  std::uint64_t bookmarks = 0;
};

class Informer {
 public:
  using AddHandler = std::function<void(const nlohmann::json& object)>;
  using UpdateHandler = std::function<void(const nlohmann::json& old_object, const nlohmann::json& new_object)>;
  using DeleteHandler = std::function<void(const nlohmann::json& last_state)>;

  // The client must outlive the informer.
  Informer(ApiClient& client, Resource resource, InformerOptions options = {});
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Set these up before start(). Handlers run on the informer's thread, one at
  // a time, in the order the changes happened, after the cache has applied the
  // change; a slow handler delays the cache. After a relist the differences to
  // the old cache are reported (update only where the resourceVersion changed). The first list's
  // objects are handed over one by one as they arrive, before has_synced().
  // Objects passed to them have metadata.managedFields and kubectl's last-applied-configuration
  // annotation removed.
  void add_index(const std::string& name, IndexFunc fn);
  void on_add(AddHandler handler);
  void on_update(UpdateHandler handler);
  void on_delete(DeleteHandler handler);

  void start();
  // Stops the watch and joins the thread. A list request in flight is allowed
  // to finish (bounded by the client's request timeout).
  void stop();

  // True once the first list is in the cache and its handlers have run.
  bool has_synced() const { return synced_.load(); }
  bool wait_for_sync(std::chrono::milliseconds timeout) const;

  // An object as this informer would hold it (bookkeeping dropped, the transform applied): what a
  // desired object is compared with its cached copy as.
  nlohmann::json as_cached(nlohmann::json object) const;

  ObjectPtr get(const std::string& key) const { return store_.get(key); }
  ObjectPtr get(const std::string& ns, const std::string& name) const { return store_.get(object_key(ns, name)); }
  std::vector<ObjectPtr> list() const { return store_.list(); }
  std::vector<std::string> keys() const { return store_.keys(); }
  std::vector<ObjectPtr> by_index(const std::string& index, const std::string& value) const {
    return store_.by_index(index, value);
  }
  std::vector<std::pair<std::string, std::string>> versions_by_index(const std::string& index, const std::string& value) const {
    return store_.versions_by_index(index, value);
  }
  const Store& store() const { return store_; }

  // The version the next watch starts from: of the last list, event or bookmark.
  std::string resource_version() const;
  InformerStats stats() const;
  const Resource& resource() const { return resource_; }

 private:
  class ListSink;
  void run();
  void list_and_replace();
  // The list is complete at resource_version: the informer is synced once its handlers have run.
  void finish_list(const std::string& resource_version);
  // Watches until the stream ends; with_initial_list: a streaming list first (returns whether its
  // end arrived, so the store holds the whole collection).
  bool watch_once(bool with_initial_list);
  void handle(WatchEvent& event);
  // Stores an object as it is now and tells the add or update handlers.
  void apply(const nlohmann::json& object);
  void set_resource_version(std::string rv);
  void sleep_unless_stopped(std::chrono::milliseconds delay);
  bool stopping() const { return stopping_.load(); }

  ApiClient& client_;
  const Resource resource_;
  const InformerOptions options_;
  const std::string name_;
  Store store_;
  std::vector<AddHandler> on_add_;
  std::vector<UpdateHandler> on_update_;
  std::vector<DeleteHandler> on_delete_;

  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> synced_{false};
  mutable std::mutex mu_;  // guards resource_version_, watch_; with cv_ for sync and stop waits
  mutable std::condition_variable cv_;
  std::string resource_version_;
  WatchStream* watch_ = nullptr;  // the open watch, so stop() can end it

  bool streaming_list_;  // options_.streaming_list until the server refuses one; only run() uses it
  std::atomic<std::uint64_t> lists_{0};
  std::atomic<std::uint64_t> streamed_lists_{0};
  std::atomic<std::uint64_t> watches_{0};
  std::atomic<std::uint64_t> errors_{0};
  std::atomic<std::uint64_t> events_{0};
  std::atomic<std::uint64_t> bookmarks_{0};
};

}  // namespace plano::kube
