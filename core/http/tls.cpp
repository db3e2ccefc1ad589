#include "core/http/tls.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ssl/context.hpp>

namespace plano::http {
namespace {

namespace ssl = boost::asio::ssl;

// Mozilla's "intermediate" TLS 1.2 suites: ECDHE key exchange with AEAD ciphers only. TLS 1.3
// suites are OpenSSL's defaults, all of which are fine.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

std::string openssl_error() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

// Picks http/1.1 when the client offers it; otherwise ALPN is not acknowledged and the client
// proceeds without it (a client offering only h2 would fail later, and none of ours do).
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
                unsigned int in_length, void*) {
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* chosen = nullptr;
  unsigned char chosen_length = 0;
  if (SSL_select_next_proto(&chosen, &chosen_length, kHttp11, sizeof kHttp11, in, in_length) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = chosen;
    *out_length = chosen_length;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  return length > 0 ? std::string(data, static_cast<std::size_t>(length)) : std::string();
}

}  // namespace

std::shared_ptr<SslContext> make_server_context(const std::string& cert_chain_pem, const std::string& key_pem) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use |
                       ssl::context::no_compression);
  SSL_CTX* native = context->native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) throw TlsError("TLS 1.2 minimum: " + openssl_error());
  if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) throw TlsError("cipher list: " + openssl_error());
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION);
  // Resumption uses stateless tickets; a server-side cache would only grow with client count.
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_alpn_select_cb(native, select_alpn, nullptr);

  boost::system::error_code ec;
  context->use_certificate_chain(boost::asio::buffer(cert_chain_pem), ec);
  if (ec) throw TlsError("certificate: " + ec.message());
  context->use_private_key(boost::asio::buffer(key_pem), ssl::context::pem, ec);
  if (ec) throw TlsError("private key: " + ec.message());
  // use_private_key only compares keys of the same type; this catches every mismatch.
  if (SSL_CTX_check_private_key(native) != 1) {
    throw TlsError("the private key does not match the certificate: " + openssl_error());
  }
  ERR_clear_error();
  return context;
}

std::string describe_certificate(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> in(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  if (!in) return "unreadable certificate";
  std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr), X509_free);
  ERR_clear_error();
  if (!cert) return "unreadable certificate";

  std::string serial = "?";
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr)) {
    if (char* hex = BN_bn2hex(bn)) {
      serial = hex;
      OPENSSL_free(hex);
    }
    BN_free(bn);
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
  if (!out) return "serial " + serial;
  X509_NAME_print_ex(out.get(), X509_get_subject_name(cert.get()), 0, XN_FLAG_ONELINE);
  std::string subject = bio_text(out.get());
  BIO_reset(out.get());
  ASN1_TIME_print(out.get(), X509_get0_notAfter(cert.get()));
  std::string not_after = bio_text(out.get());
  return "serial " + serial + ", subject " + subject + ", not after " + not_after;
}

}  // namespace plano::http
