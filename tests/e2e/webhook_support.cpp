#include "tests/e2e/webhook_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/x509_vfy.h>

#include <cctype>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "core/io/documents.h"
#include "tests/e2e/operator_process.h"
#include "tests/support/control_plane.h"

namespace plano::testing {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void must(const std::string& command) {
  std::string out;
  if (run_command(command, &out) != 0) throw std::runtime_error("failed: " + command + "\n" + out);
}

const char* kEcKey = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

}  // namespace

TestPki::TestPki(fs::path dir) : dir_(std::move(dir)) {
  fs::create_directories(dir_);
  must(std::string("openssl req -x509 ") + kEcKey + " -keyout " + shell_quote((dir_ / "ca.key").string()) + " -out " +
       shell_quote((dir_ / "ca.crt").string()) + " -days 2 -sha256 -subj /CN=plano-webhook-e2e-ca" +
       " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign");
}

void TestPki::issue(long serial, const fs::path& cert, const fs::path& key) const {
  const auto stem = dir_ / ("leaf-" + std::to_string(serial));
  std::ofstream(stem.string() + ".ext") << "[ext]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                                           "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n";
  must(std::string("openssl req -new ") + kEcKey + " -keyout " + shell_quote(stem.string() + ".key") +
       " -subj /CN=127.0.0.1 -out " + shell_quote(stem.string() + ".csr"));
  must("openssl x509 -req -in " + shell_quote(stem.string() + ".csr") + " -CA " + shell_quote(ca_cert().string()) + " -CAkey " +
       shell_quote((dir_ / "ca.key").string()) + " -set_serial " + std::to_string(serial) + " -days 2 -sha256 -extfile " +
       shell_quote(stem.string() + ".ext") + " -extensions ext -out " + shell_quote(stem.string() + ".crt"));
  fs::rename(stem.string() + ".key", key);
  fs::rename(stem.string() + ".crt", cert);
}

std::string TestPki::ca_base64() const {
  std::string out;
  if (run_command("base64 -w0 " + shell_quote(ca_cert().string()), &out) != 0) throw std::runtime_error("base64: " + out);
  return out;
}

std::shared_ptr<SSL_CTX> TestPki::verifying_context() const {
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  if (!ctx || SSL_CTX_load_verify_locations(ctx.get(), ca_cert().c_str(), nullptr) != 1 ||
      X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(ctx.get()), "127.0.0.1") != 1) {
    throw std::runtime_error("cannot make a TLS context trusting " + ca_cert().string());
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);  // a thousand idle clients stay small
  return ctx;
}

std::string served_serial(int port, const fs::path& ca) {
  // s_client prints the leaf; only a chain verified against `ca` for IP 127.0.0.1 counts.
  const std::string command =
      "out=$(timeout 10 openssl s_client -connect 127.0.0.1:" + std::to_string(port) + " -CAfile " + shell_quote(ca.string()) +
      " -verify_ip 127.0.0.1 -verify_return_error </dev/null 2>&1); "
      "echo \"$out\" | grep -q 'Verify return code: 0 (ok)' && echo \"$out\" | openssl x509 -noout -serial";
  std::string out;
  if (run_command(command, &out) != 0) return "";
  auto eq = out.find("serial=");
  if (eq == std::string::npos) return "";
  auto value = out.substr(eq + 7);
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  return "0x" + value;
}

KubectlResult kubectl_run(const std::string& kubeconfig, const std::string& args) {
  const auto err_file = fs::temp_directory_path() / (unique_name("kubectl-stderr") + ".txt");
  KubectlResult r;
  // The subshell's own redirection keeps stderr out of run_command's 2>&1.
  r.code = run_command("( kubectl --kubeconfig " + shell_quote(kubeconfig) + " " + args + " 2>" + shell_quote(err_file.string()) + " )",
                       &r.out);
  r.err = read_text(err_file);
  fs::remove(err_file);
  return r;
}

std::vector<ManifestObject> read_manifest(const fs::path& file) {
  std::vector<ManifestObject> objects;
  for (auto& doc : io::load_documents({file.string()})) {
    ManifestObject o;
    o.kind = doc.body.value("kind", "");
    const auto meta = doc.body.value("metadata", json::object());
    o.namespace_ = meta.value("namespace", "");
    o.name = meta.value("name", "");
    o.body = std::move(doc.body);
    objects.push_back(std::move(o));
  }
  return objects;
}

fs::path write_manifest(const std::vector<ManifestObject>& objects, const fs::path& dir, const std::string& stem) {
  auto path = dir / (unique_name(stem) + ".yaml");
  std::ofstream out(path);
  for (const auto& o : objects) out << "---\n" << o.body.dump() << "\n";
  if (!out) throw std::runtime_error("cannot write " + path.string());
  return path;
}

std::vector<Expectation> expectations_of(const fs::path& file) {
  std::vector<Expectation> out;
  std::istringstream lines(read_text(file));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# expect: ", 0) != 0) continue;
    const auto rest = line.substr(10);
    const auto first = rest.find(": ");
    const auto second = first == std::string::npos ? first : rest.find(": ", first + 2);
    if (second == std::string::npos) throw std::runtime_error(file.string() + ": malformed expect line: " + line);
    out.push_back({rest.substr(0, first), rest.substr(first + 2, second - first - 2), rest.substr(second + 2)});
  }
  return out;
}

json admission_review(const std::string& uid, const std::string& operation, const json& object) {
  const std::string kind = object.value("kind", "");
  const std::string api_version = object.value("apiVersion", "");
  const auto slash = api_version.find('/');
  const json gvk = {{"group", api_version.substr(0, slash)}, {"version", api_version.substr(slash + 1)}, {"kind", kind}};
  std::string plural = kind;
  for (auto& c : plural) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const json gvr = {{"group", gvk["group"]}, {"version", gvk["version"]}, {"resource", plural + "s"}};
  const auto& meta = object.at("metadata");
  return {{"apiVersion", "admission.k8s.io/v1"},
          {"kind", "AdmissionReview"},
          {"request",
           {{"uid", uid},
            {"kind", gvk},
            {"resource", gvr},
            {"requestKind", gvk},
            {"requestResource", gvr},
            {"name", meta.value("name", "")},
            {"namespace", meta.value("namespace", "")},
            {"operation", operation},
            {"userInfo", {{"username", "system:admin"}, {"groups", {"system:masters", "system:authenticated"}}}},
            {"object", object},
            {"oldObject", nullptr},
            {"dryRun", false},
            {"options", {{"apiVersion", "meta.k8s.io/v1"}, {"kind", "CreateOptions"}}}}}};
}

json provider(const std::string& ns, const std::string& name, const std::string& gw_ns, const std::string& gw,
              json spec) {
  spec["gatewayRef"] = {{"name", gw}, {"namespace", gw_ns}};
  return {{"apiVersion", "plano-operator.io/v1alpha1"},
          {"kind", "ModelProvider"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", spec}};
}

json gateway(const std::string& ns, const std::string& name, json allowed) {
  return {{"apiVersion", "plano-operator.io/v1alpha1"},
          {"kind", "PlanoGateway"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", {{"listeners", {{{"name", "llm"}, {"type", "model"}, {"port", 12000}}}}, {"allowedProviders", allowed}}}};
}

json namespace_object(const std::string& name, bool tenant) {
  json o = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}};
  if (tenant) o["metadata"]["labels"] = {{"plano-operator.io/tenant", "true"}};
  return o;
}

json webhook_configuration(const std::string& name, const std::string& url, const std::string& ca_base64) {
  return {{"apiVersion", "admissionregistration.k8s.io/v1"},
          {"kind", "ValidatingWebhookConfiguration"},
          {"metadata", {{"name", name}}},
          {"webhooks",
           {{{"name", "validate.plano-operator.io"},
             {"clientConfig", {{"url", url}, {"caBundle", ca_base64}}},
             {"rules",
              {{{"apiGroups", {"plano-operator.io"}},
                {"apiVersions", {"v1alpha1"}},
                {"resources", {"modelproviders", "planogateways"}},
                {"operations", {"CREATE", "UPDATE"}}}}},
             {"sideEffects", "None"},
             {"admissionReviewVersions", {"v1"}},
             {"timeoutSeconds", kWebhookTimeoutSeconds},
             {"failurePolicy", "Fail"},
             {"matchPolicy", "Equivalent"}}}}};
}

int admission_port(const OperatorProcess& webhook) {
  static const std::regex line("admission on https://127\\.0\\.0\\.1:([0-9]+)/validate");
  std::smatch m;
  const auto text = webhook.log();
  return std::regex_search(text, m, line) ? std::stoi(m[1]) : 0;
}

std::string probe_get(const OperatorProcess& process, const std::string& path) {
  std::string out;
  if (run_command("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:" + std::to_string(process.probe_port()) + path,
                  &out) != 0) {
    return "";
  }
  return out;
}

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  if (!ok) throw std::runtime_error("no free port");
  return ntohs(addr.sin_port);
}

Memory memory_of(pid_t pid) {
  Memory m;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) m.rssKib = std::stoul(line.substr(6));
    if (line.rfind("VmHWM:", 0) == 0) m.peakKib = std::stoul(line.substr(6));
  }
  return m;
}

}  // namespace plano::testing
