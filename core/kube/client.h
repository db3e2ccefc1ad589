// The Kubernetes API operations plano-operator needs. ApiClient is the
// interface the operator and webhook code depends on (fake it in unit tests);
// Client implements it over HTTPS with cpprestsdk.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/kube/config.h"
#include "core/kube/errors.h"
#include "core/kube/resource.h"
#include "core/kube/watch.h"

namespace plano::kube {

using nlohmann::json;

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  std::int64_t limit = 500;        // page size; 0 asks for everything in one response
  std::string resource_version;    // empty: the most recent state (a consistent read)
  std::string continue_token;      // list_page only: the previous page's continue token
};

struct ListResult {
  std::vector<json> items;
  std::string resource_version;  // of the list as a whole: watch from here
  std::string continue_token;    // list_page only: non-empty when more pages remain
};

struct WriteOptions {
  std::string field_manager;  // recorded in managedFields; empty lets the server derive one
  bool dry_run = false;
};

struct ApplyOptions {
  std::string field_manager;  // required by the server for apply
  bool force = false;         // take ownership of fields other managers set
  bool dry_run = false;
};

enum class PatchType {
  Merge,           // RFC 7386 application/merge-patch+json
  Json,            // RFC 6902 application/json-patch+json (an array of operations)
  StrategicMerge,  // application/strategic-merge-patch+json (built-in types only)
};

enum class PropagationPolicy { Background, Foreground, Orphan };

struct DeleteOptions {
  // Preconditions: the delete fails with Conflict unless the object still has these.
  std::optional<std::string> uid;
  std::optional<std::string> resource_version;
  std::optional<PropagationPolicy> propagation;
  std::optional<std::int64_t> grace_period_seconds;
  bool dry_run = false;
};

class ApiClient {
 public:
  virtual ~ApiClient() = default;

  // Every operation throws ApiError on failure. ns is ignored for
  // cluster-scoped resources. Returned objects are the server's JSON.

  virtual json get(const Resource& resource, const std::string& ns, const std::string& name) = 0;

  // One page of a list; pass the previous page's continue_token for the next.
  virtual ListResult list_page(const Resource& resource, const std::string& ns, const ListOptions& options) = 0;

  // All pages. An empty ns lists a namespaced resource across all namespaces.
  // If a continue token expires mid-way (410), lists again in one request.
  virtual ListResult list(const Resource& resource, const std::string& ns, const ListOptions& options = {});

  // All pages, each item handed to `item` as its page arrives (a caller that keeps a compact form
  // never holds more than a page of trees); returns the list's resourceVersion. If the listing has
  // to start over (see list), `restart` runs first and the items come again.
  std::string list_each(const Resource& resource, const std::string& ns, const ListOptions& options,
                        const std::function<void(json)>& item, const std::function<void()>& restart);

  virtual json create(const Resource& resource, const std::string& ns, const json& object,
                      const WriteOptions& options = {}) = 0;

  // PUT of the whole object (namespace and name from its metadata); with
  // metadata.resourceVersion set this is optimistic concurrency (Conflict if stale).
  virtual json update(const Resource& resource, const json& object, const WriteOptions& options = {},
                      const std::string& subresource = {}) = 0;

  // Server-side apply of the fields in `object` (namespace and name from its
  // metadata; apiVersion/kind are filled from the resource when missing).
  virtual json apply(const Resource& resource, const json& object, const ApplyOptions& options,
                     const std::string& subresource = {}) = 0;

  virtual json patch(const Resource& resource, const std::string& ns, const std::string& name, PatchType type,
                     const json& patch, const WriteOptions& options = {}, const std::string& subresource = {}) = 0;

  // Returns what the server answers: the object (still terminating, with
  // finalizers or a grace period) or a Status.
  virtual json remove(const Resource& resource, const std::string& ns, const std::string& name,
                      const DeleteOptions& options = {}) = 0;

  // POST to a subresource, e.g. serviceaccounts/<name>/token (TokenRequest).
  virtual json create_subresource(const Resource& resource, const std::string& ns, const std::string& name,
                                  const std::string& subresource, const json& body,
                                  const WriteOptions& options = {}) = 0;

  // Opens a watch. The returned stream may connect lazily: HTTP errors then
  // surface from its first next().
  virtual std::unique_ptr<WatchStream> watch(const Resource& resource, const std::string& ns,
                                             const WatchOptions& options) = 0;

  // The status subresource.
  json apply_status(const Resource& resource, const json& object, const ApplyOptions& options) {
    return apply(resource, object, options, "status");
  }
  json update_status(const Resource& resource, const json& object, const WriteOptions& options = {}) {
    return update(resource, object, options, "status");
  }
  json patch_status(const Resource& resource, const std::string& ns, const std::string& name, PatchType type,
                    const json& patch, const WriteOptions& options = {}) {
    return this->patch(resource, ns, name, type, patch, options, "status");
  }
};

// Call once at the start of a long-running process, before any Client connects (it sets the
// process environment and sizes cpprestsdk's thread pool, which cannot change later):
// - cpprestsdk's pool defaults to 40 threads; watches and requests are asynchronous, so a few do.
// - cpprestsdk loads OpenSSL's default trust file (~0.8 MB of parsed roots) into every new
//   connection before our callback replaces the store with the configured CA. With a CA
//   configured that load is wasted, so OpenSSL is pointed at an empty file instead.
void prepare_process_for_clients(const ClientConfig& config, std::size_t io_threads = 4);

// The HTTPS implementation. Thread-safe: one Client serves all threads.
//
// Retries (bounded, jittered exponential backoff): 429 and failures before the
// request was fully sent (refused, broken pooled connection) for every request,
// honouring Retry-After; 5xx, timeouts and lost responses only for requests
// that are safe to repeat (get, list, apply). A 401 with a token file
// re-reads the file and, if the token changed, tries once more.
class Client final : public ApiClient {
 public:
  // Throws ConfigError if the TLS material in the config cannot be loaded.
  explicit Client(ClientConfig config);
  ~Client() override;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const ClientConfig& config() const;

  json get(const Resource& resource, const std::string& ns, const std::string& name) override;
  ListResult list_page(const Resource& resource, const std::string& ns, const ListOptions& options) override;
  json create(const Resource& resource, const std::string& ns, const json& object,
              const WriteOptions& options = {}) override;
  json update(const Resource& resource, const json& object, const WriteOptions& options = {},
              const std::string& subresource = {}) override;
  json apply(const Resource& resource, const json& object, const ApplyOptions& options,
             const std::string& subresource = {}) override;
  json patch(const Resource& resource, const std::string& ns, const std::string& name, PatchType type,
             const json& patch, const WriteOptions& options = {}, const std::string& subresource = {}) override;
  json remove(const Resource& resource, const std::string& ns, const std::string& name,
              const DeleteOptions& options = {}) override;
  json create_subresource(const Resource& resource, const std::string& ns, const std::string& name,
                          const std::string& subresource, const json& body, const WriteOptions& options = {}) override;
  std::unique_ptr<WatchStream> watch(const Resource& resource, const std::string& ns,
                                     const WatchOptions& options) override;

  // A GET of any path (e.g. "/version", "/readyz"), returning the body parsed as JSON when it is JSON.
  json get_path(const std::string& path_and_query);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace plano::kube
