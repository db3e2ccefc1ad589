#include "tests/unit/core/http/test_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/resource.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>

namespace plano::http::test {
namespace {

// Writing to a socket the server has closed must fail with EPIPE, not kill the test binary.
const bool kIgnoreSigpipe = [] {
  std::signal(SIGPIPE, SIG_IGN);
  // PLANO_TEST_DEBUG=1 shows the server's per-connection debug lines.
  if (std::getenv("PLANO_TEST_DEBUG")) spdlog::set_level(spdlog::level::debug);
  return true;
}();

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(length));
}

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string(what) + " failed");
}

}  // namespace

CertPair make_certificate(const std::string& common_name, long serial) {
  EVP_PKEY* raw_key = nullptr;
  {
    std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> kctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr),
                                                                    EVP_PKEY_CTX_free);
    check(kctx && EVP_PKEY_keygen_init(kctx.get()) == 1, "keygen init");
    check(EVP_PKEY_CTX_set_group_name(kctx.get(), "P-256") == 1, "set curve");
    check(EVP_PKEY_generate(kctx.get(), &raw_key) == 1, "keygen");
  }
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(raw_key, EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  check(cert != nullptr, "X509_new");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
  X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
  check(san != nullptr, "subjectAltName");
  X509_add_ext(cert.get(), san, -1);
  X509_EXTENSION_free(san);
  check(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0, "X509_sign");

  std::unique_ptr<BIO, decltype(&BIO_free)> cert_bio(BIO_new(BIO_s_mem()), BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> key_bio(BIO_new(BIO_s_mem()), BIO_free);
  check(PEM_write_bio_X509(cert_bio.get(), cert.get()) == 1, "PEM cert");
  check(PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1, "PEM key");
  return CertPair{bio_string(cert_bio.get()), bio_string(key_bio.get())};
}

ServerOptions local_options() {
  ServerOptions options;
  options.address = "127.0.0.1";
  options.port = 0;
  options.name = "test";
  return options;
}

std::shared_ptr<Router> demo_router() {
  auto router = std::make_shared<Router>();
  router->add("/hello", [](const Request&) { return Response::text(200, "hello"); }, {"GET"});
  router->add("/echo", [](const Request& request) {
    Response response = Response::text(200, request.body);
    response.headers.emplace_back("X-Method", request.method);
    return response;
  });
  return router;
}

std::shared_ptr<TlsContextSource> fixed_tls(const CertPair& pair) {
  return std::make_shared<FixedTlsContext>(make_server_context(pair.certPem, pair.keyPem));
}

TempDir::TempDir() {
  std::random_device random;
  auto base = std::filesystem::temp_directory_path();
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto candidate = base / ("plano-http-test-" + std::to_string(random()));
    if (std::filesystem::create_directory(candidate)) {
      path_ = candidate;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

void write_file(const std::filesystem::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::size_t rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  }
  return 0;
}

std::size_t raise_fd_limit(std::size_t wanted) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < wanted) {
    limit.rlim_cur = std::min<rlim_t>(wanted, limit.rlim_max);
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur;
}

SslCtxPtr client_context(int min_version, int max_version) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  if (!ctx) throw std::runtime_error("SSL_CTX_new");
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  if (min_version < TLS1_2_VERSION) {
    SSL_CTX_set_security_level(ctx.get(), 0);
    SSL_CTX_set_cipher_list(ctx.get(), "DEFAULT:@SECLEVEL=0");
  }
  SSL_CTX_set_min_proto_version(ctx.get(), min_version);
  SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  return ctx;
}

std::string request_text(const std::string& method, const std::string& path, const std::string& body,
                         const std::string& extra_headers) {
  std::string text = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers;
  if (!body.empty() || method == "POST") text += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return text + "\r\n" + body;
}

Client::Client(std::uint16_t port, SSL_CTX* tls, std::chrono::milliseconds timeout) : timeout_(timeout) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    error_ = std::string("socket: ") + std::strerror(errno);
    return;
  }
  set_receive_timeout(timeout);
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    error_ = std::string("connect: ") + std::strerror(errno);
    return;
  }
  if (tls) {
    ssl_ = SSL_new(tls);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, "localhost");
    if (SSL_connect(ssl_) != 1) {
      unsigned long code = ERR_get_error();
      char text[256] = "handshake failed";
      if (code) ERR_error_string_n(code, text, sizeof text);
      ERR_clear_error();
      error_ = std::string("TLS: ") + text;
      return;
    }
  }
  ok_ = true;
}

Client::~Client() {
  if (ssl_) SSL_free(ssl_);
  if (fd_ >= 0) ::close(fd_);
}

void Client::set_receive_timeout(std::chrono::milliseconds timeout) {
  auto ms = std::max<long long>(1, timeout.count());
  timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

bool Client::send(std::string_view data) {
  if (!ok_) return false;
  while (!data.empty()) {
    int chunk = static_cast<int>(std::min<std::size_t>(data.size(), 1u << 20));
    long n = ssl_ ? SSL_write(ssl_, data.data(), chunk) : ::send(fd_, data.data(), static_cast<std::size_t>(chunk), MSG_NOSIGNAL);
    if (n <= 0) {
      ERR_clear_error();
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

int Client::read_some(char* data, std::size_t size) {
  errno = 0;
  if (ssl_) {
    int n = SSL_read(ssl_, data, static_cast<int>(size));
    if (n > 0) return n;
    int saved = errno;
    int reason = SSL_get_error(ssl_, n);
    ERR_clear_error();
    if (reason == SSL_ERROR_ZERO_RETURN) return 0;
    if (reason == SSL_ERROR_SYSCALL && (saved == EAGAIN || saved == EWOULDBLOCK)) return -2;
    if (reason == SSL_ERROR_WANT_READ) return -2;
    return reason == SSL_ERROR_SYSCALL && saved != 0 ? -1 : 0;
  }
  long n = ::recv(fd_, data, size, 0);
  if (n > 0) return static_cast<int>(n);
  if (n == 0) return 0;
  return errno == EAGAIN || errno == EWOULDBLOCK ? -2 : -1;
}

std::optional<HttpResponse> Client::read_response(bool no_body) {
  if (!ok_) return std::nullopt;
  char chunk[16384];
  std::size_t header_end;
  while ((header_end = pending_.find("\r\n\r\n")) == std::string::npos) {
    if (pending_.size() > (1u << 20)) return std::nullopt;
    int n = read_some(chunk, sizeof chunk);
    if (n <= 0) return std::nullopt;
    pending_.append(chunk, static_cast<std::size_t>(n));
  }
  HttpResponse response;
  std::string head = pending_.substr(0, header_end);
  pending_.erase(0, header_end + 4);
  auto line_end = head.find("\r\n");
  std::string status_line = head.substr(0, line_end);
  if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) return std::nullopt;
  response.status = std::stoi(status_line.substr(9, 3));
  std::size_t position = line_end == std::string::npos ? head.size() : line_end + 2;
  while (position < head.size()) {
    auto next = head.find("\r\n", position);
    if (next == std::string::npos) next = head.size();
    std::string line = head.substr(position, next - position);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      response.headers.emplace_back(line.substr(0, colon), value);
    }
    position = next + 2;
  }
  std::size_t length = 0;
  if (auto value = response.header("Content-Length"); value && !no_body) length = std::stoul(std::string(*value));
  while (pending_.size() < length) {
    int n = read_some(chunk, sizeof chunk);
    if (n <= 0) return std::nullopt;
    pending_.append(chunk, static_cast<std::size_t>(n));
  }
  response.body = pending_.substr(0, length);
  pending_.erase(0, length);
  return response;
}

std::optional<HttpResponse> Client::round_trip(const std::string& method, const std::string& path,
                                               const std::string& body, const std::string& extra_headers) {
  if (!send(request_text(method, path, body, extra_headers))) return std::nullopt;
  return read_response();
}

bool Client::wait_closed(std::chrono::milliseconds within) {
  if (fd_ < 0) return true;
  if (!ok_ && !ssl_) return true;
  auto deadline = std::chrono::steady_clock::now() + within;
  char chunk[16384];
  bool closed = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    set_receive_timeout(left);
    int n = read_some(chunk, sizeof chunk);
    if (n > 0) {
      pending_.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    if (n == -2) continue;  // timed out or a TLS record without data: check the deadline
    closed = true;
    break;
  }
  set_receive_timeout(timeout_);
  return closed;
}

long Client::peer_serial() const {
  if (!ssl_) return -1;
  X509* cert = SSL_get1_peer_certificate(ssl_);
  if (!cert) return -1;
  long serial = ASN1_INTEGER_get(X509_get0_serialNumber(cert));
  X509_free(cert);
  return serial;
}

std::string Client::tls_version() const { return ssl_ ? SSL_get_version(ssl_) : ""; }

}  // namespace plano::http::test
