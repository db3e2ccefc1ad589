// A real Kubernetes control plane from scripts/controlplane.sh for integration
// and end-to-end tests, plus helpers around it.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/kube/client.h"
#include "core/kube/config.h"
#include "core/kube/errors.h"

namespace plano::testing {

// kube-apiserver flag every control plane of these tests gets: podtemplates
// bypass the watch cache, so their watches read etcd directly and an etcd
// compaction yields a genuine 410 (the watch cache would hide it).
inline constexpr const char* kUncachedResourceFlag = "--watch-cache-sizes=podtemplates#0";

// What runs besides etcd + kube-apiserver.
enum class Cluster {
  Bare,             // nothing: objects are only stored (PLANO_CP_BARE=1); Deployments make no pods
  WithControllers,  // kube-controller-manager, kube-scheduler and kwok with one fake node: pods run and become Ready
};

// One control plane living in a state directory.
class ControlPlane {
 public:
  // Brings a control plane up: in `shared_dir` when given (reused if it is
  // already running there with the same processes, and left running afterwards),
  // otherwise in a fresh temporary directory that is torn down by the destructor.
  // `extra_apiserver_args` (space-separated flags) go after kUncachedResourceFlag.
  // Throws std::runtime_error with the script's output when it cannot start.
  static std::unique_ptr<ControlPlane> start(const std::optional<std::filesystem::path>& shared_dir = {},
                                             const std::string& extra_apiserver_args = "",
                                             Cluster cluster = Cluster::Bare);
  ~ControlPlane();
  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  std::string kubeconfig_path() const { return (dir_ / "kubeconfig").string(); }
  std::string etcd_endpoint() const;
  std::string apiserver_url() const;
  kube::ClientConfig admin_config() const;  // client-certificate admin from the kubeconfig
  bool apiserver_has_flag(const std::string& flag) const;

  // SIGKILL kube-apiserver / start it again on the same port (waits until ready). Throw on failure.
  void kill_apiserver();
  void start_apiserver();

  // etcd's current revision, and a physical compaction of all history before `revision`.
  std::int64_t etcd_revision() const;
  void etcd_compact(std::int64_t revision) const;
  // Deletes one key straight in etcd, behind the API server's back (e.g. "/registry/<group>/<plural>/<ns>/<name>").
  // Returns how many keys were deleted.
  std::int64_t etcd_delete(const std::string& key) const;

 private:
  ControlPlane(std::filesystem::path dir, std::filesystem::path owned_parent);
  std::string script(const std::string& command) const;

  std::filesystem::path dir_;
  std::filesystem::path owned_parent_;  // empty when the control plane is shared (not ours to stop)
};

// The test binary's shared control plane: started once before the first test,
// stopped after the last. Set PLANO_KUBE_TEST_CP_DIR to reuse one that is
// already running there (ctest does, through a fixture). Failure to start is
// a test failure, never a skip.
class ControlPlaneEnvironment : public ::testing::Environment {
 public:
  explicit ControlPlaneEnvironment(Cluster cluster) : cluster_(cluster) {}
  void SetUp() override;
  void TearDown() override;

 private:
  Cluster cluster_;
};

// The shared control plane and an admin client for it.
ControlPlane& control_plane();
kube::Client& admin_client();

// Runs `request`, which must throw kube::ApiError, and returns that error (a test failure if not).
kube::ApiError expect_api_error(const std::function<void()>& request);

// `s` as one single-quoted shell word.
std::string shell_quote(const std::string& s);

// A name unique across test processes: "<prefix>-<pid>-<n>".
std::string unique_name(const std::string& prefix);
// Creates a fresh namespace and returns its name.
std::string create_namespace(kube::ApiClient& client, const std::string& prefix);

// Polls `condition` until it holds or `timeout` passes; returns its last value.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = std::chrono::milliseconds(25));

// Applies the project CRDs from crds/*.yaml and waits until they are Established.
// Returns the names applied; throws std::runtime_error when there are none or they do not get Established.
std::vector<std::string> install_crds(kube::ApiClient& client);

}  // namespace plano::testing
