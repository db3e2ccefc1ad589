#include "cli/offline_commands.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <ostream>

#include "core/io/documents.h"
#include "core/io/manifest_set.h"
#include "core/render/renderer.h"

namespace plano::cli {
namespace {

struct Options {
  std::vector<std::string> paths;
  std::string output = "text";
  std::string gateway;  // namespace/name
};

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

Options parse(const std::vector<std::string>& args, bool render) {
  Options o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw UsageError(a + " needs a value");
      return args[++i];
    };
    if (a == "-f" || a == "--filename") {
      // -f takes one or more paths: -f a.yaml b.yaml, as a shell glob expands.
      o.paths.push_back(value());
      while (i + 1 < args.size() && (args[i + 1] == "-" || args[i + 1].rfind('-', 0) != 0)) o.paths.push_back(args[++i]);
    }
    else if (!render && (a == "-o" || a == "--output")) o.output = value();
    else if (render && a == "--gateway") o.gateway = value();
    else throw UsageError("unknown argument \"" + a + "\"");
  }
  if (o.paths.empty()) throw UsageError("give at least one -f PATH (a file, a directory, or - for stdin)");
  if (o.output != "text" && o.output != "json") throw UsageError("-o must be text or json");
  if (!o.gateway.empty() && o.gateway.find('/') == std::string::npos) {
    throw UsageError("--gateway takes NAMESPACE/NAME, e.g. platform/shared");
  }
  return o;
}

void print_line(std::ostream& out, const io::ManifestSet& set, const rules::Finding& f) {
  out << set.where(f.object) << ": " << f.object.describe() << ": " << (f.field.empty() ? "-" : f.field) << ": "
      << rules::to_string(f.severity) << ": " << f.message << "\n";
}

std::vector<rules::Finding> all_findings(const io::ManifestSet& set, const rules::Evaluation& ev) {
  std::vector<rules::Finding> all = set.findings;
  all.insert(all.end(), ev.findings.begin(), ev.findings.end());
  return all;
}

const char* kUsage =
    "usage: plano-operator validate -f PATH... [-o text|json]\n"
    "       plano-operator render -f PATH... [--gateway NAMESPACE/NAME]\n"
    "PATH is a file, a directory (searched for *.yaml, *.yml, *.json) or - for stdin.\n";

// Parses the flags and reads the manifests; nullopt (after saying why on err) for exit code 2.
std::optional<std::pair<Options, io::ManifestSet>> load(const std::vector<std::string>& args, bool render,
                                                        std::ostream& err) {
  const char* command = render ? "plano-operator render: " : "plano-operator validate: ";
  try {
    Options o = parse(args, render);
    auto set = io::collect(io::load_documents(o.paths));
    return std::make_pair(std::move(o), std::move(set));
  } catch (const UsageError& e) {
    err << command << e.what() << "\n" << kUsage;
  } catch (const io::InputError& e) {
    err << command << e.what() << "\n";
  }
  return std::nullopt;
}

}  // namespace

int validate_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  auto loaded = load(args, false, err);
  if (!loaded) return kExitUsage;
  const auto& [o, set] = *loaded;
  auto ev = set.evaluate();
  auto findings = all_findings(set, ev);
  const bool invalid = rules::has_error(findings);
  if (o.output == "json") {
    nlohmann::json j = {{"valid", !invalid}, {"findings", nlohmann::json::array()}, {"notes", set.notes}};
    for (const auto& f : findings) {
      j["findings"].push_back({{"source", set.where(f.object)},
                               {"kind", f.object.kind},
                               {"namespace", f.object.namespace_},
                               {"name", f.object.name},
                               {"field", f.field},
                               {"severity", rules::to_string(f.severity)},
                               {"message", f.message}});
    }
    // A finding may quote input that is not UTF-8 (a YAML file's bytes): replaced, never thrown on.
    out << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    for (const auto& note : set.notes) err << "note: " << note << "\n";
    for (const auto& f : findings) print_line(out, set, f);
    out << (invalid ? "invalid" : "valid") << ": " << set.gateways.size() << " gateway(s), " << set.providers.size()
        << " provider(s)\n";
  }
  return invalid ? kExitInvalid : kExitOk;
}

int render_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  auto loaded = load(args, true, err);
  if (!loaded) return kExitUsage;
  const auto& [o, set] = *loaded;
  auto ev = set.evaluate();
  auto findings = all_findings(set, ev);
  for (const auto& f : findings) print_line(err, set, f);
  if (rules::has_error(findings)) {
    err << "plano-operator render: the input breaks the rules above; nothing rendered\n";
    return kExitInvalid;
  }
  if (!o.gateway.empty() && !ev.gateways.count(o.gateway)) {
    err << "plano-operator render: no PlanoGateway " << o.gateway << " in the input\n";
    return kExitUsage;
  }
  bool first = true;
  for (const auto& [key, result] : ev.gateways) {
    if (!o.gateway.empty() && key != o.gateway) continue;
    if (!first) out << "---\n";
    first = false;
    out << render::render(*result.gateway, result.accepted).config;
  }
  if (first) err << "plano-operator render: the input holds no PlanoGateway\n";
  return kExitOk;
}

}  // namespace plano::cli
