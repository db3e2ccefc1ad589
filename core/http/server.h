// An HTTP/1.1 server (plain or TLS) with timeouts and limits fit for a Kubernetes API server's
// write path: the admission webhook and the operator's /metrics, /healthz, /readyz.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/http/handler.h"
#include "core/http/tls.h"

namespace plano::http {

struct ServerOptions {
  std::string address = "0.0.0.0";
  std::uint16_t port = 0;  // 0 picks a free port: see Server::port()
  int threads = 2;         // workers running the one io_context; handlers run on them

  // A new connection at the cap evicts the longest-idle one (still in its TLS handshake, waiting
  // between requests, or for its first), so clients that stall cannot lock out a real one; with
  // none idle (all mid-request) the new connection is closed at once. The cap is soft: a
  // connection whose request starts just as it is evicted is served.
  std::size_t maxConnections = 512;

  // The API server bounds an AdmissionReview by its object limit (1.5 MiB) plus overhead.
  // A request declaring more gets 413 before its body is read; a chunked one when it crosses.
  std::size_t maxBodyBytes = 3u << 20;
  std::size_t maxHeaderBytes = 16u << 10;  // request line and fields; more gets 431

  std::chrono::milliseconds handshakeTimeout{std::chrono::seconds(5)};
  // From a request's first byte to its last, as a whole: a client that dribbles bytes is cut off.
  std::chrono::milliseconds readTimeout{std::chrono::seconds(10)};
  // Waiting for the first byte of a request, including the first on a new connection.
  std::chrono::milliseconds idleTimeout{std::chrono::seconds(60)};
  std::chrono::milliseconds writeTimeout{std::chrono::seconds(10)};

  std::string name = "http";  // in log lines
};

// Counters since start; openConnections and idleConnections are gauges.
struct ServerStats {
  std::size_t openConnections = 0;
  std::size_t idleConnections = 0;  // open and waiting for a request: the ones eviction can take
  std::uint64_t acceptedConnections = 0;
  std::uint64_t rejectedConnections = 0;  // closed on accept: at the cap with none idle, or no certificate
  std::uint64_t evictedConnections = 0;   // idle ones closed to admit a new one at the cap
  std::uint64_t requests = 0;             // responses sent, error responses included
  std::uint64_t timeouts = 0;             // handshakes, requests or idle waits that ran out of time
};

class Server {
 public:
  virtual ~Server() = default;  // stops with no drain time if stop() was not called

  // The bound port (the chosen one when ServerOptions::port was 0).
  virtual std::uint16_t port() const = 0;

  // Graceful shutdown, once (later calls return at once): stops accepting, closes idle
  // connections, lets requests in progress finish and closes their connections after the
  // response, then after `drain` closes whatever is left and joins the workers. Blocks until done;
  // a handler still running holds its worker until it returns. Not from a handler.
  virtual void stop(std::chrono::milliseconds drain) = 0;

  virtual ServerStats stats() const = 0;
};

// Binds, listens and starts the workers. `tls` null serves plain HTTP. Throws std::runtime_error
// (boost::system::system_error) when the address cannot be bound.
std::unique_ptr<Server> start_server(const ServerOptions& options, std::shared_ptr<Handler> handler,
                                     std::shared_ptr<TlsContextSource> tls = nullptr);

}  // namespace plano::http
