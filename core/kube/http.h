// Internal to plano_kube: the cpprestsdk plumbing shared by Client and the
// HTTP watch. Not for use outside core/kube.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <cpprest/http_client.h>

#include "core/kube/config.h"
#include "core/kube/errors.h"
#include "core/kube/watch.h"

namespace plano::kube::detail {

// Loads the CA, client certificate and key of a config into a TLS context
// (TLS 1.2 minimum). Throws ConfigError when the PEM data is unusable.
using TlsSetup = std::function<void(boost::asio::ssl::context&)>;
TlsSetup make_tls_setup(const ClientConfig& config);

// cpprestsdk settings for one http_client. `timeout` is cpprestsdk's
// inactivity timeout: it restarts whenever bytes arrive.
web::http::client::http_client_config make_http_config(const ClientConfig& config, const TlsSetup& tls,
                                                        std::chrono::seconds timeout);

// A request with our Accept, User-Agent and Authorization headers (the
// token passed, or without one the config's current token).
web::http::http_request make_request(const ClientConfig& config, const web::http::method& method,
                                     const std::string& path_and_query, const std::string& token);
web::http::http_request make_request(const ClientConfig& config, const web::http::method& method,
                                     const std::string& path_and_query);

// An ApiError for a request that got no HTTP response (refused, reset, TLS failure, client timeout).
ApiError transport_error(const std::exception& e, const std::string& server, const std::string& request);

// True when a transport error happened before the request was fully written,
// so the server cannot have acted on it.
bool request_not_sent(const std::exception& e);

// Retry-After in seconds, when the header holds a number.
std::optional<std::chrono::seconds> retry_after(const std::string& header);
std::optional<std::chrono::seconds> retry_after(const web::http::http_response& response);

// A watch request, sent by the returned stream's first open() or next().
std::unique_ptr<WatchStream> open_watch(const ClientConfig& config, const TlsSetup& tls, std::string path_and_query,
                                        std::string description, std::chrono::seconds inactivity_timeout,
                                        bool omit_bookkeeping);

}  // namespace plano::kube::detail
