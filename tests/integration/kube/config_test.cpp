// Kubeconfig and in-cluster configuration, from files written by the tests.
#include "core/kube/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <thread>

#include "core/encoding/base64.h"
#include "core/kube/errors.h"
#include "tests/support/control_plane.h"

namespace plano::kube {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "plano-kubeconfig-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }
  fs::path write(const std::string& name, const std::string& content) const {
    fs::path p = path_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
    return p;
  }

 private:
  fs::path path_;
};

// Sets an environment variable for one scope and restores the old value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

std::string b64(const std::string& s) { return encoding::base64_encode(s); }

// Two clusters, users and contexts; current-context is "beta".
std::string two_context_kubeconfig() {
  return R"(apiVersion: v1
kind: Config
current-context: beta
clusters:
- name: alpha-cluster
  cluster:
    server: https://alpha.example:6443/
    certificate-authority-data: )" +
         b64("ALPHA CA PEM") + R"(
- name: beta-cluster
  cluster:
    server: https://beta.example:443/prefix
    certificate-authority: certs/beta-ca.pem
    insecure-skip-tls-verify: true
users:
- name: alpha-user
  user:
    client-certificate-data: )" +
         b64("ALPHA CERT") + R"(
    client-key-data: )" +
         b64("ALPHA KEY") + R"(
- name: beta-user
  user:
    token: beta-static-token
contexts:
- name: alpha
  context:
    cluster: alpha-cluster
    user: alpha-user
- name: beta
  context:
    cluster: beta-cluster
    user: beta-user
    namespace: team-b
)";
}

TEST(Kubeconfig, UsesTheCurrentContextByDefault) {
  TempDir dir;
  dir.write("certs/beta-ca.pem", "BETA CA FROM FILE");
  auto path = dir.write("config", two_context_kubeconfig());

  ClientConfig config = load_kubeconfig({path.string(), {}});
  EXPECT_EQ(config.server, "https://beta.example:443/prefix");
  EXPECT_EQ(config.ca_pem, "BETA CA FROM FILE");  // relative path resolved against the kubeconfig's directory
  EXPECT_TRUE(config.insecure_skip_tls_verify);
  EXPECT_EQ(config.namespace_, "team-b");
  ASSERT_TRUE(config.token);
  EXPECT_FALSE(config.token->is_file());
  EXPECT_EQ(config.token->token(), "beta-static-token");
  EXPECT_TRUE(config.client_cert_pem.empty());
  EXPECT_NE(config.origin.find("context beta"), std::string::npos);
}

TEST(Kubeconfig, ANamedContextOverridesTheCurrentOne) {
  TempDir dir;
  auto path = dir.write("config", two_context_kubeconfig());

  ClientConfig config = load_kubeconfig({path.string(), "alpha"});
  EXPECT_EQ(config.server, "https://alpha.example:6443");  // trailing slash dropped
  EXPECT_EQ(config.ca_pem, "ALPHA CA PEM");
  EXPECT_EQ(config.client_cert_pem, "ALPHA CERT");
  EXPECT_EQ(config.client_key_pem, "ALPHA KEY");
  EXPECT_FALSE(config.token);
  EXPECT_FALSE(config.insecure_skip_tls_verify);
  EXPECT_EQ(config.namespace_, "default");
}

TEST(Kubeconfig, AnUnknownContextIsAnErrorListingTheKnownOnes) {
  TempDir dir;
  auto path = dir.write("config", two_context_kubeconfig());
  try {
    load_kubeconfig({path.string(), "gamma"});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    std::string message = e.what();
    EXPECT_NE(message.find("\"gamma\" not found"), std::string::npos) << message;
    EXPECT_NE(message.find("alpha, beta"), std::string::npos) << message;
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  }
}

TEST(Kubeconfig, DataWinsOverAFileForTheSameField) {
  TempDir dir;
  dir.write("pki/ca.crt", "CA FROM FILE");
  dir.write("pki/client.crt", "CERT FROM FILE");
  dir.write("pki/client.key", "KEY FROM FILE");
  std::string text = R"(apiVersion: v1
kind: Config
current-context: c
clusters:
- name: k
  cluster:
    server: https://127.0.0.1:1
    certificate-authority: pki/ca.crt
    certificate-authority-data: )" +
                     b64("CA FROM DATA") + R"(
users:
- name: u
  user:
    client-certificate: pki/client.crt
    client-certificate-data: )" +
                     b64("CERT FROM DATA") + R"(
    client-key: pki/client.key
contexts:
- name: c
  context: {cluster: k, user: u}
)";
  auto path = dir.write("config", text);
  ClientConfig config = load_kubeconfig({path.string(), {}});
  EXPECT_EQ(config.ca_pem, "CA FROM DATA");
  EXPECT_EQ(config.client_cert_pem, "CERT FROM DATA");
  EXPECT_EQ(config.client_key_pem, "KEY FROM FILE");
}

TEST(Kubeconfig, RelativeFilesAreResolvedAgainstTheKubeconfigDirectory) {
  TempDir dir;
  dir.write("nested/pki/client.crt", "CERT FROM FILE");
  dir.write("abs/client.key", "KEY FROM FILE");
  std::string text = R"(apiVersion: v1
kind: Config
current-context: c
clusters:
- name: k
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user:
    client-certificate: pki/client.crt
    client-key: )" + (dir.path() / "abs/client.key").string() +
                     R"(
contexts:
- name: c
  context: {cluster: k, user: u}
)";
  auto path = dir.write("nested/config", text);
  ClientConfig config = load_kubeconfig({path.string(), {}});
  EXPECT_EQ(config.client_cert_pem, "CERT FROM FILE");
  EXPECT_EQ(config.client_key_pem, "KEY FROM FILE");
  EXPECT_TRUE(config.ca_pem.empty());  // no CA configured: system roots
}

TEST(Kubeconfig, AMissingReferencedFileIsAnErrorNamingIt) {
  TempDir dir;
  auto path = dir.write("config", R"(apiVersion: v1
kind: Config
current-context: c
clusters:
- name: k
  cluster: {server: "https://127.0.0.1:1", certificate-authority: missing-ca.pem}
contexts:
- name: c
  context: {cluster: k}
)");
  try {
    load_kubeconfig({path.string(), {}});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find((dir.path() / "missing-ca.pem").string()), std::string::npos) << e.what();
  }
}

TEST(Kubeconfig, TokenFileWinsOverTokenAndIsReReadWhenInvalidated) {
  TempDir dir;
  auto token_file = dir.write("token", "file-token-1\n");
  auto path = dir.write("config", R"(apiVersion: v1
kind: Config
current-context: c
clusters:
- name: k
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: static-token, tokenFile: token}
contexts:
- name: c
  context: {cluster: k, user: u}
)");
  ClientConfig config = load_kubeconfig({path.string(), {}});
  ASSERT_TRUE(config.token);
  EXPECT_TRUE(config.token->is_file());
  EXPECT_EQ(config.token->path(), token_file);
  EXPECT_EQ(config.token->token(), "file-token-1");  // trailing newline trimmed

  std::ofstream(token_file) << "file-token-2";
  EXPECT_EQ(config.token->token(), "file-token-1") << "cached until max age or invalidate()";
  config.token->invalidate();  // what the client does after a 401
  EXPECT_EQ(config.token->token(), "file-token-2");
}

TEST(TokenSource, ReReadsTheFileOnceItsValueIsOlderThanMaxAge) {
  TempDir dir;
  auto token_file = dir.write("token", "first");
  auto source = TokenSource::from_file(token_file, {}, std::chrono::seconds(1));
  EXPECT_EQ(source->token(), "first");
  std::ofstream(token_file) << "second";
  EXPECT_EQ(source->token(), "first");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(source->token(), "second");
}

TEST(TokenSource, AnUnreadableFileFallsBackToTheLastGoodValueThenTheStaticToken) {
  TempDir dir;
  auto token_file = dir.path() / "token";
  auto source = TokenSource::from_file(token_file, "static", std::chrono::seconds(0));
  EXPECT_EQ(source->token(), "static");
  std::ofstream(token_file) << "from-file";
  EXPECT_EQ(source->token(), "from-file");
  fs::remove(token_file);
  EXPECT_EQ(source->token(), "from-file");

  auto without_fallback = TokenSource::from_file(dir.path() / "never-written", {}, std::chrono::seconds(0));
  EXPECT_THROW(without_fallback->token(), ConfigError);
}

TEST(Kubeconfig, TheKubeconfigVariableMergesFilesFirstOneWinning) {
  TempDir dir;
  auto first = dir.write("first", R"(apiVersion: v1
kind: Config
clusters:
- name: shared
  cluster: {server: "https://first.example"}
contexts:
- name: one
  context: {cluster: shared}
)");
  auto second = dir.write("second", R"(apiVersion: v1
kind: Config
current-context: two
clusters:
- name: shared
  cluster: {server: "https://second.example"}
- name: other
  cluster: {server: "https://other.example"}
contexts:
- name: two
  context: {cluster: other, namespace: from-second}
)");
  ScopedEnv env("KUBECONFIG", first.string() + ":" + (dir.path() / "absent").string() + ":" + second.string());
  ClientConfig config = load_kubeconfig();
  EXPECT_EQ(config.server, "https://other.example");  // current-context comes from the second file
  EXPECT_EQ(config.namespace_, "from-second");
  EXPECT_EQ(load_kubeconfig({{}, "one"}).server, "https://first.example");  // first definition of "shared" wins
}

TEST(Kubeconfig, AnExecPluginUserIsRejectedWithAnExplanation) {
  try {
    parse_kubeconfig(R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
)",
                     {});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'exec'"), std::string::npos) << e.what();
  }
}

TEST(Kubeconfig, InvalidBase64DataIsAnError) {
  EXPECT_THROW(parse_kubeconfig(R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://127.0.0.1:1", certificate-authority-data: "not base64!"}}]
contexts: [{name: c, context: {cluster: k}}]
)",
                                {}),
               ConfigError);
}

TEST(Kubeconfig, TheControlPlaneKubeconfigCarriesAClientCertificate) {
  ClientConfig config = load_kubeconfig({testing::control_plane().kubeconfig_path(), {}});
  EXPECT_EQ(config.server, testing::control_plane().apiserver_url());
  EXPECT_NE(config.ca_pem.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_NE(config.client_cert_pem.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_NE(config.client_key_pem.find("PRIVATE KEY"), std::string::npos);
  EXPECT_FALSE(config.token);
}

TEST(InClusterConfig, ReadsTheServiceAccountFilesAndServiceEnvironment) {
  TempDir dir;
  dir.write("token", "sa-token\n");
  dir.write("ca.crt", "CLUSTER CA");
  dir.write("namespace", "plano-system\n");
  ScopedEnv host("KUBERNETES_SERVICE_HOST", "10.96.0.1");
  ScopedEnv port("KUBERNETES_SERVICE_PORT", "443");

  EXPECT_TRUE(in_cluster_available(dir.path()));
  ClientConfig config = in_cluster_config(dir.path());
  EXPECT_EQ(config.server, "https://10.96.0.1:443");
  EXPECT_EQ(config.ca_pem, "CLUSTER CA");
  EXPECT_EQ(config.namespace_, "plano-system");
  ASSERT_TRUE(config.token);
  EXPECT_TRUE(config.token->is_file());
  EXPECT_EQ(config.token->token(), "sa-token");
}

TEST(InClusterConfig, BracketsAnIPv6ServiceHost) {
  TempDir dir;
  dir.write("token", "t");
  dir.write("ca.crt", "CA");
  ScopedEnv host("KUBERNETES_SERVICE_HOST", "fd00:10:96::1");
  ScopedEnv port("KUBERNETES_SERVICE_PORT", "6443");
  ClientConfig config = in_cluster_config(dir.path());
  EXPECT_EQ(config.server, "https://[fd00:10:96::1]:6443");
  EXPECT_EQ(config.namespace_, "default");  // no namespace file
}

TEST(InClusterConfig, OutsideAClusterItIsAnError) {
  TempDir dir;
  dir.write("token", "t");
  ScopedEnv host("KUBERNETES_SERVICE_HOST", std::nullopt);
  EXPECT_FALSE(in_cluster_available(dir.path()));
  EXPECT_THROW(in_cluster_config(dir.path()), ConfigError);
}

}  // namespace
}  // namespace plano::kube
