#include "core/http/certificate_watcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/unit/core/http/test_support.h"

namespace plano::http {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test::Client;

// A directory laid out as the kubelet mounts a Secret: tls.crt -> ..data/tls.crt,
// ..data -> ..<version>; an update writes a new version directory and swaps ..data atomically.
class SecretVolume {
 public:
  explicit SecretVolume(fs::path root) : root_(std::move(root)) {}

  void publish(const test::CertPair& pair) {
    std::string version = "..2024_01_01_00_00_0" + std::to_string(++generation_);
    fs::create_directory(root_ / version);
    test::write_file(root_ / version / "tls.crt", pair.certPem);
    test::write_file(root_ / version / "tls.key", pair.keyPem);
    fs::create_directory_symlink(version, root_ / "..data_tmp");
    fs::rename(root_ / "..data_tmp", root_ / "..data");
    if (!fs::is_symlink(root_ / "tls.crt")) {
      fs::create_symlink("..data/tls.crt", root_ / "tls.crt");
      fs::create_symlink("..data/tls.key", root_ / "tls.key");
    }
    if (!current_.empty()) fs::remove_all(root_ / current_);
    current_ = version;
  }

  fs::path cert() const { return root_ / "tls.crt"; }
  fs::path key() const { return root_ / "tls.key"; }
  // The files behind the symlinks, for writing one of them in place.
  fs::path current_dir() const { return root_ / current_; }

 private:
  fs::path root_;
  int generation_ = 0;
  std::string current_;
};

CertificateWatcherOptions options_for(const SecretVolume& volume, std::chrono::milliseconds poll = 0ms) {
  return CertificateWatcherOptions{volume.cert().string(), volume.key().string(), poll};
}

TEST(CertificateWatcher, SymlinkSwapIsServedToNewHandshakesWhileOpenConnectionsKeepWorking) {
  test::TempDir dir;
  SecretVolume volume(dir.path());
  volume.publish(test::make_certificate("webhook", 1));
  auto watcher = std::make_shared<CertificateWatcher>(options_for(volume));
  ASSERT_TRUE(watcher->certificates_loaded());
  auto server = start_server(test::local_options(), test::demo_router(), watcher);
  auto tls = test::client_context();

  Client before(server->port(), tls.get());
  ASSERT_TRUE(before.ok()) << before.error();
  EXPECT_EQ(before.peer_serial(), 1);
  ASSERT_TRUE(before.round_trip("GET", "/hello"));

  auto unchanged = watcher->current();
  EXPECT_TRUE(watcher->reload());
  EXPECT_EQ(watcher->current(), unchanged) << "unchanged files must not rebuild the context";

  volume.publish(test::make_certificate("webhook", 2));
  EXPECT_TRUE(watcher->reload());

  Client after(server->port(), tls.get());
  ASSERT_TRUE(after.ok()) << after.error();
  EXPECT_EQ(after.peer_serial(), 2);

  auto response = before.round_trip("GET", "/hello");
  ASSERT_TRUE(response) << "the connection opened before the swap must keep working";
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(before.peer_serial(), 1);
}

TEST(CertificateWatcher, HalfWrittenPairKeepsTheOldCertificate) {
  test::TempDir dir;
  SecretVolume volume(dir.path());
  volume.publish(test::make_certificate("webhook", 1));
  auto watcher = std::make_shared<CertificateWatcher>(options_for(volume));
  auto server = start_server(test::local_options(), test::demo_router(), watcher);
  auto tls = test::client_context();

  auto next = test::make_certificate("webhook", 3);
  test::write_file(volume.current_dir() / "tls.crt", next.certPem);  // the key is not written yet
  EXPECT_FALSE(watcher->reload());
  EXPECT_FALSE(watcher->reload()) << "retried only when the files change";
  EXPECT_TRUE(watcher->certificates_loaded());
  {
    Client client(server->port(), tls.get());
    ASSERT_TRUE(client.ok()) << client.error();
    EXPECT_EQ(client.peer_serial(), 1);
  }

  // A truncated certificate is refused too.
  test::write_file(volume.current_dir() / "tls.crt", next.certPem.substr(0, 100));
  EXPECT_FALSE(watcher->reload());

  test::write_file(volume.current_dir() / "tls.crt", next.certPem);
  test::write_file(volume.current_dir() / "tls.key", next.keyPem);
  EXPECT_TRUE(watcher->reload());
  Client client(server->port(), tls.get());
  ASSERT_TRUE(client.ok()) << client.error();
  EXPECT_EQ(client.peer_serial(), 3);
}

TEST(CertificateWatcher, PollingPicksUpARotation) {
  test::TempDir dir;
  SecretVolume volume(dir.path());
  volume.publish(test::make_certificate("webhook", 1));
  auto watcher = std::make_shared<CertificateWatcher>(options_for(volume, 100ms));
  auto server = start_server(test::local_options(), test::demo_router(), watcher);
  auto tls = test::client_context();

  volume.publish(test::make_certificate("webhook", 4));
  long serial = -1;
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < deadline) {
    Client client(server->port(), tls.get());
    serial = client.peer_serial();
    if (serial == 4) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(serial, 4);
}

TEST(CertificateWatcher, WithoutCertificatesTlsConnectionsAreClosedUntilTheyAppear) {
  test::TempDir dir;
  SecretVolume volume(dir.path());
  auto watcher = std::make_shared<CertificateWatcher>(options_for(volume));
  EXPECT_FALSE(watcher->certificates_loaded());
  EXPECT_EQ(watcher->current(), nullptr);
  auto server = start_server(test::local_options(), test::demo_router(), watcher);
  auto tls = test::client_context();
  {
    Client refused(server->port(), tls.get());
    EXPECT_FALSE(refused.ok());
  }
  EXPECT_EQ(server->stats().rejectedConnections, 1u);

  volume.publish(test::make_certificate("webhook", 5));
  EXPECT_TRUE(watcher->reload());
  EXPECT_TRUE(watcher->certificates_loaded());
  Client client(server->port(), tls.get());
  ASSERT_TRUE(client.ok()) << client.error();
  EXPECT_EQ(client.peer_serial(), 5);
}

}  // namespace
}  // namespace plano::http
