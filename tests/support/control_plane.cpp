#include "tests/support/control_plane.h"

#include <cpprest/http_client.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "core/encoding/base64.h"
#include "core/io/documents.h"

#ifndef PLANO_SOURCE_DIR
#error "PLANO_SOURCE_DIR must point at the repository (set by tests/CMakeLists.txt)"
#endif

namespace plano::testing {

namespace fs = std::filesystem;

kube::ApiError expect_api_error(const std::function<void()>& request) {
  try {
    request();
  } catch (const kube::ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "expected an ApiError";
  return kube::ApiError(0, kube::ErrorReason::Other, {}, "no error", {});
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// Runs a shell command, returning its exit status and combined output.
std::pair<int, std::string> run(const std::string& command) {
  std::string output;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run: " + command);
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output.append(buffer.data(), n);
  int status = pclose(pipe);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return {code, output};
}

std::string script_path() { return std::string(PLANO_SOURCE_DIR) + "/scripts/controlplane.sh"; }

nlohmann::json etcd_post(const std::string& endpoint, const std::string& path, const nlohmann::json& body) {
  web::http::client::http_client client{web::uri(endpoint)};
  web::http::http_request request(web::http::methods::POST);
  request.set_request_uri(web::uri(path));
  std::string text = body.dump();
  request.headers().set_content_type("application/json");
  request.set_body(std::vector<unsigned char>(text.begin(), text.end()));  // see Client: avoids UB in cpprestsdk
  auto response = client.request(request).get();
  std::string answer = response.extract_utf8string(true).get();
  if (response.status_code() != 200) {
    throw std::runtime_error("etcd " + path + " answered " + std::to_string(response.status_code()) + ": " + answer);
  }
  return nlohmann::json::parse(answer);
}

std::int64_t as_int(const nlohmann::json& value) {
  // grpc-gateway writes int64 as a JSON string.
  return value.is_string() ? std::stoll(value.get<std::string>()) : value.get<std::int64_t>();
}

constexpr const char* kTempPrefix = "plano-kube-test-";

// Alive and not a zombie waiting to be reaped.
bool process_running(const std::string& pid) {
  std::ifstream stat("/proc/" + pid + "/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto state = content.rfind(") ");
  return state != std::string::npos && state + 2 < content.size() && content[state + 2] != 'Z';
}

// A test binary that crashed (or was killed) never ran its TearDown, so its
// etcd and kube-apiserver keep running. Temp dirs carry the owner's pid: stop
// the control planes whose owner is gone.
void stop_orphaned_control_planes() {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fs::temp_directory_path(), ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind(kTempPrefix, 0) != 0) continue;
    std::string rest = name.substr(std::string(kTempPrefix).size());
    auto dash = rest.find('-');
    if (dash == std::string::npos || dash == 0 || rest.find_first_not_of("0123456789") != dash) continue;
    if (process_running(rest.substr(0, dash))) continue;  // its owner still runs
    fs::path dir = entry.path() / "cp";
    if (fs::exists(dir / ".plano-controlplane")) run(shell_quote(script_path()) + " down " + shell_quote(dir.string()));
    fs::remove_all(entry.path(), ec);
  }
}

}  // namespace

ControlPlane::ControlPlane(fs::path dir, fs::path owned_parent)
    : dir_(std::move(dir)), owned_parent_(std::move(owned_parent)) {}

std::unique_ptr<ControlPlane> ControlPlane::start(const std::optional<fs::path>& shared_dir,
                                                 const std::string& extra_apiserver_args, Cluster cluster) {
  fs::path dir;
  fs::path parent;
  if (shared_dir) {
    dir = *shared_dir;
  } else {
    stop_orphaned_control_planes();
    std::string pattern =
        (fs::temp_directory_path() / (kTempPrefix + std::to_string(getpid()) + "-XXXXXX")).string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed for " + pattern);
    parent = pattern;
    dir = parent / "cp";  // the script wants to create DIR itself (and puts DIR.lock beside it)
  }
  std::unique_ptr<ControlPlane> cp(new ControlPlane(dir, parent));
  const std::string extra = std::string(kUncachedResourceFlag) + (extra_apiserver_args.empty() ? "" : " " + extra_apiserver_args);
  const std::string bare = cluster == Cluster::Bare ? "PLANO_CP_BARE=1 " : "";
  auto [code, output] = run(bare + "PLANO_CP_APISERVER_EXTRA_ARGS=" + shell_quote(extra) + " " +
                            shell_quote(script_path()) + " up " + shell_quote(dir.string()));
  if (code != 0) {
    throw std::runtime_error("scripts/controlplane.sh up " + dir.string() + " failed (exit " + std::to_string(code) +
                             "):\n" + output);
  }
  return cp;
}

ControlPlane::~ControlPlane() {
  if (owned_parent_.empty()) return;
  auto [code, output] = run(shell_quote(script_path()) + " down " + shell_quote(dir_.string()));
  if (code != 0) std::fprintf(stderr, "warning: controlplane.sh down %s failed:\n%s\n", dir_.c_str(), output.c_str());
  std::error_code ignored;
  fs::remove_all(owned_parent_, ignored);
}

std::string ControlPlane::script(const std::string& command) const {
  auto [code, output] = run(shell_quote(script_path()) + " " + command + " " + shell_quote(dir_.string()));
  if (code != 0) throw std::runtime_error("controlplane.sh " + command + " failed:\n" + output);
  return output;
}

std::string ControlPlane::etcd_endpoint() const { return read_text(dir_ / "etcd-endpoint"); }
std::string ControlPlane::apiserver_url() const { return read_text(dir_ / "apiserver-endpoint"); }

kube::ClientConfig ControlPlane::admin_config() const {
  kube::ClientConfig config = kube::load_kubeconfig({kubeconfig_path(), {}});
  config.user_agent = "plano-kube-integration-tests";
  return config;
}

bool ControlPlane::apiserver_has_flag(const std::string& flag) const {
  std::ifstream args(dir_ / "kube-apiserver.args");
  std::string line;
  while (std::getline(args, line)) {
    if (line == flag) return true;
  }
  return false;
}

void ControlPlane::kill_apiserver() { script("kill-apiserver"); }
void ControlPlane::start_apiserver() { script("start-apiserver"); }

std::int64_t ControlPlane::etcd_revision() const {
  // Any key will do: every response header carries the store's current revision.
  auto response = etcd_post(etcd_endpoint(), "/v3/kv/range", {{"key", "AA=="}});
  return as_int(response["header"]["revision"]);
}

void ControlPlane::etcd_compact(std::int64_t revision) const {
  etcd_post(etcd_endpoint(), "/v3/kv/compaction", {{"revision", std::to_string(revision)}, {"physical", true}});
}

std::int64_t ControlPlane::etcd_delete(const std::string& key) const {
  auto response = etcd_post(etcd_endpoint(), "/v3/kv/deleterange", {{"key", encoding::base64_encode(key)}});
  return response.contains("deleted") ? as_int(response["deleted"]) : 0;  // proto3 JSON leaves out zero
}

// ---- the shared control plane ----

namespace {
std::unique_ptr<ControlPlane> g_control_plane;
std::unique_ptr<kube::Client> g_admin_client;
}  // namespace

void ControlPlaneEnvironment::SetUp() {
  std::optional<fs::path> shared;
  if (const char* dir = std::getenv("PLANO_KUBE_TEST_CP_DIR"); dir && *dir) shared = fs::path(dir);
  try {
    g_control_plane = ControlPlane::start(shared, "", cluster_);
    g_admin_client = std::make_unique<kube::Client>(g_control_plane->admin_config());
  } catch (const std::exception& e) {
    // A fatal failure in a global SetUp keeps every test from running and fails the binary.
    FAIL() << "cannot start the test control plane: " << e.what()
           << "\nThese tests need scripts/controlplane.sh to work: run it by hand to see why it fails.";
  }
}

void ControlPlaneEnvironment::TearDown() {
  g_admin_client.reset();
  g_control_plane.reset();
}

ControlPlane& control_plane() {
  if (!g_control_plane) throw std::logic_error("no control plane: register ControlPlaneEnvironment in main()");
  return *g_control_plane;
}

kube::Client& admin_client() {
  if (!g_admin_client) throw std::logic_error("no control plane: register ControlPlaneEnvironment in main()");
  return *g_admin_client;
}

std::string unique_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
}

std::string create_namespace(kube::ApiClient& client, const std::string& prefix) {
  std::string name = unique_name(prefix);
  client.create(kube::resources::kNamespaces, "", {{"metadata", {{"name", name}}}});
  return name;
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return condition();
    std::this_thread::sleep_for(interval);
  }
}

std::vector<std::string> install_crds(kube::ApiClient& client) {
  fs::path dir = fs::path(PLANO_SOURCE_DIR) / "crds";
  std::vector<std::string> files;
  if (fs::is_directory(dir)) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().extension() == ".yaml") files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw std::runtime_error("no CRDs in " + dir.string());

  std::vector<std::string> names;
  for (const auto& document : io::load_documents(files)) {
    const auto& crd = document.body;
    if (crd.value("kind", "") != "CustomResourceDefinition") continue;
    client.apply(kube::resources::kCustomResourceDefinitions, crd, {"plano-kube-tests", true});
    names.push_back(crd["metadata"]["name"].get<std::string>());
  }
  for (const auto& name : names) {
    bool established = eventually(
        [&] {
          auto crd = client.get(kube::resources::kCustomResourceDefinitions, "", name);
          for (const auto& c : crd["status"].value("conditions", nlohmann::json::array())) {
            if (c.value("type", "") == "Established" && c.value("status", "") == "True") return true;
          }
          return false;
        },
        std::chrono::seconds(30), std::chrono::milliseconds(100));
    if (!established) throw std::runtime_error("CRD " + name + " did not become Established within 30 s");
  }
  return names;
}

}  // namespace plano::testing
