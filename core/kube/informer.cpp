#include "core/kube/informer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <utility>

#include "core/kube/backoff.h"
#include "core/kube/bookkeeping.h"
#include "core/kube/object_fields.h"
#include "core/process/memory.h"

namespace plano::kube {

namespace {

std::string metadata_field(const nlohmann::json& object, const char* key) { return string_at(object, {"metadata", key}); }

ObjectPtr unpack(const StoredObject& entry) {
  return std::make_shared<const nlohmann::json>(nlohmann::json::from_msgpack(entry.packed));
}

std::vector<std::string> index_values(const IndexFunc& fn, const std::string& index, const nlohmann::json& object) {
  try {
    return fn(object);
  } catch (const std::exception& e) {
    spdlog::error("kube: index {} failed for {}: {}", index, object_key(object), e.what());
    return {};
  }
}

}  // namespace

nlohmann::json identity_of(const nlohmann::json& object) {
  nlohmann::json metadata = nlohmann::json::object();
  for (const char* field : {"name", "namespace", "uid", "resourceVersion"}) {
    if (auto value = metadata_field(object, field); !value.empty()) metadata[field] = std::move(value);
  }
  return {{"metadata", std::move(metadata)}};
}

std::string object_key(const std::string& ns, const std::string& name) { return ns.empty() ? name : ns + "/" + name; }

std::string object_key(const nlohmann::json& object) {
  return object_key(metadata_field(object, "namespace"), metadata_field(object, "name"));
}

// ---- Store ----

StoredObject Store::pack(const nlohmann::json& object, bool whole) const {
  StoredObject entry;
  entry.packed = nlohmann::json::to_msgpack(whole ? object : identity_of(object));
  entry.packed.shrink_to_fit();
  entry.resource_version = metadata_field(object, "resourceVersion");
  for (const auto& [name, index] : indexes_) {
    for (auto& value : index_values(index.fn, name, object)) entry.indexed.emplace_back(name, std::move(value));
  }
  return entry;
}

void Store::index_locked(const std::string& key, const StoredObject& entry) {
  for (const auto& [name, value] : entry.indexed) {
    if (auto index = indexes_.find(name); index != indexes_.end()) index->second.keys_by_value[value].insert(key);
  }
}

void Store::unindex_locked(const std::string& key, const StoredObject& entry) {
  for (const auto& [name, value] : entry.indexed) {
    auto index = indexes_.find(name);
    if (index == indexes_.end()) continue;
    auto it = index->second.keys_by_value.find(value);
    if (it == index->second.keys_by_value.end()) continue;
    it->second.erase(key);
    if (it->second.empty()) index->second.keys_by_value.erase(it);
  }
}

void Store::add_index(const std::string& name, IndexFunc fn) {
  std::unique_lock lock(mu_);
  Index& index = indexes_[name];
  index.fn = std::move(fn);
  index.keys_by_value.clear();
  for (auto& [key, entry] : objects_) {
    std::erase_if(entry.indexed, [&](const auto& indexed) { return indexed.first == name; });
    for (auto& value : index_values(index.fn, name, *unpack(entry))) {
      index.keys_by_value[value].insert(key);
      entry.indexed.emplace_back(name, std::move(value));
    }
  }
}

ObjectPtr Store::upsert(const nlohmann::json& object) {
  std::string key = object_key(object);
  std::unique_lock lock(mu_);
  StoredObject entry = pack(object, keep_objects_);
  ObjectPtr previous;
  auto it = objects_.find(key);
  if (it != objects_.end()) {
    previous = unpack(it->second);
    StoredObject& kept = it->second;
    // Most updates (status writes) change neither the index values nor the packed size: reusing
    // what is kept spares the heap a new set of long-lived blocks scattered among a storm's temporaries.
    if (kept.packed.size() == entry.packed.size()) std::copy(entry.packed.begin(), entry.packed.end(), kept.packed.begin());
    else kept.packed = std::move(entry.packed);
    kept.resource_version = entry.resource_version;
    if (kept.indexed != entry.indexed) {
      unindex_locked(key, kept);
      kept.indexed = std::move(entry.indexed);
      index_locked(key, kept);
    }
  } else {
    it = objects_.emplace(key, std::move(entry)).first;
    index_locked(key, it->second);
  }
  return previous;
}

bool Store::erase(const std::string& key) {
  std::unique_lock lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return false;
  unindex_locked(key, it->second);
  objects_.erase(it);
  return true;
}

void Store::Contents::add(const nlohmann::json& object) {
  std::shared_lock lock(store_->mu_);
  Entry& entry = entries_[object_key(object)];
  entry.stored = store_->pack(object, store_->keep_objects_);
  if (!store_->keep_objects_) {
    // Whole even when the store keeps identities: replace() hands these to the handlers first.
    entry.whole_offset = wholes_.size();
    nlohmann::json::to_msgpack(object, wholes_);
    entry.whole_size = wholes_.size() - entry.whole_offset;
  }
}

Store::PackedObject::PackedObject(std::vector<std::uint8_t> packed)
    : buffer_(std::make_shared<const std::vector<std::uint8_t>>(std::move(packed))), size_(buffer_->size()) {}

ObjectPtr Store::PackedObject::unpack() const {
  const auto begin = buffer_->begin() + static_cast<std::ptrdiff_t>(offset_);
  return std::make_shared<const nlohmann::json>(nlohmann::json::from_msgpack(begin, begin + static_cast<std::ptrdiff_t>(size_)));
}

ObjectPtr Store::PackedObject::take() {
  ObjectPtr object = unpack();
  buffer_.reset();
  return object;
}

Store::ReplaceDiff Store::replace(Contents contents) {
  auto& next = contents.entries_;
  const auto wholes = std::make_shared<const std::vector<std::uint8_t>>(std::move(contents.wholes_));
  ReplaceDiff diff;
  std::unique_lock lock(mu_);
  // The whole object for the handlers.
  auto for_handlers = [&](const Contents::Entry& entry) {
    return keep_objects_ ? PackedObject(entry.stored.packed) : PackedObject(wholes, entry.whole_offset, entry.whole_size);
  };
  for (auto& [key, old] : objects_) {
    auto it = next.find(key);
    if (it == next.end()) {
      diff.deleted.emplace_back(std::move(old.packed));
    } else if (old.resource_version != it->second.stored.resource_version) {
      diff.updated.emplace_back(PackedObject(std::move(old.packed)), for_handlers(it->second));
    }
  }
  for (const auto& [key, entry] : next) {
    if (!objects_.count(key)) diff.added.push_back(for_handlers(entry));
  }
  std::map<std::string, StoredObject> stored;
  for (auto& [key, entry] : next) stored.emplace_hint(stored.end(), key, std::move(entry.stored));
  objects_ = std::move(stored);
  for (auto& [name, index] : indexes_) index.keys_by_value.clear();
  for (const auto& [key, entry] : objects_) index_locked(key, entry);
  return diff;
}

ObjectPtr Store::get(const std::string& key) const {
  std::shared_lock lock(mu_);
  auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : unpack(it->second);
}

std::vector<ObjectPtr> Store::list() const {
  std::shared_lock lock(mu_);
  std::vector<ObjectPtr> out;
  out.reserve(objects_.size());
  for (const auto& [key, entry] : objects_) out.push_back(unpack(entry));
  return out;
}

std::vector<std::string> Store::keys() const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  out.reserve(objects_.size());
  for (const auto& [key, entry] : objects_) out.push_back(key);
  return out;
}

template <class Each>
void Store::for_each_indexed_locked(const std::string& index, const std::string& value, Each each) const {
  auto it = indexes_.find(index);
  if (it == indexes_.end()) throw std::invalid_argument("no index named \"" + index + "\"; add it with add_index");
  auto keys = it->second.keys_by_value.find(value);
  if (keys == it->second.keys_by_value.end()) return;
  for (const auto& key : keys->second) {
    auto entry = objects_.find(key);
    if (entry != objects_.end()) each(key, entry->second);
  }
}

std::vector<ObjectPtr> Store::by_index(const std::string& index, const std::string& value) const {
  std::shared_lock lock(mu_);
  std::vector<ObjectPtr> out;
  for_each_indexed_locked(index, value, [&](const std::string&, const StoredObject& entry) { out.push_back(unpack(entry)); });
  return out;
}

std::vector<std::pair<std::string, std::string>> Store::versions_by_index(const std::string& index, const std::string& value) const {
  std::shared_lock lock(mu_);
  std::vector<std::pair<std::string, std::string>> out;
  for_each_indexed_locked(index, value,
                          [&](const std::string& key, const StoredObject& entry) { out.emplace_back(key, entry.resource_version); });
  return out;
}

size_t Store::size() const {
  std::shared_lock lock(mu_);
  return objects_.size();
}

// ---- Informer ----

Informer::Informer(ApiClient& client, Resource resource, InformerOptions options)
    : client_(client),
      resource_(std::move(resource)),
      options_(std::move(options)),
      name_(options_.name.empty() ? resource_.name() : options_.name),
      store_(options_.keep_objects),
      streaming_list_(options_.streaming_list) {}

Informer::~Informer() { stop(); }

nlohmann::json Informer::as_cached(nlohmann::json object) const {
  object = without_bookkeeping(std::move(object));
  if (options_.transform) options_.transform(object);
  return object;
}

void Informer::add_index(const std::string& name, IndexFunc fn) { store_.add_index(name, std::move(fn)); }
void Informer::on_add(AddHandler handler) { on_add_.push_back(std::move(handler)); }
void Informer::on_update(UpdateHandler handler) { on_update_.push_back(std::move(handler)); }
void Informer::on_delete(DeleteHandler handler) { on_delete_.push_back(std::move(handler)); }

void Informer::start() {
  if (thread_.joinable()) throw std::logic_error("informer " + name_ + " already started");
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void Informer::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (watch_) watch_->stop();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Informer::wait_for_sync(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return synced_.load(); });
}

std::string Informer::resource_version() const {
  std::lock_guard lock(mu_);
  return resource_version_;
}

InformerStats Informer::stats() const {
  InformerStats s;
  s.lists = lists_.load();
  s.relists = s.lists > 0 ? s.lists - 1 : 0;
  s.streamed_lists = streamed_lists_.load();
  s.watches = watches_.load();
  s.watch_restarts = s.watches > 0 ? s.watches - 1 : 0;
  s.errors = errors_.load();
  s.events = events_.load();
  s.bookmarks = bookmarks_.load();
  return s;
}

void Informer::set_resource_version(std::string rv) {
  if (rv.empty()) return;
  std::lock_guard lock(mu_);
  resource_version_ = std::move(rv);
}

void Informer::sleep_unless_stopped(std::chrono::milliseconds delay) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, delay, [this] { return stopping(); });
}

namespace {

template <typename Handlers, typename... Args>
void dispatch(const std::string& informer, const char* what, const Handlers& handlers, const Args&... args) {
  for (const auto& handler : handlers) {
    try {
      handler(args...);
    } catch (const std::exception& e) {
      // One failing handler must not stop the cache or the other handlers.
      spdlog::error("kube: informer {}: {} handler failed: {}", informer, what, e.what());
    }
  }
}

// A server that restarted with older data than we saw answers "Too large resource version": relist then.
bool version_too_large(const ApiError& e) {
  for (const auto& cause : e.causes()) {
    if (cause.reason == "ResourceVersionTooLarge") return true;
  }
  return e.message().find("Too large resource version") != std::string::npos;
}

}  // namespace

// Where a list's objects go. Into an empty store (the first list) each goes in as it arrives and
// is handed to the add handlers at once, as client-go's DeltaFIFO does, so they work while the rest
// of the list is still coming; the store is not synced until the list is complete. Otherwise they
// are gathered, so that replace() reports the differences once the list is complete.
class Informer::ListSink {
 public:
  explicit ListSink(Informer& informer)
      : informer_(informer), contents_(informer.store_.next_contents()), direct_(informer.store_.size() == 0) {}

  void add(nlohmann::json object) {
    object = informer_.as_cached(std::move(object));
    if (!direct_) {
      contents_.add(object);
      return;
    }
    informer_.apply(object);
  }

  // The list starts over (its continue token expired): what went in directly stays, and the whole
  // new list is compared with it.
  void restart() {
    direct_ = false;
    contents_.clear();
  }

  void finish(const std::string& resource_version) {
    if (!direct_) {
      // One object unpacked at a time: the handlers' own copies then reuse the memory of the trees
      // before them rather than growing the heap past all of them.
      Store::ReplaceDiff diff = informer_.store_.replace(std::move(contents_));
      const auto& name = informer_.name_;
      for (auto& object : diff.deleted) dispatch(name, "delete", informer_.on_delete_, *object.take());
      for (auto& [old, now] : diff.updated) dispatch(name, "update", informer_.on_update_, *old.take(), *now.take());
      for (auto& object : diff.added) dispatch(name, "add", informer_.on_add_, *object.take());
    }
    informer_.finish_list(resource_version);
  }

 private:
  Informer& informer_;
  Store::Contents contents_;
  bool direct_;
};

void Informer::list_and_replace() {
  ListOptions options;
  options.label_selector = options_.label_selector;
  options.field_selector = options_.field_selector;
  options.limit = options_.page_size;
  ListSink sink(*this);
  const std::string resource_version = client_.list_each(
      resource_, options_.namespace_, options, [&](nlohmann::json item) { sink.add(std::move(item)); }, [&] { sink.restart(); });
  sink.finish(resource_version);
}

void Informer::finish_list(const std::string& resource_version) {
  set_resource_version(resource_version);
  ++lists_;
  spdlog::debug("kube: informer {} listed {} objects at resourceVersion {}", name_, store_.size(), resource_version);
  // Synced once the handlers have seen the list too (as client-go's handler registrations report):
  // a handler that keeps its own copy (a decoded cache) is then complete when readers start.
  {
    std::lock_guard lock(mu_);
    synced_ = true;
  }
  cv_.notify_all();
  // The list's peak (a page of trees, the replaced contents, what the handlers built and dropped)
  // is over: give it back to the system.
  process::give_back_free_memory();
}

void Informer::handle(WatchEvent& event) {
  std::string rv = metadata_field(event.object, "resourceVersion");
  if (event.type == WatchEventType::Bookmark) {
    ++bookmarks_;
    set_resource_version(std::move(rv));
    return;
  }
  ++events_;
  const nlohmann::json object = as_cached(std::move(event.object));
  if (event.type == WatchEventType::Deleted) {
    store_.erase(object_key(object));
    set_resource_version(std::move(rv));
    dispatch(name_, "delete", on_delete_, object);
    return;
  }
  // ADDED and MODIFIED both mean "this is the object now".
  set_resource_version(std::move(rv));
  apply(object);
}

void Informer::apply(const nlohmann::json& object) {
  // The store tells whether the object is new to us.
  if (ObjectPtr previous = store_.upsert(object)) {
    dispatch(name_, "update", on_update_, *previous, object);
  } else {
    dispatch(name_, "add", on_add_, object);
  }
}

namespace {

bool ends_initial_events(const nlohmann::json& bookmark) {
  auto metadata = bookmark.find("metadata");
  if (metadata == bookmark.end() || !metadata->is_object()) return false;
  auto annotations = metadata->find("annotations");
  if (annotations == metadata->end() || !annotations->is_object()) return false;
  auto end = annotations->find("k8s.io/initial-events-end");
  return end != annotations->end() && *end == "true";
}

}  // namespace

bool Informer::watch_once(bool with_initial_list) {
  WatchOptions options;
  options.label_selector = options_.label_selector;
  options.field_selector = options_.field_selector;
  options.allow_bookmarks = true;
  options.omit_bookkeeping = true;
  options.timeout = jittered(options_.watch_timeout, 1.0);
  if (with_initial_list) {
    // A streaming list: the current state as ADDED events, then a bookmark marking its end; one
    // request instead of a page-by-page list and a watch (KEP-3157).
    options.send_initial_events = true;
  } else {
    options.resource_version = resource_version();
  }

  std::unique_ptr<WatchStream> stream = client_.watch(resource_, options_.namespace_, options);
  {
    std::lock_guard lock(mu_);
    if (stopping()) return false;
    watch_ = stream.get();
  }
  ++watches_;
  struct Forget {
    Informer* self;
    ~Forget() {
      std::lock_guard lock(self->mu_);
      self->watch_ = nullptr;
    }
  } forget{this};

  std::optional<ListSink> initial;
  if (with_initial_list) initial.emplace(*this);
  while (auto event = stream->next()) {
    if (!initial) {
      handle(*event);
    } else if (event->type == WatchEventType::Added) {
      initial->add(std::move(event->object));
    } else if (event->type == WatchEventType::Bookmark && ends_initial_events(event->object)) {
      initial->finish(metadata_field(event->object, "resourceVersion"));
      ++streamed_lists_;
      initial.reset();
    }
  }
  return !initial;
}

void Informer::run() {
  Backoff backoff(options_.initial_backoff, options_.max_backoff);
  bool need_list = true;
  while (!stopping()) {
    try {
      if (need_list && !streaming_list_) {
        list_and_replace();
        need_list = false;
        backoff.reset();
      }
      auto started = std::chrono::steady_clock::now();
      auto events_before = events_.load() + bookmarks_.load();
      if (need_list) {
        try {
          need_list = !watch_once(/*with_initial_list=*/true);
        } catch (const ApiError& e) {
          // A server without streaming lists refuses the parameters: list page by page from now on.
          if (e.code() != 400 && e.code() != 422) throw;
          spdlog::info("kube: informer {}: streaming list refused ({}); listing page by page", name_, e.what());
          streaming_list_ = false;
          continue;
        }
        if (!need_list) backoff.reset();
      } else {
        watch_once(/*with_initial_list=*/false);
      }
      // A watch that ends at once without events (a server shutting down)
      // must not turn into a tight reconnect loop.
      bool productive = events_.load() + bookmarks_.load() > events_before ||
                        std::chrono::steady_clock::now() - started > std::chrono::seconds(1);
      if (productive) {
        backoff.reset();
      } else if (!stopping()) {
        sleep_unless_stopped(backoff.next());
      }
    } catch (const ApiError& e) {
      if (stopping()) break;
      if (e.is(ErrorReason::Gone) || version_too_large(e)) {
        // Our resourceVersion is no longer served: list again (right away) and watch from the new version.
        spdlog::info("kube: informer {}: {}; relisting", name_, e.what());
        need_list = true;
        continue;
      }
      ++errors_;
      auto delay = backoff.next();
      // The server answered with an error: watching again from the same version may fail the same
      // way for ever (e.g. a 500 over an etcd event the API server cannot decode), so list again,
      // as client-go's reflector does. A transport error (server down) keeps the version.
      if (e.code() != 0) need_list = true;
      spdlog::warn("kube: informer {}: {}; {} in {} ms", name_, e.what(), need_list ? "relisting" : "retrying",
                   delay.count());
      sleep_unless_stopped(delay);
    } catch (const std::exception& e) {
      if (stopping()) break;
      ++errors_;
      auto delay = backoff.next();
      spdlog::warn("kube: informer {}: {}; retrying in {} ms", name_, e.what(), delay.count());
      sleep_unless_stopped(delay);
    }
  }
}

}  // namespace plano::kube
