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

  // A new connection at the cap evicts the one whose current wait began longest ago: in its TLS
  // handshake, idle between requests (or before its first), or still receiving a request (header or
  // body). A well-behaved client gets through each of these in milliseconds, so the oldest wait is
  // the idlest or the slowest client: stalled or trickling clients cannot lock out a real one. Only
  // connections holding a complete request (being handled or answered) are never evicted; with all
  // of them busy the new connection is closed at once. The cap is soft: a connection whose request
  // completes just as it is evicted is served.
  std::size_t maxConnections = 512;

  // The API server bounds an AdmissionReview by its object limit (1.5 MiB) plus overhead.
  // A request declaring more gets 413 before its body is read; a chunked one when it crosses.
  std::size_t maxBodyBytes = 3u << 20;
  std::size_t maxHeaderBytes = 16u << 10;  // request line and fields; more gets 431

  // Bodies held at once, beyond the first kSmallBodyBytes of each (which the connection cap bounds:
  // 512 x 64 KiB). A larger body takes its declared length from this budget before it is read (a
  // chunked one, once it grows past the small size, the largest allowed body); over budget the
  // request waits up to bodyBudgetWait for bytes to come back, then gets 503 with Retry-After. 32
  // MiB is ten bodies of the largest size at once (AdmissionReviews are a few KiB; a large one is
  // read and judged in milliseconds), and with the small bodies bounds body memory to 64 MiB, a
  // quarter of the chart's 256Mi limit.
  std::size_t bodyBudgetBytes = 32u << 20;
  static constexpr std::size_t kSmallBodyBytes = 64u << 10;
  // A tenth of the API server's default webhook timeout: long enough for a legitimate large review
  // to be judged and hand its bytes back, short enough to leave the API server time to answer.
  std::chrono::milliseconds bodyBudgetWait{std::chrono::seconds(1)};

  std::chrono::milliseconds handshakeTimeout{std::chrono::seconds(5)};
  // From a request's first byte to its last, as a whole, however its bytes trickle in: the API
  // server's default webhook timeout, after which it has given up on the answer anyway.
  std::chrono::milliseconds requestTimeout{std::chrono::seconds(10)};
  // While a request is incomplete, every kRateWindow must bring at least this many bytes per second
  // (counted on the wire, TLS records included), or it is cut. A client sends a request at once, so
  // only a stalled or trickling one falls below 1 KiB/s; this frees its slot and its body budget
  // within seconds instead of at the request timeout. 0 turns the check off.
  std::size_t minRequestBytesPerSecond = 1024;
  static constexpr std::chrono::seconds kRateWindow{2};
  // Waiting for the first byte of a request, including the first on a new connection.
  std::chrono::milliseconds idleTimeout{std::chrono::seconds(60)};
  std::chrono::milliseconds writeTimeout{std::chrono::seconds(10)};

  std::string name = "http";  // in log lines
};

// Counters since start; the connection counts and bodyBudgetInUse are gauges.
struct ServerStats {
  std::size_t openConnections = 0;
  std::size_t idleConnections = 0;       // in a TLS handshake or waiting for a request
  std::size_t receivingConnections = 0;  // receiving a request, not yet complete
  std::uint64_t acceptedConnections = 0;
  std::uint64_t rejectedConnections = 0;  // closed on accept: at the cap with none evictable, or no certificate
  std::uint64_t evictedConnections = 0;   // idle or receiving ones closed to admit a new one at the cap
  std::uint64_t requests = 0;             // responses sent, error responses included
  std::uint64_t timeouts = 0;             // handshakes, requests or idle waits that ran out of time
  std::uint64_t tooSlowRequests = 0;      // cut for arriving below minRequestBytesPerSecond
  std::uint64_t overBudgetRequests = 0;   // answered 503: no body budget within bodyBudgetWait
  std::size_t bodyBudgetInUse = 0;        // bytes of bodyBudgetBytes taken now
  std::size_t bodyBudgetPeak = 0;         // the most taken at once
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
