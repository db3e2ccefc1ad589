#include "tests/e2e/cluster_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "core/kube/errors.h"
#include "tests/e2e/operator_process.h"
#include "tests/support/control_plane.h"

namespace plano::testing {

namespace fs = std::filesystem;
using nlohmann::json;
namespace res = kube::resources;

std::string log_file(const std::string& name) {
  return (fs::temp_directory_path() / (unique_name("operator-" + name) + ".log")).string();
}

json get_or_null(kube::ApiClient& client, const kube::Resource& r, const std::string& ns, const std::string& name) {
  try {
    return client.get(r, ns, name);
  } catch (const kube::ApiError& e) {
    if (e.is(kube::ErrorReason::NotFound)) return nullptr;
    throw;
  }
}

json get_or_null(const kube::Resource& r, const std::string& ns, const std::string& name) {
  return get_or_null(admin_client(), r, ns, name);
}

std::string config_of(kube::ApiClient& client, const std::string& ns, const std::string& gateway) {
  auto cm = get_or_null(client, res::kConfigMaps, ns, gateway + "-plano-config");
  if (cm.is_null()) return "";
  return cm["data"].value("plano_config.yaml", "");
}

std::string config_of(const std::string& ns, const std::string& gateway) { return config_of(admin_client(), ns, gateway); }

json condition(const json& object, const std::string& type) {
  for (const auto& c : object.value("status", json::object()).value("conditions", json::array())) {
    if (c["type"] == type) return c;
  }
  return nullptr;
}

bool has_condition(const kube::Resource& r, const std::string& ns, const std::string& name, const std::string& type,
                   const std::string& status, const std::string& reason) {
  auto o = get_or_null(r, ns, name);
  if (o.is_null()) return false;
  auto c = condition(o, type);
  return !c.is_null() && c["status"] == status && (reason.empty() || c["reason"] == reason) &&
         c["observedGeneration"] == o["metadata"]["generation"];
}

std::string kubectl(const std::string& args) {
  std::string out;
  int code = run_command("kubectl --kubeconfig " + control_plane().kubeconfig_path() + " " + args, &out);
  if (code != 0) throw std::runtime_error("kubectl " + args + " failed: " + out);
  return out;
}

void apply_yaml(const std::string& yaml) {
  auto path = fs::temp_directory_path() / (unique_name("manifest") + ".yaml");
  std::ofstream(path) << yaml;
  kubectl("apply -f " + path.string());
  fs::remove(path);
}

std::string gateway_yaml(const std::string& ns, const std::string& name, const std::string& allowed,
                         const std::string& deployment) {
  return "apiVersion: plano-operator.io/v1alpha1\nkind: PlanoGateway\nmetadata: {name: " + name + ", namespace: " + ns +
         "}\nspec:\n  listeners: [{name: llm, type: model, port: 12000}]\n  allowedProviders: " + allowed +
         "\n  deployment: {" + deployment + "}\n";
}

std::string provider_yaml(const std::string& ns, const std::string& name, const std::string& gw_ns,
                          const std::string& spec_lines) {
  return "---\napiVersion: plano-operator.io/v1alpha1\nkind: ModelProvider\nmetadata: {name: " + name + ", namespace: " +
         ns + "}\nspec:\n  gatewayRef: {name: gw, namespace: " + gw_ns + "}\n" + spec_lines;
}

std::string rollout_of(const std::string& ns, const std::string& gateway) {
  auto d = get_or_null(res::kDeployments, ns, gateway + "-plano");
  if (d.is_null()) return "";
  return d["spec"]["template"]["metadata"]["annotations"].value("plano-operator.io/config-hash", "");
}

std::string settled_rollout_of(const std::string& ns, const std::string& gateway) {
  const auto rollout = rollout_of(ns, gateway);
  auto gw = get_or_null(res::kPlanoGateways, ns, gateway);
  if (gw.is_null() || rollout.empty()) return "";
  return gw.value("status", json::object()).value("configHash", "") == rollout ? rollout : "";
}

std::string render(const std::string& file, const std::string& gateway) {
  std::string out;
  // Warnings go to stderr, which run_command would merge into the output: the subshell drops them.
  EXPECT_EQ(run_command("( " + std::string(PLANO_BINARY) + " render -f " + shell_quote(file) + " --gateway " + gateway + " 2>/dev/null )", &out), 0);
  return out;
}

std::string render_stored(kube::ApiClient& client, const std::string& ns, const std::string& gateway, const fs::path& dir) {
  // Only what a user wrote: the server's bookkeeping and the operator's status are not input.
  auto as_input = [](const json& o) {
    const auto& meta = o["metadata"];
    return json{{"apiVersion", o["apiVersion"]},
                {"kind", o["kind"]},
                {"metadata", {{"name", meta["name"]}, {"namespace", meta["namespace"]}, {"creationTimestamp", meta["creationTimestamp"]}}},
                {"spec", o["spec"]}};
  };
  std::vector<json> providers;
  for (const auto& p : client.list(res::kModelProviders, "").items) {
    const auto& ref = p["spec"]["gatewayRef"];
    if (ref.value("name", "") == gateway && ref.value("namespace", p["metadata"].value("namespace", "")) == ns) {
      providers.push_back(as_input(p));
    }
  }
  std::sort(providers.begin(), providers.end(), [](const json& a, const json& b) {
    auto key = [](const json& o) {
      const auto& m = o["metadata"];
      return std::make_tuple(m["creationTimestamp"].get<std::string>(), m["namespace"].get<std::string>(), m["name"].get<std::string>());
    };
    return key(a) < key(b);
  });
  const auto path = dir / (unique_name("stored") + ".yaml");
  {
    std::ofstream out(path);
    out << "---\n" << as_input(client.get(res::kPlanoGateways, ns, gateway)).dump() << "\n";
    for (const auto& p : providers) out << "---\n" << p.dump() << "\n";
  }
  return render(path.string(), ns + "/" + gateway);
}

int start_up(kube::ApiClient& client, const std::string& ns, const std::string& gateway, const fs::path& dir,
             std::string* report) {
  const auto work = dir / unique_name("start-up");
  fs::create_directories(work);
  auto write = [&](const std::string& file, const json& content) {
    std::ofstream(work / file) << content.dump();
    return (work / file).string();
  };
  // List items come without kind, as the API server lists them; kubectl adds it back, and so does this.
  auto list_of = [&](const kube::Resource& r, const char* kind) {
    json items = json::array();
    for (auto item : client.list(r, "").items) {
      item["kind"] = kind;
      items.push_back(std::move(item));
    }
    return json{{"kind", "List"}, {"items", items}};
  };
  {
    std::ofstream(work / "plano_config.yaml") << config_of(client, ns, gateway);
  }
  auto keys = client.get(res::kSecrets, ns, gateway + "-plano-keys");
  keys["kind"] = "Secret";
  auto gw = client.get(res::kPlanoGateways, ns, gateway);
  gw["kind"] = "PlanoGateway";
  const std::string command =
      shell_quote(std::string(PLANO_SOURCE_DIR) + "/.cache/venv/bin/python") + " " +
      shell_quote(std::string(PLANO_SOURCE_DIR) + "/tests/startup/plano_startup.py") + " --config " +
      shell_quote((work / "plano_config.yaml").string()) + " --gateway " + shell_quote(ns + "/" + gateway) +
      " --keys " + shell_quote(write("keys.json", keys)) + " --objects " + shell_quote(write("gateway.json", gw)) +
      " --objects " + shell_quote(write("providers.json", list_of(res::kModelProviders, "ModelProvider"))) +
      " --secrets " + shell_quote(write("secrets.json", list_of(res::kSecrets, "Secret")));
  const int code = run_command(command, report);
  std::error_code ignored;
  fs::remove_all(work, ignored);
  return code;
}

}  // namespace plano::testing
