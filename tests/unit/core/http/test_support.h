// Test helpers for the HTTP server: certificates, a blocking client with timeouts (raw sockets
// and OpenSSL, independent of the server's Asio code), temp directories and process RSS.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/http/handler.h"
#include "core/http/message.h"
#include "core/http/server.h"
#include "core/http/tls.h"

namespace plano::http::test {

struct CertPair {
  std::string certPem;
  std::string keyPem;
};

// A self-signed P-256 certificate for 127.0.0.1/localhost, valid for an hour.
CertPair make_certificate(const std::string& common_name, long serial);

// Loopback only, short timeouts where a test waits on them; limits as in production.
ServerOptions local_options();

// GET /hello -> "hello"; POST /echo -> the body back, with an X-Method header.
std::shared_ptr<Router> demo_router();

// A TLS source serving `pair`.
std::shared_ptr<TlsContextSource> fixed_tls(const CertPair& pair);

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

void write_file(const std::filesystem::path& path, const std::string& content);

// Resident set size of this process, from /proc/self/status.
std::size_t rss_kib();

// Raises the soft descriptor limit to at least `wanted` (up to the hard limit); returns the result.
std::size_t raise_fd_limit(std::size_t wanted);

using SslCtxPtr = std::shared_ptr<SSL_CTX>;

// A client context that does not verify the (self-signed) server. max 0: the library's highest.
// Versions below TLS 1.2 also lower the security level so OpenSSL will offer them at all.
SslCtxPtr client_context(int min_version = TLS1_2_VERSION, int max_version = 0);

struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;
  std::optional<std::string_view> header(std::string_view name) const { return find_header(headers, name); }
};

std::string request_text(const std::string& method, const std::string& path, const std::string& body = "",
                         const std::string& extra_headers = "");

// A blocking client connection to 127.0.0.1 with a timeout on every read and write.
class Client {
 public:
  // Connects (and handshakes when `tls` is set); check ok() and error().
  Client(std::uint16_t port, SSL_CTX* tls = nullptr, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }

  bool send(std::string_view data);
  // The next response (1xx included); nullopt on close, error or timeout. Needs Content-Length,
  // which `head` (the answer to HEAD) has without a body.
  std::optional<HttpResponse> read_response(bool head = false);
  // Sends a request and reads its response.
  std::optional<HttpResponse> round_trip(const std::string& method, const std::string& path,
                                         const std::string& body = "", const std::string& extra_headers = "");
  // True when the server closes (EOF or reset) within `within`; data that arrives is kept.
  bool wait_closed(std::chrono::milliseconds within);

  long peer_serial() const;       // -1 without TLS
  std::string tls_version() const;  // "TLSv1.3", or "" without TLS

 private:
  int read_some(char* data, std::size_t size);  // >0 bytes, 0 closed, -1 error, -2 timed out
  void set_receive_timeout(std::chrono::milliseconds timeout);

  int fd_ = -1;
  SSL* ssl_ = nullptr;
  bool ok_ = false;
  std::string error_;
  std::string pending_;  // bytes read beyond the last response
  std::chrono::milliseconds timeout_;
};

}  // namespace plano::http::test
