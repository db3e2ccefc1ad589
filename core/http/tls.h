// Server TLS contexts: how the server obtains one per handshake, and how one is built.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

namespace boost::asio::ssl {
class context;
}

namespace plano::http {

using SslContext = boost::asio::ssl::context;

// A certificate or key that cannot be used (unparsable PEM, key not matching the certificate).
class TlsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Supplies the context for each NEW handshake. A connection keeps the context it started with,
// so replacing the current one never disturbs open connections. Called from worker threads.
class TlsContextSource {
 public:
  virtual ~TlsContextSource() = default;
  // Null when no certificate is loaded; the server then closes the connection.
  virtual std::shared_ptr<SslContext> current() const = 0;
};

// A server context serving `cert_chain_pem` (leaf first) with `key_pem`: TLS 1.2 minimum, forward-
// secret AEAD ciphers for TLS 1.2 (OpenSSL's TLS 1.3 defaults), no renegotiation or compression,
// ALPN "http/1.1" when offered. Throws TlsError when either does not parse or they do not match.
std::shared_ptr<SslContext> make_server_context(const std::string& cert_chain_pem, const std::string& key_pem);

// "serial <hex>, subject <...>, not after <...>" of the first certificate in `pem`, for logs.
std::string describe_certificate(const std::string& pem);

// A source that always returns the same context (tests, or certificates that never rotate).
class FixedTlsContext : public TlsContextSource {
 public:
  explicit FixedTlsContext(std::shared_ptr<SslContext> context) : context_(std::move(context)) {}
  std::shared_ptr<SslContext> current() const override { return context_; }

 private:
  std::shared_ptr<SslContext> context_;
};

}  // namespace plano::http
