// A watch: the stream of changes to a collection after a resourceVersion.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace plano::kube {

enum class WatchEventType { Added, Modified, Deleted, Bookmark };

const char* to_string(WatchEventType type);

struct WatchEvent {
  WatchEventType type;
  // The object after the change (for Deleted: its last state; for Bookmark:
  // only apiVersion, kind and metadata.resourceVersion).
  nlohmann::json object;
};

struct WatchOptions {
  // Start after this version; empty means "now" (the server sends synthetic
  // ADDED events for existing objects first, so informers always pass one).
  std::string resource_version;
  std::string label_selector;
  std::string field_selector;
  bool allow_bookmarks = true;
  // Stream the current state first, ended by a bookmark annotated k8s.io/initial-events-end
  // (sends sendInitialEvents=true and resourceVersionMatch=NotOlderThan).
  bool send_initial_events = false;
  // Leave metadata.managedFields and kubectl's last-applied-configuration annotation out of the
  // objects (an empty annotations map stays): skipped while parsing, for callers that never read them.
  bool omit_bookkeeping = false;
  // Server-side timeoutSeconds: the server ends the watch cleanly after this long.
  std::chrono::seconds timeout{300};
};

// One open watch. next() is called from one thread; stop() from any.
class WatchStream {
 public:
  virtual ~WatchStream() = default;

  // Blocks until the next event arrives and returns it; returns nullopt when
  // the stream has ended (the server's timeout, a closed connection) or after
  // stop(). An ERROR event, or an HTTP error when opening the watch, is
  // thrown as ApiError; code 410 (the resourceVersion was compacted away) is
  // ErrorReason::Gone, which means: list again and watch from the list's version.
  virtual std::optional<WatchEvent> next() = 0;

  // Waits until the server has accepted the watch, so that every change made
  // afterwards will be delivered; throws like next(). next() opens implicitly,
  // so calling this is only needed to order other actions after the start.
  virtual void open() {}

  // Ends the watch: a blocked next() returns nullopt promptly.
  virtual void stop() = 0;
};

}  // namespace plano::kube
