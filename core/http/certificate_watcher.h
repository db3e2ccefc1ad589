// Serving certificate and key from files, reloaded without a restart when the files change.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/http/tls.h"

namespace plano::http {

struct CertificateWatcherOptions {
  std::string certFile;  // PEM chain, leaf first (a Secret's tls.crt)
  std::string keyFile;   // PEM private key (tls.key)
  // How often the files are re-read; zero disables polling (call reload() yourself).
  std::chrono::milliseconds pollInterval{std::chrono::seconds(5)};
};

// Re-reads both files on every poll and compares a SHA-256 of their contents, so any way of
// replacing them works: in place, rename, or a mounted Secret's `..data` symlink swap (paths are
// opened anew each time and symlinks followed). A pair that cannot be used, such as a key written
// before its certificate, keeps the previous context serving; it is retried when the files change.
class CertificateWatcher : public TlsContextSource {
 public:
  // Loads once (a failure is logged and leaves certificates_loaded() false) and starts polling.
  explicit CertificateWatcher(CertificateWatcherOptions options);
  ~CertificateWatcher() override;
  CertificateWatcher(const CertificateWatcher&) = delete;
  CertificateWatcher& operator=(const CertificateWatcher&) = delete;

  std::shared_ptr<SslContext> current() const override;

  // Reads the files now. True when what they hold is what new handshakes get (changed or not).
  bool reload();

  // Whether any usable pair has been loaded: for readiness.
  bool certificates_loaded() const;

 private:
  void poll_loop();

  const CertificateWatcherOptions options_;

  mutable std::mutex contextMutex_;
  std::shared_ptr<SslContext> context_;  // guarded by contextMutex_

  std::mutex reloadMutex_;  // serializes reload(); guards the fields below
  std::string loadedDigest_;
  std::string failedDigest_;  // the pair that last failed, so it is reported once
  std::string lastReadError_;

  std::mutex stopMutex_;
  std::condition_variable stopSignal_;
  bool stopping_ = false;  // guarded by stopMutex_
  std::thread poller_;
};

}  // namespace plano::http
