#include "cli/offline_commands.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace plano::cli {
namespace {

const char* kGateway = R"(apiVersion: plano-operator.io/v1alpha1
kind: PlanoGateway
metadata: {name: shared, namespace: platform}
spec:
  listeners: [{name: llm, type: model, port: 12000}]
  allowedProviders: {namespaces: {from: All}}
)";

const char* kGoodProvider = R"(apiVersion: plano-operator.io/v1alpha1
kind: ModelProvider
metadata: {name: gpt4, namespace: team-a}
spec:
  gatewayRef: {name: shared, namespace: platform}
  model: openai/gpt-4o
  passthroughAuth: true
  default: true
)";

const char* kBadProvider = R"(apiVersion: plano-operator.io/v1alpha1
kind: ModelProvider
metadata: {name: mixed, namespace: team-b}
spec:
  gatewayRef: {name: shared, namespace: platform}
  model: openai/gpt-4o-mini
  passthroughAuth: true
  accessKeySecretRef: {name: openai, key: api-key}
)";

class OfflineCommands : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("plano-cli-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    auto p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  int validate(std::vector<std::string> args) {
    out_.str(""), err_.str("");
    return validate_command(args, out_, err_);
  }
  int render(std::vector<std::string> args) {
    out_.str(""), err_.str("");
    return render_command(args, out_, err_);
  }
  std::filesystem::path dir_;
  std::ostringstream out_, err_;
};

TEST_F(OfflineCommands, ValidInputExitsZero) {
  auto f = write("ok.yaml", std::string(kGateway) + "---\n" + kGoodProvider);
  EXPECT_EQ(validate({"-f", f}), kExitOk) << out_.str() << err_.str();
  EXPECT_NE(out_.str().find("valid: 1 gateway(s), 1 provider(s)"), std::string::npos) << out_.str();
}

TEST_F(OfflineCommands, WarningsStillExitZero) {
  auto f = write("warn.yaml", std::string(kGateway) + "---\n" + std::string(kGoodProvider).substr(0, std::string(kGoodProvider).find("  default")));
  EXPECT_EQ(validate({"-f", f}), kExitOk) << out_.str();
  EXPECT_NE(out_.str().find(": warning: "), std::string::npos) << out_.str();
}

TEST_F(OfflineCommands, ErrorLineNamesFileDocumentObjectAndField) {
  auto f = write("bad.yaml", std::string(kGateway) + "---\n" + kGoodProvider + "---\n" + kBadProvider);
  EXPECT_EQ(validate({"-f", f}), kExitInvalid);
  EXPECT_NE(out_.str().find(f + ":3: ModelProvider/team-b/mixed: spec.accessKeySecretRef: error: "), std::string::npos)
      << out_.str();
}

TEST_F(OfflineCommands, JsonOutput) {
  auto f = write("bad.yaml", std::string(kGateway) + "---\n" + kBadProvider);
  EXPECT_EQ(validate({"-f", f, "-o", "json"}), kExitInvalid);
  auto j = nlohmann::json::parse(out_.str());
  EXPECT_EQ(j["valid"], false);
  bool found = false;
  for (const auto& finding : j["findings"]) {
    if (finding["field"] == "spec.accessKeySecretRef" && finding["severity"] == "error" && finding["name"] == "mixed") {
      found = true;
      EXPECT_EQ(finding["source"], f + ":2");
    }
  }
  EXPECT_TRUE(found) << out_.str();
}

TEST_F(OfflineCommands, FlagTakesSeveralPaths) {
  auto gw = write("gw.yaml", kGateway);
  auto mp = write("mp.yaml", kGoodProvider);
  EXPECT_EQ(validate({"-f", gw, mp, "-o", "text"}), kExitOk) << out_.str() << err_.str();
  EXPECT_NE(out_.str().find("1 gateway(s), 1 provider(s)"), std::string::npos);
}

TEST_F(OfflineCommands, UsageErrorsExitTwo) {
  EXPECT_EQ(validate({}), kExitUsage);
  EXPECT_EQ(validate({"-f"}), kExitUsage);
  EXPECT_EQ(validate({"--bogus"}), kExitUsage);
  EXPECT_EQ(validate({"-f", "x", "-o", "xml"}), kExitUsage);
  EXPECT_EQ(render({"-f", "x", "--gateway", "no-slash"}), kExitUsage);
}

TEST_F(OfflineCommands, UnreadableInputExitsTwo) {
  EXPECT_EQ(validate({"-f", (dir_ / "missing.yaml").string()}), kExitUsage);
  EXPECT_NE(err_.str().find("no such file"), std::string::npos);
  auto f = write("broken.yaml", "a: [1,\n");
  EXPECT_EQ(validate({"-f", f}), kExitUsage);
  EXPECT_NE(err_.str().find("malformed YAML"), std::string::npos) << err_.str();
}

TEST_F(OfflineCommands, OtherKindsAreSkippedWithANote) {
  auto f = write("mixed.yaml", std::string(kGateway) + "---\n" + kGoodProvider +
                                   "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n"
                                   "---\napiVersion: v1\nkind: List\nitems: []\n");
  EXPECT_EQ(validate({"-f", f}), kExitOk);
  EXPECT_NE(err_.str().find(":3: skipped ConfigMap cm (not a plano-operator.io kind)"), std::string::npos) << err_.str();
  EXPECT_NE(err_.str().find(":4: skipped List (not a plano-operator.io kind)"), std::string::npos) << err_.str();
}

TEST_F(OfflineCommands, DocumentWithoutKindIsAnError) {
  auto f = write("nokind.yaml", "metadata: {name: x}\n");
  EXPECT_EQ(validate({"-f", f}), kExitInvalid);
  EXPECT_NE(out_.str().find("every document needs apiVersion and kind"), std::string::npos) << out_.str();
}

TEST_F(OfflineCommands, DuplicateObjectIsAnError) {
  auto f = write("dup.yaml", std::string(kGateway) + "---\n" + kGoodProvider + "---\n" + kGoodProvider);
  EXPECT_EQ(validate({"-f", f}), kExitInvalid);
  EXPECT_NE(out_.str().find("is defined again (first at " + f + ":2)"), std::string::npos) << out_.str();
}

TEST_F(OfflineCommands, RenderPrintsTheGatewayConfig) {
  auto f = write("ok.yaml", std::string(kGateway) + "---\n" + kGoodProvider);
  EXPECT_EQ(render({"-f", f, "--gateway", "platform/shared"}), kExitOk) << err_.str();
  EXPECT_EQ(out_.str().rfind("# Rendered by plano-operator from PlanoGateway platform/shared", 0), 0u) << out_.str();
  EXPECT_NE(out_.str().find("model: \"openai/gpt-4o\""), std::string::npos);
}

TEST_F(OfflineCommands, RenderRefusesInvalidInput) {
  auto f = write("bad.yaml", std::string(kGateway) + "---\n" + kBadProvider);
  EXPECT_EQ(render({"-f", f}), kExitInvalid);
  EXPECT_TRUE(out_.str().empty());
  EXPECT_NE(err_.str().find("nothing rendered"), std::string::npos);
}

TEST_F(OfflineCommands, RenderUnknownGatewayExitsTwo) {
  auto f = write("ok.yaml", std::string(kGateway) + "---\n" + kGoodProvider);
  EXPECT_EQ(render({"-f", f, "--gateway", "platform/other"}), kExitUsage);
}

TEST_F(OfflineCommands, RenderSeparatesGateways) {
  std::string second = kGateway;
  second.replace(second.find("name: shared"), 12, "name: second");
  auto f = write("two.yaml", std::string(kGateway) + "---\n" + second);
  EXPECT_EQ(render({"-f", f}), kExitOk);
  EXPECT_NE(out_.str().find("\n---\n# Rendered by plano-operator from PlanoGateway platform/shared"), std::string::npos)
      << out_.str();
}

TEST_F(OfflineCommands, FiftyMegabyteFileIsRefusedClearly) {
  auto f = write("huge.yaml", "");
  {
    std::ofstream out(f);
    std::string line = "# " + std::string(1022, 'x') + "\n";
    for (int i = 0; i < 50 * 1024; ++i) out << line;
  }
  EXPECT_EQ(validate({"-f", f}), kExitUsage);
  EXPECT_NE(err_.str().find("MiB limit; split it into smaller files"), std::string::npos) << err_.str();
}

TEST_F(OfflineCommands, TenThousandDocuments) {
  std::string text = kGateway;
  for (int i = 0; i < 10000; ++i) {
    // 100 namespaces of 100: each at the gateway's default share (maxProvidersPerNamespace).
    text += "---\napiVersion: plano-operator.io/v1alpha1\nkind: ModelProvider\nmetadata: {name: p" + std::to_string(i) +
            ", namespace: team-" + std::to_string(i % 100) + "}\nspec: {gatewayRef: {name: shared, namespace: platform}, model: openai/m" +
            std::to_string(i) + ", passthroughAuth: true" + (i == 0 ? ", default: true" : "") + "}\n";
  }
  auto f = write("many.yaml", text);
  EXPECT_EQ(validate({"-f", f}), kExitOk) << out_.str().substr(0, 2000);
  EXPECT_NE(out_.str().find("10000 provider(s)"), std::string::npos);
}

TEST_F(OfflineCommands, DeepNestingIsRefusedClearly) {
  auto f = write("deep.yaml", std::string(100000, '[') + std::string(100000, ']'));
  EXPECT_EQ(validate({"-f", f}), kExitUsage);
  EXPECT_NE(err_.str().find("deep.yaml"), std::string::npos) << err_.str();
}

TEST_F(OfflineCommands, WrongTypesAreFindingsNotCrashes) {
  auto f = write("types.yaml", std::string(kGateway) +
                                   "---\napiVersion: plano-operator.io/v1alpha1\nkind: ModelProvider\n"
                                   "metadata: {name: p, namespace: team, labels: [a]}\nspec: {gatewayRef: shared, "
                                   "model: 42, passthroughAuth: \"yes\", headers: [1]}\n---\n[1, 2]\n---\nplain string\n");
  EXPECT_EQ(validate({"-f", f}), kExitInvalid);
  for (const char* field : {"metadata.labels", "spec.gatewayRef", "spec.model", "spec.passthroughAuth", "spec.headers"}) {
    EXPECT_NE(out_.str().find(std::string(": ") + field + ": error: must be"), std::string::npos) << field << "\n" << out_.str();
  }
  EXPECT_NE(out_.str().find("every document needs apiVersion and kind"), std::string::npos) << out_.str();
}

// Runs `validate -f path` in a child process that may map at most `extra_mib` more than it has,
// so an input needing unbounded memory fails the test (the child dies) instead of the machine. The
// child's exit code (128 + signal when killed) and what it wrote to stderr. Every case below but
// one needs under 64 MiB with its 128; before their fixes, each needed more than its bound.
std::pair<int, std::string> validate_with_bounded_memory(const std::string& path, std::size_t extra_mib) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    long pages = 0;
    std::ifstream("/proc/self/statm") >> pages;
    rlimit limit{};
    limit.rlim_cur = limit.rlim_max = static_cast<rlim_t>(pages) * sysconf(_SC_PAGESIZE) + (extra_mib << 20);
    setrlimit(RLIMIT_AS, &limit);
    // The child must end here whatever happens, never return into the test framework.
    try {
      std::ostringstream out, err;
      int code = validate_command({"-f", path}, out, err);
      const std::string text = err.str();
      if (write(fds[1], text.data(), text.size()) < 0) code = 99;
      _exit(code);
    } catch (const std::exception& e) {
      const std::string text = std::string("exception: ") + e.what();
      if (write(fds[1], text.data(), text.size()) < 0) _exit(99);
      _exit(98);
    }
  }
  close(fds[1]);
  std::string err;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) err.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), err};
}

TEST_F(OfflineCommands, HostileInputIsRefusedClearlyWithinBoundedMemory) {
  std::string laughs = "a0: &a0 lol\n";
  for (int level = 1; level <= 9; ++level) {
    laughs += "a" + std::to_string(level) + ": &a" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) laughs += (i ? ", " : "") + std::string("*a") + std::to_string(level - 1);
    laughs += "]\n";
  }
  std::string gateway_with_replicas = std::string(kGateway) + "  deployment: {replicas: 1e400}\n";
  std::string gateway_with_port = kGateway;
  gateway_with_port.replace(gateway_with_port.find("12000"), 5, ".nan");
  std::string provider_twice_named = kGoodProvider;
  provider_twice_named.replace(provider_twice_named.find("metadata: {"), 11, "metadata: {name: gpt5, ");
  struct Case {
    const char* file;
    std::string text;
    std::string message;  // after "plano-operator validate: <path>"
    std::size_t extraMiB = 128;  // address space the child may add
  };
  // Four MB of one-byte values, more than yaml-cpp's nodes for them would fit in. Under a key:
  // a flow collection where a line starts makes yaml-cpp's scanner hold every token of it before
  // the first event (about 275 bytes each), which no count of events can prevent.
  std::string flow = "items: [";
  for (int i = 0; i < 2000000; ++i) flow += "1,";
  flow += "1]\n";
  // Four MB of minified JSON, as kubectl get -o json prints it: a List of 85,000 small objects.
  // Read as YAML, this flow collection at the top of the document would have its every token held
  // (160 MB) before the first event; the JSON reader counts values as it builds them. Values 1-7:
  // the document, apiVersion and kind with their values, "items", the array; then 7 per item, so
  // value 500,001 is the fifth of item 71427, its metadata.
  std::string list = R"({"apiVersion":"v1","kind":"List","items":[)";
  for (int i = 0; i < 85000; ++i) {
    list += (i ? "," : "") + std::string(R"({"kind":"ConfigMap","metadata":{"name":"c)") + std::to_string(i) + "\"}}";
  }
  list += "]}";
  // The same four MB as a document of its own: yaml-cpp reads the whole collection before the
  // first value. It is stopped 1 MiB in (155 MB; 552 MB before), so this case gets 256 MiB.
  std::string flow_document = "---\n[";
  for (int i = 0; i < 2000000; ++i) flow_document += "1,";
  flow_document += "1]\n";
  const std::vector<Case> cases = {
      {"laughs.yaml", laughs, ":1: a"},
      {"flow.yaml", flow, ":1:1000003: more than 500000 values in one file"},
      {"list.json", list, ":1: items[71427].metadata: more than 500000 values in one file"},
      {"flow-document.yaml", flow_document, ":1:1: more than 1024 KiB from here hold no complete value", 256},
      {"replicas.yaml", std::string(kGoodProvider) + "---\n" + gateway_with_replicas,
       ":2: spec.deployment.replicas: 1e400 is out of range for a number; write a smaller number, or quote it"},
      {"port.yaml", gateway_with_port, ":1: spec.listeners[0].port: .nan is not a number JSON can hold"},
      {"latin1.yaml", std::string(kGateway) + "  description: caf\xe9\n", ":7:19: not UTF-8 text (byte "},
      {"twice.yaml", std::string(kGateway) + "---\n" + provider_twice_named,
       ":2: metadata.name: the key appears twice in one mapping; keep one"},
  };
  for (const auto& c : cases) {
    auto path = write(c.file, c.text);
    auto [code, err] = validate_with_bounded_memory(path, c.extraMiB);
    EXPECT_EQ(code, kExitUsage) << c.file << "\n" << err;
    EXPECT_EQ(err.rfind("plano-operator validate: " + path + c.message, 0), 0u) << c.file << "\n" << err;
  }
}

TEST_F(OfflineCommands, StdinIsRead) {
  // "-" reads standard input; feed it through a pipe-backed stream.
  auto f = write("ok.yaml", std::string(kGateway) + "---\n" + kGoodProvider);
  std::ifstream in(f);
  auto* saved = std::cin.rdbuf(in.rdbuf());
  int code = validate({"-f", "-"});
  std::cin.rdbuf(saved);
  EXPECT_EQ(code, kExitOk) << out_.str() << err_.str();
  EXPECT_NE(out_.str().find("1 provider(s)"), std::string::npos);
}

}  // namespace
}  // namespace plano::cli
