#include "cli/server_commands.h"

#include <malloc.h>

#include <cstdlib>
#include <functional>
#include <map>
#include <ostream>
#include <stdexcept>

#include "cli/offline_commands.h"
#include "core/log/logging.h"
#include "operator/manager.h"
#include "webhook/webhook_server.h"

namespace plano::cli {
namespace {

// --name=value or --name value; each flag may also come from an environment variable.
struct Flag {
  std::string name, env, help;
  std::function<void(const std::string&)> set;
};

void parse_flags(const std::vector<std::string>& args, const std::vector<Flag>& flags) {
  for (const auto& f : flags) {
    if (const char* v = std::getenv(f.env.c_str()); v && *v) f.set(v);
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i], value;
    bool has_value = false;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    auto it = std::find_if(flags.begin(), flags.end(), [&](const Flag& f) { return "--" + f.name == arg; });
    if (it == flags.end()) throw std::invalid_argument("unknown flag \"" + arg + "\"; see --help");
    if (!has_value) {
      if (i + 1 >= args.size()) throw std::invalid_argument(arg + " needs a value");
      value = args[++i];
    }
    it->set(value);
  }
}

bool parse_bool(const std::string& v, const std::string& flag) {
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  throw std::invalid_argument(flag + " must be true or false");
}

// A whole number, at least 1 (or 0 when `zero_allowed`).
int parse_count(const std::string& v, const std::string& flag, bool zero_allowed = false) {
  try {
    int n = std::stoi(v);
    if (n > 0 || (zero_allowed && n == 0)) return n;
  } catch (const std::exception&) {
  }
  throw std::invalid_argument(flag + (zero_allowed ? " must be 0 or a positive integer" : " must be a positive integer"));
}

int parse_positive(const std::string& v, const std::string& flag) { return parse_count(v, flag); }

op::WebhookCertMode parse_cert_mode(const std::string& v) {
  if (v == "self-managed") return op::WebhookCertMode::SelfManaged;
  if (v == "none") return op::WebhookCertMode::None;
  throw std::invalid_argument("--webhook-cert-mode must be self-managed or none, not \"" + v + "\"");
}

std::string usage(const std::string& command, const std::vector<Flag>& flags) {
  std::string out = "usage: plano-operator " + command + " [flags]\n";
  for (const auto& f : flags) out += "  --" + f.name + "  " + f.help + " (env " + f.env + ")\n";
  return out;
}

// Flags both long-running commands take, bound to their option fields.
struct Common {
  std::string level = "info", format = "text";
};
std::vector<Flag> common_flags(std::string& kubeconfig, std::string& context, std::string& watch_namespace, Common& c) {
  return {
      {"kubeconfig", "KUBECONFIG_PATH", "kubeconfig file; default $KUBECONFIG, in-cluster, ~/.kube/config", [&](auto v) { kubeconfig = v; }},
      {"context", "PLANO_CONTEXT", "kubeconfig context; default the current one", [&](auto v) { context = v; }},
      {"watch-namespace", "PLANO_WATCH_NAMESPACE", "only this namespace; default all", [&](auto v) { watch_namespace = v; }},
      {"log-level", "PLANO_LOG_LEVEL", "trace, debug, info, warn, error; default info", [&](auto v) { c.level = v; }},
      {"log-format", "PLANO_LOG_FORMAT", "text or json; default text", [&](auto v) { c.format = v; }},
  };
}

// --help, flag parsing, logging set-up, then `run`; usage errors exit 2, failures 1.
int serve(const std::string& command, const std::vector<std::string>& args, const std::vector<Flag>& flags,
          const Common& common, const std::function<int()>& run, std::ostream& out, std::ostream& err) {
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    out << usage(command, flags);
    return kExitOk;
  }
  try {
    parse_flags(args, flags);
    log::configure(common.level, common.format);
  } catch (const std::invalid_argument& e) {
    err << "plano-operator " << command << ": " << e.what() << "\n" << usage(command, flags);
    return kExitUsage;
  }
  // glibc gives each busy thread its own heap arena (up to 8 per core), each holding freed memory;
  // two arenas serve a server of mostly idle threads just as well with less resident memory.
  mallopt(M_ARENA_MAX, 2);
  try {
    return run();
  } catch (const std::exception& e) {
    err << "plano-operator " << command << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace

int operator_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  op::ManagerOptions o;
  Common common;
  auto flags = common_flags(o.kubeconfig, o.context, o.watchNamespace, common);
  flags.insert(flags.end(), {
      {"probe-address", "PLANO_PROBE_ADDRESS", "HOST:PORT for /metrics, /healthz, /readyz; default 0.0.0.0:8080", [&](auto v) { o.probeAddress = v; }},
      {"leader-elect", "PLANO_LEADER_ELECT", "true or false; default true", [&](auto v) { o.leaderElect = parse_bool(v, "--leader-elect"); }},
      {"lease-namespace", "POD_NAMESPACE", "namespace of the leader-election Lease; default the client's namespace", [&](auto v) { o.leaseNamespace = v; }},
      {"lease-name", "PLANO_LEASE_NAME", "name of the Lease; default plano-operator", [&](auto v) { o.leaseName = v; }},
      {"identity", "POD_NAME", "this replica's identity in the Lease; default hostname_pid", [&](auto v) { o.identity = v; }},
      {"workers", "PLANO_WORKERS", "concurrent reconciles; default 2", [&](auto v) { o.workers = parse_positive(v, "--workers"); }},
      {"resync-seconds", "PLANO_RESYNC_SECONDS", "reconcile every gateway at least this often; default 600",
       [&](auto v) { o.resync = std::chrono::seconds(parse_positive(v, "--resync-seconds")); }},
      {"webhook-cert-mode", "PLANO_WEBHOOK_CERT_MODE",
       "self-managed (this operator issues the webhook's certificate and fills caBundle) or none (cert-manager or "
       "your own Secret does); default none",
       [&](auto v) { o.webhookCertMode = parse_cert_mode(v); }},
      {"webhook-namespace", "PLANO_WEBHOOK_NAMESPACE", "namespace of the webhook Service and Secret; default the Lease's",
       [&](auto v) { o.webhookNamespace = v; }},
      {"webhook-service", "PLANO_WEBHOOK_SERVICE", "webhook Service the certificate names; default plano-operator-webhook",
       [&](auto v) { o.webhookService = v; }},
      {"webhook-secret", "PLANO_WEBHOOK_SECRET", "kubernetes.io/tls Secret for the certificate; default plano-operator-webhook-tls",
       [&](auto v) { o.webhookSecret = v; }},
      {"webhook-configuration", "PLANO_WEBHOOK_CONFIGURATION",
       "ValidatingWebhookConfiguration whose caBundle is kept in sync; default plano-operator",
       [&](auto v) { o.webhookConfiguration = v; }},
      {"webhook-cert-validity-hours", "PLANO_WEBHOOK_CERT_VALIDITY_HOURS",
       "serving certificate lifetime, renewed with a third left; default 8760 (the CA lives 10 years)",
       [&](auto v) { o.webhookCertValidity = std::chrono::hours(parse_positive(v, "--webhook-cert-validity-hours")); }},
      {"webhook-secret-owned-by-configuration", "PLANO_WEBHOOK_SECRET_OWNED_BY_CONFIGURATION",
       "true: the Secret gets an owner reference to the ValidatingWebhookConfiguration, so deleting that (helm "
       "uninstall) deletes the Secret and its CA key too; false removes it; default false",
       [&](auto v) { o.webhookSecretOwnedByConfiguration = parse_bool(v, "--webhook-secret-owned-by-configuration"); }},
  });
  return serve("operator", args, flags, common, [&] { return op::run_manager(o); }, out, err);
}

int webhook_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  webhook::WebhookOptions o;
  Common common;
  auto flags = common_flags(o.kubeconfig, o.context, o.watchNamespace, common);
  flags.insert(flags.end(), {
      {"listen-address", "PLANO_LISTEN_ADDRESS", "HOST:PORT for HTTPS AdmissionReviews at /validate; default 0.0.0.0:9443", [&](auto v) { o.listenAddress = v; }},
      {"probe-address", "PLANO_PROBE_ADDRESS", "HOST:PORT for /metrics, /healthz, /readyz; default 0.0.0.0:8081", [&](auto v) { o.probeAddress = v; }},
      {"tls-cert-file", "PLANO_TLS_CERT_FILE", "serving certificate chain (PEM), reloaded when it changes; default /tls/tls.crt", [&](auto v) { o.certFile = v; }},
      {"tls-key-file", "PLANO_TLS_KEY_FILE", "serving key (PEM); default /tls/tls.key", [&](auto v) { o.keyFile = v; }},
      {"threads", "PLANO_THREADS", "server threads; default 2", [&](auto v) { o.threads = parse_positive(v, "--threads"); }},
      {"max-connections", "PLANO_MAX_CONNECTIONS",
       "connections held at once; at the cap a new one evicts the one waiting longest (idle, or still sending its "
       "request); default 512",
       [&](auto v) { o.maxConnections = static_cast<std::size_t>(parse_positive(v, "--max-connections")); }},
      {"request-timeout-seconds", "PLANO_REQUEST_TIMEOUT_SECONDS",
       "a request's header and body must arrive within this; default 10 (the API server's default webhook timeout)",
       [&](auto v) { o.requestTimeout = std::chrono::seconds(parse_positive(v, "--request-timeout-seconds")); }},
      {"min-request-bytes-per-second", "PLANO_MIN_REQUEST_BYTES_PER_SECOND",
       "a request still arriving that brings less than this over 2 s is cut; 0 turns the check off; default 1024",
       [&](auto v) {
         o.minRequestBytesPerSecond = static_cast<std::size_t>(parse_count(v, "--min-request-bytes-per-second", true));
       }},
      {"body-budget-mib", "PLANO_BODY_BUDGET_MIB",
       "request bodies over 64 KiB held at once; over it a request waits up to 1 s, then gets 503; default 32",
       [&](auto v) { o.bodyBudgetBytes = static_cast<std::size_t>(parse_positive(v, "--body-budget-mib")) << 20; }},
  });
  return serve("webhook", args, flags, common, [&] { return webhook::run_webhook(o); }, out, err);
}

}  // namespace plano::cli
