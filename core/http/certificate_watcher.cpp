#include "core/http/certificate_watcher.h"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <memory>
#include <string>

namespace plano::http {
namespace {

// A PEM chain or key is a few KiB; anything far larger is not one.
constexpr std::size_t kMaxPemBytes = 1u << 20;

bool read_small_file(const std::string& path, std::string& out, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot open " + path;
    return false;
  }
  out.clear();
  char chunk[8192];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    out.append(chunk, static_cast<std::size_t>(in.gcount()));
    if (out.size() > kMaxPemBytes) {
      error = path + " is larger than " + std::to_string(kMaxPemBytes) + " bytes";
      return false;
    }
  }
  if (in.bad()) {
    error = "cannot read " + path;
    return false;
  }
  return true;
}

std::string sha256(const std::string& a, const std::string& b) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  // The length prefix keeps ("ab","c") and ("a","bc") apart.
  std::string prefix = std::to_string(a.size()) + ":";
  if (!md || EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(md.get(), prefix.data(), prefix.size()) != 1 ||
      EVP_DigestUpdate(md.get(), a.data(), a.size()) != 1 || EVP_DigestUpdate(md.get(), b.data(), b.size()) != 1 ||
      EVP_DigestFinal_ex(md.get(), digest, &length) != 1) {
    return {};  // never equal to a stored digest, so the pair is simply loaded again
  }
  return std::string(reinterpret_cast<const char*>(digest), length);
}

}  // namespace

CertificateWatcher::CertificateWatcher(CertificateWatcherOptions options) : options_(std::move(options)) {
  reload();
  if (options_.pollInterval.count() > 0) poller_ = std::thread([this] { poll_loop(); });
}

CertificateWatcher::~CertificateWatcher() {
  {
    std::lock_guard lock(stopMutex_);
    stopping_ = true;
  }
  stopSignal_.notify_all();
  if (poller_.joinable()) poller_.join();
}

std::shared_ptr<SslContext> CertificateWatcher::current() const {
  std::lock_guard lock(contextMutex_);
  return context_;
}

bool CertificateWatcher::certificates_loaded() const { return current() != nullptr; }

bool CertificateWatcher::reload() {
  std::lock_guard lock(reloadMutex_);
  std::string cert, key, error;
  if (!read_small_file(options_.certFile, cert, error) || !read_small_file(options_.keyFile, key, error)) {
    // Files vanish briefly during some updates; report each distinct problem once.
    if (error != lastReadError_) spdlog::warn("TLS certificate: {}; keeping the current certificate", error);
    lastReadError_ = error;
    return false;
  }
  lastReadError_.clear();

  std::string digest = sha256(cert, key);
  if (!digest.empty() && digest == loadedDigest_) return true;
  if (!digest.empty() && digest == failedDigest_) return false;
  try {
    auto context = make_server_context(cert, key);
    {
      std::lock_guard context_lock(contextMutex_);
      context_ = std::move(context);
    }
    loadedDigest_ = digest;
    failedDigest_.clear();
    spdlog::info("TLS certificate loaded from {}: {}", options_.certFile, describe_certificate(cert));
    return true;
  } catch (const std::exception& e) {
    failedDigest_ = digest;
    spdlog::warn("TLS certificate from {} and {} not loaded ({}); {}", options_.certFile, options_.keyFile, e.what(),
                 certificates_loaded() ? "keeping the previous one" : "none is being served");
    return false;
  }
}

void CertificateWatcher::poll_loop() {
  std::unique_lock lock(stopMutex_);
  while (!stopSignal_.wait_for(lock, options_.pollInterval, [this] { return stopping_; })) {
    lock.unlock();
    try {
      reload();
    } catch (const std::exception& e) {  // e.g. bad_alloc: keep polling
      spdlog::error("TLS certificate reload failed: {}", e.what());
    }
    lock.lock();
  }
}

}  // namespace plano::http
