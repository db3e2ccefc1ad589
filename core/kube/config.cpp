#include "core/kube/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>
#include <vector>

#include "core/encoding/base64.h"
#include "core/kube/errors.h"

namespace plano::kube {

namespace fs = std::filesystem;

namespace {

std::optional<std::string> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return content.str();
}

std::string trim(std::string s) {
  const char* space = " \t\r\n";
  s.erase(s.find_last_not_of(space) + 1);
  s.erase(0, s.find_first_not_of(space));
  return s;
}

std::string getenv_string(const char* name) {
  const char* value = std::getenv(name);
  return value ? std::string(value) : std::string();
}

}  // namespace

// ---- TokenSource ----

TokenSource::TokenSource(fs::path path, std::string fallback, std::chrono::seconds max_age)
    : path_(std::move(path)), fallback_(std::move(fallback)), max_age_(max_age) {}

std::shared_ptr<TokenSource> TokenSource::fixed(std::string token) {
  return std::shared_ptr<TokenSource>(new TokenSource({}, std::move(token), std::chrono::seconds(0)));
}

std::shared_ptr<TokenSource> TokenSource::from_file(fs::path path, std::string fallback_token,
                                                    std::chrono::seconds max_age) {
  return std::shared_ptr<TokenSource>(new TokenSource(std::move(path), std::move(fallback_token), max_age));
}

std::string TokenSource::token() {
  if (path_.empty()) return fallback_;
  std::lock_guard lock(mu_);
  auto now = std::chrono::steady_clock::now();
  if (!read_at_ || now - *read_at_ >= max_age_) {
    if (auto content = read_file(path_)) {
      std::string token = trim(*content);
      if (!token.empty()) cached_ = std::move(token);
    }
    // Even a failed read waits max_age before the next try, so a missing file
    // is not re-opened on every request.
    read_at_ = now;
  }
  if (!cached_.empty()) return cached_;
  if (!fallback_.empty()) return fallback_;
  throw ConfigError("bearer token file " + path_.string() +
                    " is missing, unreadable or empty; check the service account token mount or tokenFile");
}

void TokenSource::invalidate() {
  std::lock_guard lock(mu_);
  read_at_.reset();
}

// ---- kubeconfig ----

namespace {

// One named entry (cluster, user or context) and the directory its relative paths are relative to.
struct Entry {
  YAML::Node node;
  fs::path base_dir;
};

struct MergedKubeconfig {
  std::map<std::string, Entry> clusters;
  std::map<std::string, Entry> users;
  std::map<std::string, Entry> contexts;
  std::string current_context;
  std::string origin;
};

std::string scalar(const YAML::Node& node, const char* key) {
  if (!node || !node.IsMap()) return {};
  YAML::Node value = node[key];
  if (!value || !value.IsScalar()) return {};
  return value.as<std::string>();
}

bool boolean(const YAML::Node& node, const char* key) {
  if (!node || !node.IsMap()) return false;
  YAML::Node value = node[key];
  if (!value || !value.IsScalar()) return false;
  try {
    return value.as<bool>();
  } catch (const YAML::Exception&) {
    return false;
  }
}

// Adds the named list entries of one file; an earlier file wins on a name clash (kubectl's merge rule).
void collect(const YAML::Node& root, const char* list_key, const char* item_key, const fs::path& base_dir,
             const std::string& origin, std::map<std::string, Entry>& into) {
  YAML::Node list = root[list_key];
  if (!list || list.IsNull()) return;
  if (!list.IsSequence()) throw ConfigError(origin + ": '" + list_key + "' must be a list");
  for (const auto& item : list) {
    std::string name = scalar(item, "name");
    if (name.empty()) throw ConfigError(origin + ": an entry of '" + list_key + "' has no name");
    into.emplace(name, Entry{item[item_key], base_dir});
  }
}

void merge_text(MergedKubeconfig& merged, const std::string& text, const fs::path& base_dir,
                const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(origin + ": not valid YAML: " + e.what());
  }
  if (root.IsNull()) return;  // an empty file contributes nothing, like kubectl
  if (!root.IsMap()) throw ConfigError(origin + ": expected a kubeconfig mapping at the top level");
  collect(root, "clusters", "cluster", base_dir, origin, merged.clusters);
  collect(root, "users", "user", base_dir, origin, merged.users);
  collect(root, "contexts", "context", base_dir, origin, merged.contexts);
  if (merged.current_context.empty()) merged.current_context = scalar(root, "current-context");
}

fs::path resolve(const fs::path& base_dir, const std::string& file) {
  fs::path p(file);
  return p.is_absolute() || base_dir.empty() ? p : base_dir / p;
}

// The PEM from `<key>-data` (base64) or from the file `<key>`; data wins, as in client-go.
std::string pem_from(const Entry& entry, const char* key, const std::string& where) {
  std::string data_key = std::string(key) + "-data";
  std::string data = scalar(entry.node, data_key.c_str());
  if (!data.empty()) {
    // Line-wrapped base64 is accepted, as kubectl does.
    data.erase(std::remove_if(data.begin(), data.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); }),
               data.end());
    auto decoded = encoding::base64_decode(data);
    if (!decoded) throw ConfigError(where + ": " + data_key + " is not valid base64; re-encode it with `base64 -w0`");
    return *decoded;
  }
  std::string file = scalar(entry.node, key);
  if (file.empty()) return {};
  fs::path path = resolve(entry.base_dir, file);
  auto content = read_file(path);
  if (!content) throw ConfigError(where + ": cannot read " + key + " file " + path.string() + "; fix the path");
  return *content;
}

std::string names_of(const std::map<std::string, Entry>& entries) {
  std::string out;
  for (const auto& [name, _] : entries) out += (out.empty() ? "" : ", ") + name;
  return out.empty() ? "none" : out;
}

ClientConfig build(const MergedKubeconfig& merged, const std::string& wanted_context) {
  const std::string& origin = merged.origin;
  std::string context_name = wanted_context.empty() ? merged.current_context : wanted_context;
  if (context_name.empty()) {
    throw ConfigError(origin + ": no current-context is set and no context was named; set current-context or pass "
                      "a context (available: " + names_of(merged.contexts) + ")");
  }
  auto ctx_it = merged.contexts.find(context_name);
  if (ctx_it == merged.contexts.end()) {
    throw ConfigError(origin + ": context \"" + context_name + "\" not found (available: " +
                      names_of(merged.contexts) + ")");
  }
  const YAML::Node& context = ctx_it->second.node;
  std::string where = origin + " (context " + context_name + ")";

  std::string cluster_name = scalar(context, "cluster");
  auto cluster_it = merged.clusters.find(cluster_name);
  if (cluster_it == merged.clusters.end()) {
    throw ConfigError(where + ": cluster \"" + cluster_name + "\" not found (available: " +
                      names_of(merged.clusters) + ")");
  }
  const Entry& cluster = cluster_it->second;

  ClientConfig config;
  config.origin = where;
  config.server = scalar(cluster.node, "server");
  if (config.server.empty()) throw ConfigError(where + ": cluster \"" + cluster_name + "\" has no server");
  while (!config.server.empty() && config.server.back() == '/') config.server.pop_back();
  config.ca_pem = pem_from(cluster, "certificate-authority", where);
  config.insecure_skip_tls_verify = boolean(cluster.node, "insecure-skip-tls-verify");
  std::string ns = scalar(context, "namespace");
  if (!ns.empty()) config.namespace_ = ns;

  std::string user_name = scalar(context, "user");
  if (!user_name.empty()) {
    auto user_it = merged.users.find(user_name);
    if (user_it == merged.users.end()) {
      throw ConfigError(where + ": user \"" + user_name + "\" not found (available: " + names_of(merged.users) + ")");
    }
    const Entry& user = user_it->second;
    config.client_cert_pem = pem_from(user, "client-certificate", where);
    config.client_key_pem = pem_from(user, "client-key", where);
    if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
      throw ConfigError(where + ": user \"" + user_name +
                        "\" has a client certificate without a key or a key without a certificate; set both");
    }
    std::string token = scalar(user.node, "token");
    std::string token_file = scalar(user.node, "tokenFile");
    if (!token_file.empty()) {
      // The file is re-read periodically and its last good value beats `token` (client-go's rule).
      config.token = TokenSource::from_file(resolve(user.base_dir, token_file), token);
    } else if (!token.empty()) {
      config.token = TokenSource::fixed(token);
    }
    bool has_credentials = config.token || !config.client_cert_pem.empty();
    if (!has_credentials) {
      for (const char* unsupported : {"exec", "auth-provider", "username"}) {
        if (user.node && user.node.IsMap() && user.node[unsupported]) {
          throw ConfigError(where + ": user \"" + user_name + "\" authenticates with '" + unsupported +
                            "', which plano-operator does not support; use a kubeconfig with a token, tokenFile "
                            "or client certificate");
        }
      }
    }
  }
  return config;
}

std::vector<std::string> split_paths(const std::string& list) {
  std::vector<std::string> out;
  std::string::size_type start = 0;
  while (start <= list.size()) {
    auto end = list.find(':', start);
    if (end == std::string::npos) end = list.size();
    if (end > start) out.push_back(list.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

fs::path home_kubeconfig() {
  std::string home = getenv_string("HOME");
  return home.empty() ? fs::path() : fs::path(home) / ".kube" / "config";
}

}  // namespace

ClientConfig parse_kubeconfig(const std::string& text, const fs::path& base_dir, const std::string& context,
                              const std::string& origin) {
  MergedKubeconfig merged;
  merged.origin = origin;
  merge_text(merged, text, base_dir, origin);
  return build(merged, context);
}

ClientConfig load_kubeconfig(const KubeconfigOptions& options) {
  std::vector<std::string> paths;
  if (!options.path.empty()) {
    paths.push_back(options.path);
  } else if (std::string env = getenv_string("KUBECONFIG"); !env.empty()) {
    paths = split_paths(env);
  } else if (fs::path home = home_kubeconfig(); !home.empty()) {
    paths.push_back(home.string());
  }
  if (paths.empty()) throw ConfigError("no kubeconfig: pass a path, set KUBECONFIG or create ~/.kube/config");

  MergedKubeconfig merged;
  merged.origin = "kubeconfig " + paths.front();
  for (size_t i = 1; i < paths.size(); ++i) merged.origin += ":" + paths[i];
  bool read_any = false;
  for (const auto& p : paths) {
    auto content = read_file(p);
    if (!content) {
      // A single explicit file must exist; in a KUBECONFIG list missing files are skipped, like kubectl.
      if (paths.size() == 1) throw ConfigError("cannot read kubeconfig " + p + "; check the path or KUBECONFIG");
      continue;
    }
    read_any = true;
    fs::path absolute = fs::absolute(p);
    merge_text(merged, *content, absolute.parent_path(), "kubeconfig " + p);
  }
  if (!read_any) throw ConfigError("none of the kubeconfig files " + merged.origin.substr(11) + " can be read");
  return build(merged, options.context);
}

bool in_cluster_available(const fs::path& dir) {
  return !getenv_string("KUBERNETES_SERVICE_HOST").empty() && fs::exists(dir / "token");
}

ClientConfig in_cluster_config(const fs::path& dir) {
  std::string host = getenv_string("KUBERNETES_SERVICE_HOST");
  std::string port = getenv_string("KUBERNETES_SERVICE_PORT");
  if (host.empty() || port.empty()) {
    throw ConfigError("not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set "
                      "(outside a cluster use a kubeconfig)");
  }
  // An IPv6 service IP must be bracketed in a URL.
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";

  ClientConfig config;
  config.origin = "in-cluster (" + dir.string() + ")";
  config.server = "https://" + host + ":" + port;
  fs::path token_path = dir / "token";
  if (!fs::exists(token_path)) {
    throw ConfigError("in-cluster: no service account token at " + token_path.string() +
                      "; is automountServiceAccountToken disabled for this pod?");
  }
  config.token = TokenSource::from_file(token_path);
  auto ca = read_file(dir / "ca.crt");
  if (!ca) throw ConfigError("in-cluster: cannot read " + (dir / "ca.crt").string());
  config.ca_pem = *ca;
  if (auto ns = read_file(dir / "namespace")) {
    std::string trimmed = trim(*ns);
    if (!trimmed.empty()) config.namespace_ = trimmed;
  }
  return config;
}

ClientConfig load_config(const std::string& kubeconfig_path, const std::string& context) {
  if (!kubeconfig_path.empty()) return load_kubeconfig({kubeconfig_path, context});
  if (!getenv_string("KUBECONFIG").empty()) return load_kubeconfig({{}, context});
  if (in_cluster_available()) return in_cluster_config();
  fs::path home = home_kubeconfig();
  if (!home.empty() && fs::exists(home)) return load_kubeconfig({home.string(), context});
  throw ConfigError("no Kubernetes configuration found: not in a cluster, KUBECONFIG unset and no ~/.kube/config");
}

}  // namespace plano::kube
