// The webhook binary end to end. A real kube-apiserver calls it through a ValidatingWebhookConfiguration
// (URL + caBundle, failurePolicy Fail) and kubectl applies the examples as a user would; then the
// certificate is rotated under the running process, and hostile clients talk to it directly while a
// well-behaved AdmissionReview client checks that it keeps answering.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <limits>
#include <mutex>
#include <set>
#include <thread>

#include "core/kube/errors.h"
#include "core/kube/resource.h"
#include "tests/e2e/operator_process.h"
#include "tests/e2e/webhook_support.h"
#include "tests/support/control_plane.h"
#include "tests/unit/core/http/test_support.h"

namespace plano::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace res = kube::resources;
namespace ht = http::test;
using Clock = std::chrono::steady_clock;

const fs::path kRoot = PLANO_SOURCE_DIR;
// The webhook's memory bounds. Under sanitizers (shadow memory, ASan's quarantine of freed
// blocks) the binary's RSS says nothing about the server, so there are none (halved: added to).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr std::size_t kRssBoundKib = std::numeric_limits<std::size_t>::max() / 2;
constexpr std::size_t kIdleGrowthKib = kRssBoundKib, kMalformedGrowthKib = kRssBoundKib;
#else
constexpr std::size_t kRssBoundKib = 128u << 10, kIdleGrowthKib = 8u << 10, kMalformedGrowthKib = 16u << 10;
#endif

constexpr const char* kConfigName = "plano-operator-e2e";
constexpr const char* kDenied = "admission webhook \"validate.plano-operator.io\" denied the request";
// The examples the CRDs accept and only the webhook can refuse (they need other objects).
const std::set<std::string> kWebhookOnly = {"accesskey-on-passthrough-gateway.yaml", "namespace-not-allowed.yaml",
                                            "second-default.yaml", "duplicate-model-id.yaml",
                                            "same-interface-host-different-ports.yaml", "alias-already-held.yaml",
                                            "prefer-cheapest-without-cost-source.yaml", "routing-preference-of-another-namespace.yaml",
                                            "shared-preference-other-description.yaml"};

long long ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// What the suite shares: one webhook process serves every test, as one would serve a cluster.
struct Shared {
  fs::path dir;
  std::unique_ptr<TestPki> pki;
  fs::path cert, key;
  std::unique_ptr<OperatorProcess> webhook;
  int port = 0;
  ht::SslCtxPtr verifying;  // trusts only the test CA, and checks the address 127.0.0.1
};
Shared* g = nullptr;

KubectlResult kubectl(const std::string& args) { return kubectl_run(control_plane().kubeconfig_path(), args); }

std::string yaml_of(const fs::path& path) { return "-f '" + path.string() + "'"; }

// The objects of `file` that exist now, as Kind/namespace/name.
std::set<std::string> existing(const fs::path& file) {
  auto r = kubectl("get " + yaml_of(file) + " --ignore-not-found -o json");
  EXPECT_EQ(r.code, 0) << r.err;
  std::set<std::string> keys;
  if (r.out.find_first_not_of(" \n") == std::string::npos) return keys;
  auto add = [&](const json& o) {
    keys.insert(o.value("kind", "") + "/" + o["metadata"].value("namespace", "") + "/" + o["metadata"].value("name", ""));
  };
  auto parsed = json::parse(r.out);
  if (parsed.value("kind", "") == "List") {
    for (const auto& o : parsed["items"]) add(o);
  } else {
    add(parsed);
  }
  return keys;
}

// Deletes the namespaced objects of a manifest (Namespaces stay: nothing would finalize them here).
void delete_objects(const std::vector<ManifestObject>& objects) {
  for (const auto& o : objects) {
    const kube::Resource* r = o.kind == "ModelProvider"  ? &res::kModelProviders
                              : o.kind == "PlanoGateway" ? &res::kPlanoGateways
                              : o.kind == "Secret"       ? &res::kSecrets
                                                         : nullptr;
    if (!r) continue;
    try {
      admin_client().remove(*r, o.namespace_, o.name);
    } catch (const kube::ApiError& e) {
      if (!e.is(kube::ErrorReason::NotFound)) throw;
    }
  }
}

fs::path manifest_of(const std::vector<json>& bodies, const std::string& stem) {
  std::vector<ManifestObject> objects;
  for (const auto& b : bodies) objects.push_back({b.value("kind", ""), b["metadata"].value("namespace", ""), b["metadata"].value("name", ""), b});
  return write_manifest(objects, g->dir, stem);
}

void apply_ok(const fs::path& file) {
  auto r = kubectl("apply " + yaml_of(file));
  ASSERT_EQ(r.code, 0) << file << "\n" << r.err;
}

// The webhook judges from informer caches, so an object applied a moment ago may not be in its view
// yet. Waiting until a server dry run of `file` is refused makes the later checks deterministic; a
// webhook that never refuses fails after 20 s. Returns the last attempt.
KubectlResult refused_eventually(const fs::path& file) {
  KubectlResult r;
  eventually(
      [&] {
        r = kubectl("apply --dry-run=server " + yaml_of(file));
        return r.code != 0;
      },
      20s, 200ms);
  return r;
}

class WebhookE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // 1,000 client connections plus the process's own; the webhook inherits the limit.
    ASSERT_GE(ht::raise_fd_limit(4096), 2200u);
    g = new Shared;
    g->dir = fs::temp_directory_path() / unique_name("webhook-e2e");
    g->pki = std::make_unique<TestPki>(g->dir / "pki");
    g->cert = g->dir / "tls.crt";
    g->key = g->dir / "tls.key";
    g->pki->issue(1001, g->cert, g->key);
    g->verifying = g->pki->verifying_context();

    install_crds(admin_client());
    // The namespaces the examples use, labelled as the examples' own Namespace objects say, so a
    // label never changes under a file being applied.
    apply_ok(manifest_of({namespace_object("platform", false), namespace_object("team-a", true),
                          namespace_object("team-b", true), namespace_object("team-c", false)},
                         "namespaces"));

    g->webhook = std::make_unique<OperatorProcess>(
        control_plane().kubeconfig_path(),
        std::vector<std::string>{"--listen-address", "127.0.0.1:0", "--tls-cert-file", g->cert.string(), "--tls-key-file",
                                 g->key.string()},
        (g->dir / "webhook.log").string(), "webhook");
    ASSERT_TRUE(eventually([&] { return (g->port = admission_port(*g->webhook)) != 0; }, 20s)) << g->webhook->log();
    ASSERT_TRUE(eventually([] { return probe_get(*g->webhook, "/readyz") == "200"; }, 30s, 100ms)) << g->webhook->log();

    const json config =
        webhook_configuration(kConfigName, "https://127.0.0.1:" + std::to_string(g->port) + "/validate", g->pki->ca_base64());
    apply_ok(manifest_of({config}, "webhook-config"));
    // The API server picks the configuration up asynchronously; the webhook's own warning for a
    // provider whose gateway is missing shows that it is being called.
    auto probe = manifest_of({provider("team-a", "webhook-probe", "platform", "no-such-gateway", {{"model", "openai/gpt-4o"}, {"passthroughAuth", true}})},
                             "probe");
    ASSERT_TRUE(eventually(
        [&] {
          auto r = kubectl("apply --dry-run=server " + yaml_of(probe));
          return r.code == 0 && contains(r.err, "does not exist (yet)");
        },
        30s, 200ms))
        << "the API server never called the webhook\n"
        << g->webhook->log();
  }

  static void TearDownTestSuite() {
    if (!g) return;
    // failurePolicy Fail would block these kinds once the webhook is gone.
    kubectl(std::string("delete validatingwebhookconfiguration ") + kConfigName + " --ignore-not-found");
    g->webhook.reset();
    std::error_code ignored;
    fs::remove_all(g->dir, ignored);
    delete g;
    g = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(g && g->webhook && g->port) << "the webhook did not start";
  }
  void TearDown() override {
    int status = 0;
    ASSERT_EQ(waitpid(g->webhook->pid(), &status, WNOHANG), 0) << "the webhook exited\n" << g->webhook->log();
  }
};

// Each invalid example: its other objects first, then the whole file, with --dry-run=server and for
// real. The object its "# expect:" line names is refused with that phrase and never stored.
TEST_F(WebhookE2E, InvalidExamplesAreRefusedWithTheirMessage) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(kRoot / "examples" / "invalid")) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 20u);
  int refused_by_webhook = 0;
  for (const auto& file : files) {
    SCOPED_TRACE(file.filename().string());
    const bool is_webhook_only = kWebhookOnly.count(file.filename().string()) > 0;
    const auto objects = read_manifest(file);
    const auto expects = expectations_of(file);
    ASSERT_FALSE(expects.empty());
    std::vector<ManifestObject> targets, others;
    for (const auto& o : objects) {
      bool named = std::any_of(expects.begin(), expects.end(), [&](const Expectation& x) { return x.object == o.key(); });
      (named ? targets : others).push_back(o);
    }
    ASSERT_EQ(targets.size(), expects.size());
    const auto target_file = write_manifest(targets, g->dir, "target");
    ASSERT_TRUE(existing(target_file).empty());
    if (!others.empty()) apply_ok(write_manifest(others, g->dir, "context"));
    if (auto r = refused_eventually(target_file); r.code == 0 || !contains(r.err, expects[0].phrase)) {
      ADD_FAILURE() << "not refused with \"" << expects[0].phrase << "\" (exit " << r.code << "):\n" << r.err;
      delete_objects(objects);
      continue;
    }

    for (const char* mode : {"--dry-run=server ", ""}) {
      SCOPED_TRACE(mode);
      auto r = kubectl(std::string("apply ") + mode + yaml_of(file));
      EXPECT_NE(r.code, 0) << r.out;
      for (const auto& x : expects) EXPECT_TRUE(contains(r.err, x.phrase)) << "expected \"" << x.phrase << "\" in\n" << r.err;
      // The cross-object mistakes get past the CRDs and are the webhook's to catch; the API
      // server refuses the others before calling it.
      EXPECT_EQ(contains(r.err, kDenied), is_webhook_only) << r.err;
      if (is_webhook_only && contains(r.err, kDenied)) ++refused_by_webhook;
      EXPECT_TRUE(existing(target_file).empty()) << "a refused object was stored";
    }
    delete_objects(objects);
  }
  EXPECT_EQ(refused_by_webhook, 2 * static_cast<int>(kWebhookOnly.size()));  // dry run and real, each
}

// Each valid example in a fresh state: a server dry run admits everything and stores nothing, then
// the real apply admits and stores everything.
TEST_F(WebhookE2E, ValidExamplesAreAdmittedAndDryRunStoresNothing) {
  int checked = 0;
  for (const auto& e : fs::directory_iterator(kRoot / "examples")) {
    if (e.path().extension() != ".yaml") continue;
    SCOPED_TRACE(e.path().filename().string());
    auto objects = read_manifest(e.path());
    std::vector<ManifestObject> stored;  // Namespaces already exist
    for (const auto& o : objects) {
      if (o.kind != "Namespace") stored.push_back(o);
    }
    const auto stored_file = write_manifest(stored, g->dir, "stored");
    ASSERT_TRUE(existing(stored_file).empty());

    auto dry = kubectl("apply --dry-run=server " + yaml_of(e.path()));
    EXPECT_EQ(dry.code, 0) << dry.err;
    EXPECT_TRUE(contains(dry.out, "(server dry run)")) << dry.out;
    EXPECT_FALSE(contains(dry.err, "denied")) << dry.err;
    EXPECT_TRUE(existing(stored_file).empty()) << "a dry run stored objects";

    auto real = kubectl("apply " + yaml_of(e.path()));
    EXPECT_EQ(real.code, 0) << real.err;
    std::set<std::string> want;
    for (const auto& o : stored) want.insert(o.key());
    EXPECT_EQ(existing(stored_file), want);
    delete_objects(objects);
    ++checked;
  }
  EXPECT_EQ(checked, 9);
}

// One tenant (alpha) is on the shared gateways first; another (bravo), and a namespace the gateway does
// not admit (charlie), then try each cross-tenant mistake. Every attempt is refused by the webhook, and
// its message names neither alpha's namespace, nor its providers, nor its Secret.
TEST_F(WebhookE2E, CrossTenantRefusalsNameTheHolderButNoSecret) {
  const auto alpha = unique_name("tenant-alpha");
  const auto bravo = unique_name("tenant-bravo");
  const auto charlie = unique_name("tenant-charlie");
  const std::string secret = "alpha-vault-credentials";
  const std::string alpha_default = "alpha-default-gpt4o", alpha_vllm = "alpha-vllm-8000";
  const json selector = {{"from", "Selector"}, {"selector", {{"matchLabels", {{"plano-operator.io/tenant", "true"}}}}}};
  const json both_modes = {{"namespaces", selector}, {"authModes", {"AccessKey", "Passthrough"}}};
  const json passthrough_only = {{"namespaces", {{"from", "All"}}}, {"authModes", {"Passthrough"}}};
  const json victim_secret = {{"apiVersion", "v1"},
                              {"kind", "Secret"},
                              {"metadata", {{"name", secret}, {"namespace", alpha}}},
                              {"stringData", {{"api-key", "sk-example-not-a-real-key"}}}};
  const auto vllm_spec = [](const std::string& model, int port) {
    return json{{"model", model},
                {"baseURL", "http://vllm.shared.svc.cluster.local:" + std::to_string(port) + "/v1"},
                {"providerInterface", "openai"},
                {"passthroughAuth", true}};
  };
  const std::vector<json> world = {
      namespace_object(alpha, true), namespace_object(bravo, true), namespace_object(charlie, false),
      gateway("platform", "xt-shared", both_modes), gateway("platform", "xt-passthrough", passthrough_only),
      victim_secret,
      provider(alpha, alpha_default, "platform", "xt-shared",
               {{"model", "openai/gpt-4o"}, {"accessKeySecretRef", {{"name", secret}, {"key", "api-key"}}}, {"default", true}}),
      provider(alpha, alpha_vllm, "platform", "xt-shared", vllm_spec("vllm/meta-llama/Llama-3.1-8B-Instruct", 8000)),
      provider(alpha, "alpha-passthrough", "platform", "xt-passthrough",
               {{"model", "openai/gpt-4o-mini"}, {"passthroughAuth", true}, {"default", true}})};
  apply_ok(manifest_of(world, "cross-tenant-world"));

  struct Attempt {
    std::string what, field, phrase;
    json object;
    std::string holder = "";  // alpha's provider holding the contested value, if any
  };
  const std::vector<Attempt> attempts = {
      {"namespace not admitted", "spec.gatewayRef", "does not match the namespace selector",
       provider(charlie, "charlie-gpt", "platform", "xt-shared", {{"model", "openai/gpt-4.1"}, {"passthroughAuth", true}})},
      {"AccessKey on a Passthrough-only gateway", "spec.accessKeySecretRef", "does not allow auth mode AccessKey",
       provider(bravo, "bravo-keyed", "platform", "xt-passthrough",
                {{"model", "openai/gpt-4.1"}, {"accessKeySecretRef", {{"name", "bravo-own-key"}, {"key", "api-key"}}}})},
      {"second default", "spec.default", "already the default",
       provider(bravo, "bravo-default", "platform", "xt-shared",
                {{"model", "anthropic/claude-sonnet-4-5"}, {"passthroughAuth", true}, {"default", true}}),
       alpha_default},
      {"duplicate model_id", "spec.model", "model_id gpt-4o is already served",
       provider(bravo, "bravo-azure", "platform", "xt-shared",
                {{"model", "azure_openai/gpt-4o"}, {"baseURL", "https://bravo.openai.azure.com"}, {"passthroughAuth", true}}),
       alpha_default},
      {"port collision", "spec.baseURL", "Plano would merge them into one upstream",
       provider(bravo, "bravo-vllm", "platform", "xt-shared", vllm_spec("vllm/Qwen/Qwen2.5-7B-Instruct", 8001)), alpha_vllm}};
  for (const auto& a : attempts) {
    SCOPED_TRACE(a.what);
    const auto file = manifest_of({a.object}, "intruder");
    ASSERT_NE(refused_eventually(file).code, 0);
    for (const char* mode : {"--dry-run=server ", ""}) {
      auto r = kubectl(std::string("apply ") + mode + yaml_of(file));
      EXPECT_NE(r.code, 0);
      EXPECT_TRUE(contains(r.err, kDenied)) << r.err;
      EXPECT_TRUE(contains(r.err, a.field + ": ")) << r.err;
      EXPECT_TRUE(contains(r.err, a.phrase)) << r.err;
      // The holder of a contested value is named so the tenant knows whom to ask; a Secret never is.
      EXPECT_FALSE(contains(r.err, secret)) << "names \"" << secret << "\":\n" << r.err;
      if (!a.holder.empty()) {
        EXPECT_TRUE(contains(r.err, "held by ModelProvider/" + alpha + "/" + a.holder)) << r.err;
      }
    }
    EXPECT_TRUE(existing(file).empty());
  }

  // Within alpha's own namespace the holder is named the same way.
  const auto own = manifest_of({provider(alpha, "alpha-second-default", "platform", "xt-shared",
                                         {{"model", "openai/o3"}, {"passthroughAuth", true}, {"default", true}})},
                               "own-namespace");
  ASSERT_NE(refused_eventually(own).code, 0);
  auto r = kubectl("apply " + yaml_of(own));
  EXPECT_TRUE(contains(r.err, alpha + "/" + alpha_default)) << r.err;

  std::vector<ManifestObject> cleanup;
  for (const auto& o : world) cleanup.push_back({o.value("kind", ""), o["metadata"].value("namespace", ""), o["metadata"].value("name", ""), o});
  delete_objects(cleanup);
}

// The hostile-tenant suite (tests/attacks/generate_attacks.py: envsubst variables, line breaks and
// look-alike Secret names in every tenant string) through the API server, its CRD rules and the
// webhook. Each attack is refused, naming the attacked field, exactly when `plano-operator validate`
// refuses it; tests/attacks/attacks_test.py shows the ones it admits harmless at Plano's start-up.
TEST_F(WebhookE2E, AttacksAreRefusedOnTheirFieldExactlyWhenValidateRefusesThem) {
  const auto dir = g->dir / "attacks";
  std::string out;
  ASSERT_EQ(run_command(shell_quote((kRoot / ".cache/venv/bin/python").string()) + " " +
                            shell_quote((kRoot / "tests/attacks/generate_attacks.py").string()) + " " + PLANO_BINARY + " " +
                            shell_quote(dir.string()),
                        &out),
            0)
      << out;
  // The context without its Namespaces: those the suite shares keep their labels; the others are new.
  std::vector<ManifestObject> context;
  std::vector<json> new_namespaces;
  for (const char* file : {"context-tenants.yaml", "context-gateway.yaml"}) {
    for (auto& o : read_manifest(dir / file)) {
      if (o.kind != "Namespace") context.push_back(o);
      else if (kubectl("get namespace " + o.name).code != 0) new_namespaces.push_back(namespace_object(o.name, false));
    }
  }
  if (!new_namespaces.empty()) apply_ok(manifest_of(new_namespaces, "attack-namespaces"));
  apply_ok(write_manifest(context, g->dir, "attack-context"));

  std::vector<fs::path> attacks;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (std::isdigit(static_cast<unsigned char>(e.path().filename().string()[0]))) attacks.push_back(e.path());
  }
  std::sort(attacks.begin(), attacks.end());
  ASSERT_GE(attacks.size(), 100u);
  int refused = 0;
  for (const auto& attack : attacks) {
    SCOPED_TRACE(attack.filename().string());
    std::ifstream in(attack);
    std::string first;
    std::getline(in, first);
    ASSERT_EQ(first.rfind("# attack: ", 0), 0u) << first;
    const auto meta = json::parse(first.substr(10));
    std::string validate_command = PLANO_BINARY + std::string(" validate");
    for (const auto& c : meta["context"]) validate_command += " -f " + shell_quote((dir / c.get<std::string>()).string());
    const int offline = run_command(validate_command + " -f " + shell_quote(attack.string()));
    ASSERT_TRUE(offline == 0 || offline == 1) << validate_command;
    const auto r = kubectl("apply --dry-run=server " + yaml_of(attack));
    EXPECT_EQ(r.code != 0, offline == 1) << meta["about"] << " (validate exit " << offline << "):\n" << r.err;
    if (r.code != 0) {
      ++refused;
      ASSERT_FALSE(meta["apiField"].is_null()) << "refused, but it attacks no field:\n" << r.err;
      EXPECT_TRUE(contains(r.err, meta["apiField"].get<std::string>())) << r.err;
    }
  }
  EXPECT_GT(refused, 0);
  delete_objects(context);
}

// A new certificate from the same CA replaces the files under the running process: the next
// handshake presents it, verified like the API server verifies it, and the pid has not changed.
// A tenant who may write providers but not read a Secret cannot make the gateway use it: the
// webhook asks the API server (SubjectAccessReview) as the requesting user, here impersonated.
// A webhook that starts after the objects learns them from its informers' initial list (its cache
// keeps only identities in the store and the decoded objects beside it): it judges against them.
TEST_F(WebhookE2E, AWebhookStartedAfterTheObjectsJudgesAgainstThem) {
  const auto holder_ns = unique_name("late-holder");
  const auto other_ns = unique_name("late-other");
  const json all_namespaces = {{"namespaces", {{"from", "All"}}}, {"authModes", {"Passthrough"}}};
  apply_ok(manifest_of({namespace_object(holder_ns, true), namespace_object(other_ns, true),
                        gateway("platform", "late-gw", all_namespaces),
                        provider(holder_ns, "holder", "platform", "late-gw", {{"model", "openai/gpt-late"}, {"passthroughAuth", true}})},
                       "late-world"));
  OperatorProcess late(control_plane().kubeconfig_path(),
                       {"--listen-address", "127.0.0.1:0", "--tls-cert-file", g->cert.string(), "--tls-key-file", g->key.string()},
                       (g->dir / "late-webhook.log").string(), "webhook");
  int port = 0;
  ASSERT_TRUE(eventually([&] { return (port = admission_port(late)) != 0; }, 20s)) << late.log();
  ASSERT_TRUE(eventually([&] { return probe_get(late, "/readyz") == "200"; }, 30s, 100ms)) << late.log();

  ht::Client client(static_cast<std::uint16_t>(port), g->verifying.get());
  ASSERT_TRUE(client.ok()) << client.error();
  const auto review = admission_review(
      "late", "CREATE", provider(other_ns, "same-model", "platform", "late-gw", {{"model", "openai/gpt-late"}, {"passthroughAuth", true}}));
  const auto answer = client.round_trip("POST", "/validate", review.dump(), "Content-Type: application/json\r\n");
  ASSERT_TRUE(answer);
  ASSERT_EQ(answer->status, 200);
  const json verdict = json::parse(answer->body);
  EXPECT_FALSE(verdict["response"]["allowed"].get<bool>()) << "the gateway admits every namespace, and the model is held";
  EXPECT_TRUE(contains(verdict["response"]["status"].value("message", ""), "ModelProvider/" + holder_ns + "/holder"))
      << verdict.dump();
}

// The webhook's cache follows a provider that moves to another gateway and then goes: its model
// is held where it is, and nowhere once it is deleted.
TEST_F(WebhookE2E, AMovedOrDeletedProviderHoldsItsModelOnlyWhereItIs) {
  const auto holder_ns = unique_name("mover");
  const auto other_ns = unique_name("mover-other");
  const json all_namespaces = {{"namespaces", {{"from", "All"}}}, {"authModes", {"Passthrough"}}};
  const json spec = {{"model", "openai/gpt-moved"}, {"passthroughAuth", true}};
  apply_ok(manifest_of({namespace_object(holder_ns, true), namespace_object(other_ns, true),
                        gateway("platform", "move-from", all_namespaces), gateway("platform", "move-to", all_namespaces),
                        provider(holder_ns, "holder", "platform", "move-from", spec)},
                       "move-world"));
  const auto rival_on = [&](const std::string& gw) {
    return manifest_of({provider(other_ns, "rival", "platform", gw, spec)}, "move-rival-" + gw);
  };
  const auto admitted_eventually = [&](const fs::path& file) {
    return eventually([&] { return kubectl("apply --dry-run=server " + yaml_of(file)).code == 0; }, 20s, 200ms);
  };
  ASSERT_NE(refused_eventually(rival_on("move-from")).code, 0) << "the holder's model, on its gateway";
  EXPECT_EQ(kubectl("apply --dry-run=server " + yaml_of(rival_on("move-to"))).code, 0) << "another gateway is free";

  apply_ok(manifest_of({provider(holder_ns, "holder", "platform", "move-to", spec)}, "move-holder"));
  EXPECT_NE(refused_eventually(rival_on("move-to")).code, 0) << "the model moved with its holder";
  EXPECT_TRUE(admitted_eventually(rival_on("move-from"))) << "and left the gateway it was on";

  delete_objects({{"ModelProvider", holder_ns, "holder", {}}});
  EXPECT_TRUE(admitted_eventually(rival_on("move-to"))) << "a deleted provider holds nothing";
  delete_objects({{"PlanoGateway", "platform", "move-from", {}}, {"PlanoGateway", "platform", "move-to", {}}});
}

TEST_F(WebhookE2E, AProviderMayUseOnlyASecretItsAuthorCanRead) {
  const std::string user = unique_name("tenant");
  const json role = {{"apiVersion", "rbac.authorization.k8s.io/v1"}, {"kind", "Role"},
                     {"metadata", {{"name", user}, {"namespace", "team-a"}}},
                     {"rules", {{{"apiGroups", {"plano-operator.io"}}, {"resources", {"modelproviders"}},
                                 {"verbs", {"get", "list", "create", "update", "patch", "delete"}}},
                                {{"apiGroups", {""}}, {"resources", {"secrets"}}, {"resourceNames", {"own-key"}}, {"verbs", {"get"}}}}}};
  const json binding = {{"apiVersion", "rbac.authorization.k8s.io/v1"}, {"kind", "RoleBinding"},
                        {"metadata", {{"name", user}, {"namespace", "team-a"}}},
                        {"roleRef", {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", user}}},
                        {"subjects", {{{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "User"}, {"name", user}}}}};
  apply_ok(manifest_of({role, binding}, "tenant-role"));
  auto provider_using = [&](const std::string& name, const std::string& secret) {
    return manifest_of({provider("team-a", name, "team-a", "no-such-gateway",
                                 {{"model", "custom/collector"}, {"baseURL", "https://collector.attacker.example/v1"},
                                  {"providerInterface", "openai"}, {"accessKeySecretRef", {{"name", secret}, {"key", "password"}}}})},
                       name);
  };
  // The payments database's password: the tenant gets Forbidden reading it, and so is refused.
  EXPECT_NE(kubectl("--as " + user + " -n team-a get secret payments-db").code, 0);
  const auto stolen = provider_using("steal", "payments-db");
  KubectlResult r;
  ASSERT_TRUE(eventually([&] { return (r = kubectl("--as " + user + " apply " + yaml_of(stolen))).code != 0; }, 20s, 200ms)) << r.out;
  EXPECT_TRUE(contains(r.err, "spec.accessKeySecretRef.name: " + user + " may not read Secret team-a/payments-db")) << r.err;
  EXPECT_TRUE(existing(stolen).empty()) << "a refused provider was stored";
  // Whether the Secret exists makes no difference to the answer, so the refusal reveals nothing.
  const auto missing = provider_using("probe", "no-such-secret");
  r = kubectl("--as " + user + " apply --dry-run=server " + yaml_of(missing));
  EXPECT_TRUE(contains(r.err, "may not read Secret team-a/no-such-secret")) << r.err;
  // A Secret the tenant may read is fine, and an administrator may use any.
  const auto own = provider_using("own", "own-key");
  r = kubectl("--as " + user + " apply --dry-run=server " + yaml_of(own));
  EXPECT_EQ(r.code, 0) << r.err;
  r = kubectl("apply --dry-run=server " + yaml_of(stolen));
  EXPECT_EQ(r.code, 0) << r.err;
  kubectl("delete rolebinding,role -n team-a " + user);
}

TEST_F(WebhookE2E, CertificateRotationTakesEffectWithoutARestart) {
  const pid_t pid = g->webhook->pid();
  const auto before = served_serial(g->port, g->pki->ca_cert());
  ASSERT_EQ(before, "0x03E9");  // 1001
  ht::Client old_connection(static_cast<std::uint16_t>(g->port), g->verifying.get());
  ASSERT_TRUE(old_connection.ok()) << old_connection.error();

  const auto rotated_at = Clock::now();
  g->pki->issue(1002, g->cert, g->key);
  std::string after;
  ASSERT_TRUE(eventually(
      [&] {
        after = served_serial(g->port, g->pki->ca_cert());
        return after == "0x03EA";
      },
      15s, 200ms))
      << "still serving " << after << "\n"
      << g->webhook->log();
  const auto took = ms_since(rotated_at);
  EXPECT_EQ(g->webhook->pid(), pid);
  EXPECT_EQ(kill(pid, 0), 0);
  // Our own client agrees, and a connection opened before the rotation still gets answers.
  ht::Client fresh(static_cast<std::uint16_t>(g->port), g->verifying.get());
  ASSERT_TRUE(fresh.ok()) << fresh.error();
  EXPECT_EQ(fresh.peer_serial(), 1002);
  EXPECT_EQ(old_connection.peer_serial(), 1001);
  auto review = admission_review("rotation", "CREATE",
                                 provider("team-a", "rotated", "platform", "no-such-gateway", {{"model", "openai/gpt-4o"}, {"passthroughAuth", true}}));
  auto answer = old_connection.round_trip("POST", "/validate", review.dump(), "Content-Type: application/json\r\n");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
  // The API server's calls still verify against the caBundle.
  auto probe = manifest_of({provider("team-a", "after-rotation", "platform", "no-such-gateway", {{"model", "openai/gpt-4o"}, {"passthroughAuth", true}})},
                           "probe");
  auto r = kubectl("apply --dry-run=server " + yaml_of(probe));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "does not exist (yet)")) << r.err;
  std::printf("[ measured ] rotation: serial %s -> %s served %lld ms after the files changed (poll 5 s), pid %d unchanged\n",
              before.c_str(), after.c_str(), took, pid);
}


// A well-behaved AdmissionReview client in the background: a fresh, verified TLS connection per
// review (the strictest case: every one must get through accept and the handshake), one every 20 ms.
class NormalClient {
 public:
  struct Tally {
    int answered = 0, failed = 0;
    long long slowestMs = 0;
    std::string lastError;
  };

  explicit NormalClient(json object) : object_(std::move(object)), thread_([this] { run(); }) {}
  ~NormalClient() { stop(); }

  Tally take() {
    std::lock_guard lock(mu_);
    return std::exchange(tally_, Tally{});
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    const auto deadline = Clock::now() + 5min;  // a bound, far above the test's own length
    for (int i = 0; i < 100000 && !stop_ && Clock::now() < deadline; ++i) {
      const auto uid = "normal-" + std::to_string(i);
      const auto body = admission_review(uid, "CREATE", object_).dump();
      const auto start = Clock::now();
      std::string error;
      {
        ht::Client c(static_cast<std::uint16_t>(g->port), g->verifying.get(), 5s);
        if (!c.ok()) {
          error = "connect: " + c.error();
        } else if (auto r = c.round_trip("POST", "/validate", body, "Content-Type: application/json\r\n"); !r) {
          error = "no response";
        } else if (r->status != 200) {
          error = "status " + std::to_string(r->status);
        } else {
          auto answer = json::parse(r->body, nullptr, false);
          if (answer.is_discarded() || answer["response"].value("uid", "") != uid || !answer["response"].value("allowed", false)) {
            error = "unexpected answer " + r->body.substr(0, 200);
          }
        }
      }
      const auto took = ms_since(start);
      {
        std::lock_guard lock(mu_);
        if (error.empty()) {
          ++tally_.answered;
          tally_.slowestMs = std::max(tally_.slowestMs, took);
        } else {
          ++tally_.failed;
          tally_.lastError = error;
        }
      }
      std::this_thread::sleep_for(20ms);
    }
  }

  const json object_;
  std::mutex mu_;
  Tally tally_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string request_head(const std::string& extra) {
  return "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + extra;
}

// Hostile clients, one kind at a time, while the normal client keeps asking. After each: no normal
// review failed, the process is the same and alive, and its memory is bounded.
TEST_F(WebhookE2E, HostileClientsNeitherStopNormalReviewsNorGrowMemory) {
  const pid_t pid = g->webhook->pid();
  apply_ok(manifest_of({gateway("platform", "robust-gw", {{"namespaces", {{"from", "All"}}}})}, "robust-gw"));
  const auto valid = provider("team-a", "robust-provider", "platform", "robust-gw", {{"model", "openai/gpt-4o"}, {"passthroughAuth", true}});
  NormalClient normal(valid);
  std::this_thread::sleep_for(1s);  // warm-up: threads, TLS tables, the first cache reads
  normal.take();
  const Memory baseline = memory_of(pid);
  std::printf("[ measured ] webhook RSS at rest %zu KiB (peak so far %zu KiB)\n", baseline.rssKib, baseline.peakKib);
  std::size_t peak_rss = baseline.rssKib;
  auto phase_done = [&](const std::string& phase) {
    auto t = normal.take();
    const Memory m = memory_of(pid);
    peak_rss = std::max(peak_rss, m.rssKib);
    EXPECT_EQ(t.failed, 0) << phase << ": " << t.lastError;
    EXPECT_GE(t.answered, 5) << phase;
    EXPECT_EQ(kill(pid, 0), 0) << phase;
    EXPECT_EQ(g->webhook->pid(), pid);
    std::printf("[ measured ] %s: normal reviews %d answered, %d failed, slowest %lld ms; webhook RSS %zu KiB, VmHWM %zu KiB\n",
                phase.c_str(), t.answered, t.failed, t.slowestMs, m.rssKib, m.peakKib);
  };

  // 1,000 connections that complete the TLS handshake and then say nothing, three times: the
  // allocator keeps what the first round cost (about 40 MiB), so from the second on memory must
  // plateau; growth would be a per-connection leak.
  std::size_t after_second_round = 0;
  for (int round = 1; round <= 3; ++round) {
    std::vector<std::unique_ptr<ht::Client>> idle;
    int failed = 0;
    const auto start = Clock::now();
    for (int i = 0; i < 1000; ++i) {
      idle.push_back(std::make_unique<ht::Client>(static_cast<std::uint16_t>(g->port), g->verifying.get(), 5s));
      if (!idle.back()->ok()) ++failed;
    }
    const auto connect_ms = ms_since(start);
    std::this_thread::sleep_for(2s);
    const Memory during = memory_of(pid);
    int open = 0;
    for (auto& c : idle) open += c->wait_closed(2ms) ? 0 : 1;  // about 1 ms per open connection
    EXPECT_EQ(failed, 0);
    // The server holds up to its cap (512) and evicts the longest-idle ones beyond it.
    EXPECT_LE(open, 512);
    EXPECT_GE(open, 256);
    std::printf("[ measured ] round %d, 1000 idle TLS connections: handshakes took %lld ms, %d still open after 2 s, "
                "webhook RSS %zu KiB while held\n",
                round, connect_ms, open, during.rssKib);
    idle.clear();
    phase_done("round " + std::to_string(round) + " of 1000 idle TLS connections");
    const auto rss = memory_of(pid).rssKib;
    if (round == 2) after_second_round = rss;
    if (round == 3) {
      EXPECT_LT(rss, after_second_round + kIdleGrowthKib) << "another round of idle connections kept growing memory";
    }
  }

  {  // Slow loris: 10 connections dribble a header, 10 a body, a byte per connection every 200 ms.
    struct Loris {
      std::unique_ptr<ht::Client> client;
      std::string text;
      std::size_t sent = 0;
      long long closedMs = -1;
    };
    std::vector<Loris> lorises;
    for (int i = 0; i < 20; ++i) {
      Loris l;
      l.client = std::make_unique<ht::Client>(static_cast<std::uint16_t>(g->port), g->verifying.get(), 5s);
      ASSERT_TRUE(l.client->ok()) << l.client->error();
      if (i % 2 == 0) {
        l.text = request_head("X-Slow: " + std::string(400, 'a'));
      } else {
        ASSERT_TRUE(l.client->send(request_head("Content-Length: 4096\r\n\r\n")));
        l.text = std::string(4096, ' ');
      }
      lorises.push_back(std::move(l));
    }
    const auto start = Clock::now();
    for (int round = 0; round < 100 && ms_since(start) < 16000; ++round) {
      int open = 0;
      for (auto& l : lorises) {
        if (l.closedMs >= 0) continue;
        if (l.client->wait_closed(2ms) || !l.client->send(std::string_view(l.text).substr(l.sent++ % l.text.size(), 1))) {
          l.closedMs = ms_since(start);
          continue;
        }
        ++open;
      }
      if (open == 0) break;
      std::this_thread::sleep_for(200ms);
    }
    long long first = -1, last = -1;
    for (const auto& l : lorises) {
      // Cut off by the minimum rate (1 KiB/s over a 2 s window: a byte per 200 ms is far below it,
      // TLS records included), long before the 10 s request timeout; not by an idle timeout a
      // dribble resets, which would never cut it.
      EXPECT_GE(l.closedMs, 1500);
      EXPECT_LE(l.closedMs, 5000);
      first = first < 0 ? l.closedMs : std::min(first, l.closedMs);
      last = std::max(last, l.closedMs);
    }
    std::printf("[ measured ] 20 slow-loris connections (a byte per 200 ms) closed by the server after %lld-%lld ms\n", first, last);
    phase_done("slow loris");
  }

  {  // 10 MiB bodies, declared and chunked, two of each at once: 413, and memory does not follow.
    auto post_big = [](bool chunked) {
      ht::Client c(static_cast<std::uint16_t>(g->port), g->verifying.get(), 10s);
      if (!c.ok()) return 0;
      constexpr std::size_t kTotal = 10u << 20, kPiece = 64u << 10;
      c.send(request_head(chunked ? "Transfer-Encoding: chunked\r\n\r\n" : "Content-Length: " + std::to_string(kTotal) + "\r\n\r\n"));
      const std::string piece(kPiece, ' ');
      char size_line[32];
      std::snprintf(size_line, sizeof size_line, "%zx\r\n", kPiece);
      for (std::size_t sent = 0; sent < kTotal; sent += kPiece) {
        // The server answers early and stops reading; a failed write is expected then.
        if (!c.send(chunked ? size_line + piece + "\r\n" : piece)) break;
      }
      auto r = c.read_response();
      return r ? r->status : 0;
    };
    // Rounds of four at once for at least 2 s, so the normal client's reviews overlap them.
    const auto start = Clock::now();
    int rounds = 0;
    for (; rounds < 50 && (rounds < 2 || ms_since(start) < 2000); ++rounds) {
      std::vector<std::future<int>> posts;
      for (int i = 0; i < 4; ++i) posts.push_back(std::async(std::launch::async, post_big, i % 2 == 1));
      for (auto& p : posts) EXPECT_EQ(p.get(), 413);
    }
    std::printf("[ measured ] %d rounds of 4 concurrent 10 MiB bodies (2 declared, 2 chunked) in %lld ms, each answered 413\n",
                rounds, ms_since(start));
    // Just under the limit is still judged: the API server's objects go up to 1.5 MiB.
    auto large = valid;
    large["metadata"]["annotations"] = {{"example.com/padding", std::string(2u << 20, 'x')}};
    ht::Client c(static_cast<std::uint16_t>(g->port), g->verifying.get(), 10s);
    auto r = c.round_trip("POST", "/validate", admission_review("large", "CREATE", large).dump(), "Content-Type: application/json\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    phase_done("10 MiB bodies");
  }

  {  // Malformed input, 10 rounds: each answered with a 4xx, never a crash or a 5xx.
    const std::string review_prefix = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":)";
    auto spec_not_object = admission_review("bad-spec", "CREATE", valid);
    spec_not_object["request"]["object"]["spec"] = "a string";
    const std::vector<std::pair<std::string, int>> bodies = {
        {"", 400},
        {"{", 400},
        {"not json at all", 400},
        {"[]", 400},
        {"\"AdmissionReview\"", 400},
        {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})", 400},
        {review_prefix + R"({"uid":42}})", 400},
        {review_prefix + R"({"uid":"x","kind":{"group":"plano-operator.io","kind":"ModelProvider"},"operation":"CREATE","object":7}})", 400},
        {review_prefix + "{\"uid\":\"\xff\xfe\"}}", 400},
        {review_prefix + R"({"uid":"x","n":1e999999}})", 400},
        {std::string("{\"uid") + '\0' + "\":1}", 400},
        {std::string(100000, '['), 400},
        {std::string(2u << 20, '['), 400},
        {spec_not_object.dump(), 200},  // a review, refused by decoding: the object is judged, not the request
    };
    // At least 10 rounds and 2 s, so the normal client's reviews overlap them.
    const Memory before = memory_of(pid);
    const auto start = Clock::now();
    int rounds = 0;
    for (; rounds < 100 && (rounds < 10 || ms_since(start) < 2000); ++rounds) {
      for (const auto& [body, want] : bodies) {
        ht::Client c(static_cast<std::uint16_t>(g->port), g->verifying.get(), 10s);
        auto r = c.round_trip("POST", "/validate", body, "Content-Type: application/json\r\n");
        ASSERT_TRUE(r) << body.substr(0, 80);
        EXPECT_EQ(r->status, want) << body.substr(0, 80) << "\n" << r->body;
        if (want == 200) {
          EXPECT_FALSE(json::parse(r->body)["response"].value("allowed", true));
        }
      }
      ht::Client wrong_type(static_cast<std::uint16_t>(g->port), g->verifying.get(), 5s);
      auto r = wrong_type.round_trip("POST", "/validate", valid.dump(), "Content-Type: text/plain\r\n");
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 415);
      ht::Client garbage(static_cast<std::uint16_t>(g->port), g->verifying.get(), 5s);
      ASSERT_TRUE(garbage.send(std::string("\x16\x03\x01 not http\r\n\r\n")));
      auto g_r = garbage.read_response();
      ASSERT_TRUE(g_r);
      EXPECT_EQ(g_r->status, 400);
      ht::Client plain(static_cast<std::uint16_t>(g->port));  // plain HTTP to the TLS port
      plain.send(ht::request_text("POST", "/validate", valid.dump()));
      EXPECT_FALSE(plain.read_response());
    }
    // Nesting is refused before parsing: a 2 MiB body of '[' once cost about 130 MB each.
    EXPECT_LT(memory_of(pid).peakKib, before.peakKib + kMalformedGrowthKib);
    phase_done("malformed requests x" + std::to_string(rounds));
  }

  normal.stop();
  const Memory end = memory_of(pid);
  std::printf("[ measured ] webhook RSS: at rest %zu KiB, highest sampled after a phase %zu KiB, at the end %zu KiB, VmHWM %zu KiB\n",
              baseline.rssKib, peak_rss, end.rssKib, end.peakKib);
  // Measured about 85 MiB peak and 75 MiB at the end, mostly the idle connections' TLS state,
  // which the allocator keeps for reuse (the second idle round adds almost nothing).
  EXPECT_LT(end.peakKib, kRssBoundKib);
  EXPECT_LT(end.rssKib, kRssBoundKib);
  kubectl("delete planogateway -n platform robust-gw --ignore-not-found");
}

}  // namespace
}  // namespace plano::testing
