// Internal to plano_kube: what Client (cpprestsdk) and the HTTP watch (Beast) share. Not for use
// outside core/kube.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "core/kube/config.h"
#include "core/kube/errors.h"
#include "core/kube/watch.h"

namespace plano::kube::detail {

// Loads the CA, client certificate and key of a config into a TLS context
// (TLS 1.2 minimum). Throws ConfigError when the PEM data is unusable.
using TlsSetup = std::function<void(boost::asio::ssl::context&)>;
TlsSetup make_tls_setup(const ClientConfig& config);

// The headers every request carries: Accept, User-Agent, and Authorization when `token` is not empty.
std::vector<std::pair<std::string, std::string>> request_headers(const ClientConfig& config, const std::string& token);

// Retry-After in seconds, when the header holds a number.
std::optional<std::chrono::seconds> retry_after(const std::string& header);

// A watch request, sent by the returned stream's first open() or next().
std::unique_ptr<WatchStream> open_watch(const ClientConfig& config, const TlsSetup& tls, std::string path_and_query,
                                        std::string description, std::chrono::seconds inactivity_timeout,
                                        bool omit_bookkeeping);

}  // namespace plano::kube::detail
