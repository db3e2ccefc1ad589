#include "core/kube/client.h"

#include <openssl/ssl.h>
#include <pplx/threadpool.h>
#include <stdlib.h>
#include <spdlog/spdlog.h>
// After spdlog: cpprestsdk defines a U() macro that fmt's headers trip over.
#include <cpprest/http_client.h>

#include <algorithm>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "core/kube/backoff.h"
#include "core/kube/http.h"

namespace plano::kube {

namespace detail {

namespace {

struct TlsMaterial {
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
};

// Throws boost::system::system_error naming the part that failed.
void load_tls(boost::asio::ssl::context& ctx, const TlsMaterial& tls) {
  SSL_CTX* native = ctx.native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
    throw std::runtime_error("cannot set the minimum TLS version to 1.2");
  }
  if (!tls.ca_pem.empty()) {
    // cpprestsdk loaded the system roots before calling us; a configured CA
    // must be the only trust anchor, as in client-go.
    SSL_CTX_set_cert_store(native, X509_STORE_new());
    ctx.add_certificate_authority(boost::asio::buffer(tls.ca_pem));
  }
  if (!tls.cert_pem.empty()) {
    ctx.use_certificate_chain(boost::asio::buffer(tls.cert_pem));
    ctx.use_private_key(boost::asio::buffer(tls.key_pem), boost::asio::ssl::context::pem);
  }
}

}  // namespace

TlsSetup make_tls_setup(const ClientConfig& config) {
  auto tls = std::make_shared<const TlsMaterial>(TlsMaterial{config.ca_pem, config.client_cert_pem,
                                                             config.client_key_pem});
  // Fail at construction with a clear message rather than on every connection.
  try {
    boost::asio::ssl::context probe(boost::asio::ssl::context::tls_client);
    load_tls(probe, *tls);
  } catch (const std::exception& e) {
    throw ConfigError(config.origin + ": cannot load the TLS material (certificate authority, client certificate "
                      "or key): " + e.what() + "; check that they are PEM and that the key matches the certificate");
  }
  return [tls](boost::asio::ssl::context& ctx) {
    try {
      load_tls(ctx, *tls);
    } catch (const std::exception& e) {
      // Validated above, so this is not expected; the handshake will then fail visibly.
      spdlog::error("kube: loading TLS material into a new connection failed: {}", e.what());
    }
  };
}

std::vector<std::pair<std::string, std::string>> request_headers(const ClientConfig& config, const std::string& token) {
  std::vector<std::pair<std::string, std::string>> headers{{"Accept", "application/json"},
                                                           {"User-Agent", config.user_agent}};
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  return headers;
}

std::optional<std::chrono::seconds> retry_after(const std::string& header) {
  if (header.empty()) return std::nullopt;
  try {
    return std::chrono::seconds(std::stoll(header));
  } catch (const std::exception&) {
    return std::nullopt;  // an HTTP date: rare from the API server, fall back to our backoff
  }
}

namespace {

// The cpprestsdk plumbing of Client's requests (watches are read with Beast: watch.cpp).

// `timeout` is cpprestsdk's inactivity timeout: it restarts whenever bytes arrive.
web::http::client::http_client_config make_http_config(const ClientConfig& config, const TlsSetup& tls,
                                                        std::chrono::seconds timeout) {
  web::http::client::http_client_config http;
  http.set_timeout(timeout);
  http.set_validate_certificates(!config.insecure_skip_tls_verify);
  http.set_ssl_context_callback(tls);
  // The API server does not redirect. cpprestsdk's redirect follower would send the bearer token to
  // whatever host a redirect names, and it copies the request's headers while an I/O thread may
  // still be writing them (a data race ThreadSanitizer reports on every request).
  http.set_max_redirects(0);
  return http;
}

web::http::http_request make_request(const ClientConfig& config, const web::http::method& method,
                                     const std::string& path_and_query, const std::string& token) {
  web::http::http_request request(method);
  request.set_request_uri(web::uri(path_and_query));
  for (const auto& [name, value] : request_headers(config, token)) request.headers().add(name, value);
  return request;
}

// An ApiError for a request that got no HTTP response (refused, reset, TLS failure, client timeout).
ApiError transport_error(const std::exception& e, const std::string& server, const std::string& request) {
  ErrorReason reason = ErrorReason::Unreachable;
  if (const auto* http = dynamic_cast<const web::http::http_exception*>(&e)) {
    if (http->error_code() == std::make_error_code(std::errc::timed_out)) reason = ErrorReason::Timeout;
  }
  return ApiError(0, reason, {}, std::string(e.what()) + " (server " + server + ")", request);
}

bool request_not_sent(const std::exception& e) {
  // cpprestsdk reports the phase a transport error happened in only through
  // its message. Before the request was fully written the server cannot have
  // acted on it, so any method may be retried; typically a pooled keep-alive
  // connection that died with a restarted API server.
  static const char* const unsent[] = {"Failed to connect", "Error resolving address", "Failed to resolve address",
                                       "Error in SSL handshake", "Failed to write request"};
  std::string_view message = e.what();
  for (const char* prefix : unsent) {
    if (message.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

std::optional<std::chrono::seconds> retry_after_of(const web::http::http_response& response) {
  auto it = response.headers().find("Retry-After");
  return it == response.headers().end() ? std::nullopt : retry_after(it->second);
}

}  // namespace

}  // namespace detail

void prepare_process_for_clients(const ClientConfig& config, std::size_t io_threads) {
  crossplat::threadpool::initialize_with_threads(io_threads);
  if (!config.ca_pem.empty()) setenv("SSL_CERT_FILE", "/dev/null", 1);
}

// ---- ApiClient ----

std::string ApiClient::list_each(const Resource& resource, const std::string& ns, const ListOptions& options,
                                 const std::function<void(json)>& item, const std::function<void()>& restart) {
  ListOptions page = options;
  page.continue_token.clear();
  std::string resource_version;
  for (bool first = true;; first = false) {
    ListResult part;
    try {
      part = list_page(resource, ns, page);
    } catch (const ApiError& e) {
      // The continue token outlived etcd's compaction window: start over in one request (client-go does the same).
      if (!e.is(ErrorReason::Gone) || page.continue_token.empty()) throw;
      spdlog::debug("kube: list {} continue token expired, listing without pagination", resource.name());
      page.continue_token.clear();
      page.limit = 0;
      part = list_page(resource, ns, page);
      restart();
      for (auto& object : part.items) item(std::move(object));
      return part.resource_version;
    }
    if (first) resource_version = part.resource_version;
    for (auto& object : part.items) item(std::move(object));
    if (part.continue_token.empty()) return resource_version;
    page.continue_token = part.continue_token;
  }
}

ListResult ApiClient::list(const Resource& resource, const std::string& ns, const ListOptions& options) {
  ListResult all;
  all.resource_version = list_each(
      resource, ns, options, [&](json object) { all.items.push_back(std::move(object)); }, [&] { all.items.clear(); });
  return all;
}

// ---- Client ----

namespace {

class Query {
 public:
  Query& add(const char* key, const std::string& value) {
    if (value.empty()) return *this;
    text_ += text_.empty() ? '?' : '&';
    text_ += key;
    text_ += '=';
    text_ += url_encode(value);
    return *this;
  }
  const std::string& str() const { return text_; }

 private:
  std::string text_;
};

const char* to_string(PropagationPolicy policy) {
  switch (policy) {
    case PropagationPolicy::Background: return "Background";
    case PropagationPolicy::Foreground: return "Foreground";
    case PropagationPolicy::Orphan: return "Orphan";
  }
  return "Background";
}

std::string metadata_string(const json& object, const char* key) {
  if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object()) return {};
  const auto& metadata = object["metadata"];
  auto it = metadata.find(key);
  return it != metadata.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Namespace and name of an object sent by update/apply; both are required where the resource needs them.
std::pair<std::string, std::string> object_key(const Resource& resource, const json& object, const char* operation) {
  std::string name = metadata_string(object, "name");
  std::string ns = metadata_string(object, "namespace");
  if (name.empty()) {
    throw std::invalid_argument(std::string(operation) + " " + resource.name() + ": the object has no metadata.name");
  }
  if (resource.namespaced && ns.empty()) {
    throw std::invalid_argument(std::string(operation) + " " + resource.name() + " " + name +
                                ": the object has no metadata.namespace");
  }
  return {ns, name};
}

void fill_type(const Resource& resource, json& object) {
  if (!object.contains("apiVersion")) object["apiVersion"] = resource.api_version();
  if (!object.contains("kind") && !resource.kind.empty()) object["kind"] = resource.kind;
}

const char* content_type(PatchType type) {
  switch (type) {
    case PatchType::Merge: return "application/merge-patch+json";
    case PatchType::Json: return "application/json-patch+json";
    case PatchType::StrategicMerge: return "application/strategic-merge-patch+json";
  }
  return "application/merge-patch+json";
}

}  // namespace

struct Client::Impl {
  ClientConfig config;
  detail::TlsSetup tls;
  std::unique_ptr<web::http::client::http_client> http;

  explicit Impl(ClientConfig c) : config(std::move(c)) {
    if (config.server.empty()) throw ConfigError(config.origin + ": no API server URL");
    tls = detail::make_tls_setup(config);
    try {
      http = std::make_unique<web::http::client::http_client>(
          web::uri(config.server), detail::make_http_config(config, tls, config.request_timeout));
    } catch (const std::exception& e) {
      throw ConfigError(config.origin + ": server URL \"" + config.server + "\" is not usable: " + e.what());
    }
  }

  // Sends one request with retries; returns the body of a 2xx response or throws ApiError.
  // `idempotent` allows retrying after 5xx, timeouts and connection failures.
  std::string send(const web::http::method& method, const std::string& path_and_query, const json* body,
                   const char* body_type, bool idempotent) {
    const std::string description = method + " " + path_and_query.substr(0, path_and_query.find('?'));
    const std::string payload = body ? body->dump() : std::string();
    Backoff backoff(config.retry.initial_backoff, config.retry.max_backoff);
    bool reread_token = false;
    for (int attempt = 1;; ++attempt) {
      const bool last = attempt >= std::max(1, config.retry.max_attempts);
      const std::string token = config.token ? config.token->token() : std::string();
      auto request = detail::make_request(config, method, path_and_query, token);
      if (body) {
        // The byte-vector overload: the std::string one reinterprets a char buffer as
        // a byte buffer inside cpprestsdk, which UBSan rightly flags.
        request.headers().set_content_type(body_type);
        request.set_body(std::vector<unsigned char>(payload.begin(), payload.end()));
      }

      web::http::http_response response;
      std::string text;
      try {
        response = http->request(request).get();
        text = response.extract_utf8string(/*ignore_content_type=*/true).get();
      } catch (const std::exception& e) {
        ApiError error = detail::transport_error(e, config.server, description);
        if (!(idempotent || detail::request_not_sent(e)) || last) throw error;
        auto delay = backoff.next();
        spdlog::debug("kube: {} (attempt {}), retrying in {} ms", error.what(), attempt, delay.count());
        std::this_thread::sleep_for(delay);
        continue;
      }

      const int code = response.status_code();
      if (code >= 200 && code < 300) return text;
      ApiError error = api_error_from_response(code, text, description, detail::retry_after_of(response));

      if (code == 401 && config.token && config.token->is_file() && !reread_token) {
        // The token file may have been rotated since we read it.
        reread_token = true;
        config.token->invalidate();
        if (config.token->token() != token) {
          --attempt;
          continue;
        }
        throw error;
      }
      const bool retryable =
          code == 429 || (idempotent && (error.is(ErrorReason::ServerError) || error.is(ErrorReason::Timeout)));
      if (!retryable || last) throw error;
      auto delay = backoff.next();
      if (auto after = error.retry_after()) {
        delay = std::chrono::duration_cast<std::chrono::milliseconds>(std::min(*after, config.retry.max_retry_after));
      }
      spdlog::debug("kube: {} (attempt {}), retrying in {} ms", error.what(), attempt, delay.count());
      std::this_thread::sleep_for(delay);
    }
  }

  json send_json(const web::http::method& method, const std::string& path_and_query, const json* body,
                 const char* body_type, bool idempotent) {
    std::string text = send(method, path_and_query, body, body_type, idempotent);
    if (text.empty()) return json();
    auto parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) {
      throw ApiError(200, ErrorReason::Other, {}, "the response is not JSON: " + text.substr(0, 200),
                     method + " " + path_and_query.substr(0, path_and_query.find('?')));
    }
    return parsed;
  }
};

Client::Client(ClientConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

Client::~Client() = default;

const ClientConfig& Client::config() const { return impl_->config; }

json Client::get(const Resource& resource, const std::string& ns, const std::string& name) {
  return impl_->send_json(web::http::methods::GET, resource.path(ns, name), nullptr, nullptr, true);
}

ListResult Client::list_page(const Resource& resource, const std::string& ns, const ListOptions& options) {
  Query query;
  if (options.limit > 0) query.add("limit", std::to_string(options.limit));
  query.add("continue", options.continue_token)
      .add("labelSelector", options.label_selector)
      .add("fieldSelector", options.field_selector)
      .add("resourceVersion", options.resource_version);
  json list = impl_->send_json(web::http::methods::GET, resource.path(ns) + query.str(), nullptr, nullptr, true);

  ListResult result;
  if (list.contains("metadata") && list["metadata"].is_object()) {
    const auto& metadata = list["metadata"];
    result.resource_version = metadata.value("resourceVersion", "");
    result.continue_token = metadata.value("continue", "");
  }
  if (list.contains("items") && list["items"].is_array()) {
    result.items.reserve(list["items"].size());
    for (auto& item : list["items"]) {
      // Items of built-in lists come without apiVersion/kind; watch events carry them, so add them for uniformity.
      fill_type(resource, item);
      result.items.push_back(std::move(item));
    }
  }
  return result;
}

json Client::create(const Resource& resource, const std::string& ns, const json& object, const WriteOptions& options) {
  json body = object;
  fill_type(resource, body);
  Query query;
  query.add("fieldManager", options.field_manager).add("dryRun", options.dry_run ? "All" : "");
  return impl_->send_json(web::http::methods::POST, resource.path(ns) + query.str(), &body, "application/json",
                          false);
}

json Client::update(const Resource& resource, const json& object, const WriteOptions& options,
                    const std::string& subresource) {
  auto [ns, name] = object_key(resource, object, "update");
  json body = object;
  fill_type(resource, body);
  Query query;
  query.add("fieldManager", options.field_manager).add("dryRun", options.dry_run ? "All" : "");
  return impl_->send_json(web::http::methods::PUT, resource.path(ns, name, subresource) + query.str(), &body,
                          "application/json", false);
}

json Client::apply(const Resource& resource, const json& object, const ApplyOptions& options,
                   const std::string& subresource) {
  if (options.field_manager.empty()) {
    throw std::invalid_argument("apply " + resource.name() + ": server-side apply needs a field manager");
  }
  auto [ns, name] = object_key(resource, object, "apply");
  json body = object;
  fill_type(resource, body);
  Query query;
  query.add("fieldManager", options.field_manager)
      .add("force", options.force ? "true" : "")
      .add("dryRun", options.dry_run ? "All" : "");
  // JSON is YAML, so the apply content type takes our JSON body. Apply is idempotent, hence retryable.
  return impl_->send_json(web::http::methods::PATCH, resource.path(ns, name, subresource) + query.str(), &body,
                          "application/apply-patch+yaml", true);
}

json Client::patch(const Resource& resource, const std::string& ns, const std::string& name, PatchType type,
                   const json& patch, const WriteOptions& options, const std::string& subresource) {
  Query query;
  query.add("fieldManager", options.field_manager).add("dryRun", options.dry_run ? "All" : "");
  return impl_->send_json(web::http::methods::PATCH, resource.path(ns, name, subresource) + query.str(), &patch,
                          content_type(type), false);
}

json Client::remove(const Resource& resource, const std::string& ns, const std::string& name,
                    const DeleteOptions& options) {
  json body = {{"apiVersion", "v1"}, {"kind", "DeleteOptions"}};
  if (options.uid) body["preconditions"]["uid"] = *options.uid;
  if (options.resource_version) body["preconditions"]["resourceVersion"] = *options.resource_version;
  if (options.propagation) body["propagationPolicy"] = to_string(*options.propagation);
  if (options.grace_period_seconds) body["gracePeriodSeconds"] = *options.grace_period_seconds;
  if (options.dry_run) body["dryRun"] = json::array({"All"});
  return impl_->send_json(web::http::methods::DEL, resource.path(ns, name), &body, "application/json", false);
}

json Client::create_subresource(const Resource& resource, const std::string& ns, const std::string& name,
                                const std::string& subresource, const json& body, const WriteOptions& options) {
  Query query;
  query.add("fieldManager", options.field_manager).add("dryRun", options.dry_run ? "All" : "");
  return impl_->send_json(web::http::methods::POST, resource.path(ns, name, subresource) + query.str(), &body,
                          "application/json", false);
}

std::unique_ptr<WatchStream> Client::watch(const Resource& resource, const std::string& ns,
                                           const WatchOptions& options) {
  Query query;
  query.add("watch", "true")
      .add("resourceVersion", options.resource_version)
      .add("allowWatchBookmarks", options.allow_bookmarks ? "true" : "")
      .add("sendInitialEvents", options.send_initial_events ? "true" : "")
      .add("resourceVersionMatch", options.send_initial_events ? "NotOlderThan" : "")
      .add("timeoutSeconds", options.timeout.count() > 0 ? std::to_string(options.timeout.count()) : "")
      .add("labelSelector", options.label_selector)
      .add("fieldSelector", options.field_selector);
  // cpprestsdk's timeout restarts with every byte received; keep it well past
  // the server's own timeout so only a dead connection trips it.
  auto inactivity = std::max(options.timeout, std::chrono::seconds(0)) + std::chrono::seconds(60);
  return detail::open_watch(impl_->config, impl_->tls, resource.path(ns) + query.str(),
                            "WATCH " + resource.path(ns), inactivity, options.omit_bookkeeping);
}

json Client::get_path(const std::string& path_and_query) {
  std::string text = impl_->send(web::http::methods::GET, path_and_query, nullptr, nullptr, true);
  auto parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? json(text) : parsed;
}

}  // namespace plano::kube
