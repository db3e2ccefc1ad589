// The examples are the product's documentation: each valid one renders to its committed golden
// file whatever the order of its documents, and each invalid one fails with the message it states.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "core/io/documents.h"
#include "core/io/manifest_set.h"
#include "core/render/renderer.h"

namespace plano {
namespace {

namespace fs = std::filesystem;
const fs::path kExamples = fs::path(PLANO_SOURCE_DIR) / "examples";
const fs::path kGolden = fs::path(PLANO_SOURCE_DIR) / "tests" / "golden";

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".yaml") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Renders every gateway of `docs`, keyed by namespace/name.
std::map<std::string, std::string> render_all(const std::vector<io::Document>& docs) {
  auto set = io::collect(docs);
  auto ev = set.evaluate();
  std::map<std::string, std::string> out;
  for (const auto& [key, g] : ev.gateways) out[key] = render::render(*g.gateway, g.accepted).config;
  return out;
}

TEST(Examples, ValidExamplesHaveNoErrors) {
  auto files = files_in(kExamples);
  ASSERT_GE(files.size(), 3u);
  for (const auto& f : files) {
    auto set = io::collect(io::load_documents({f.string()}));
    auto ev = set.evaluate();
    for (const auto& finding : ev.findings) {
      EXPECT_NE(finding.severity, rules::Severity::Error) << f << ": " << finding.object.describe() << " "
                                                          << finding.field << ": " << finding.message;
    }
    EXPECT_TRUE(set.findings.empty()) << f;
    EXPECT_FALSE(ev.gateways.empty()) << f;
  }
}

TEST(Examples, RenderToGoldenFilesInAnyOrder) {
  for (const auto& f : files_in(kExamples)) {
    auto docs = io::load_documents({f.string()});
    auto rendered = render_all(docs);
    for (const auto& [key, config] : rendered) {
      auto golden = kGolden / (f.stem().string() + "." + key.substr(0, key.find('/')) + "." +
                               key.substr(key.find('/') + 1) + ".plano_config.yaml");
      ASSERT_TRUE(fs::exists(golden)) << "missing golden file " << golden
                                      << "; create it with: plano-operator render -f " << f << " --gateway " << key;
      EXPECT_EQ(config, read(golden)) << golden;
    }
    std::mt19937 rng(42);
    for (int round = 0; round < 5; ++round) {
      std::shuffle(docs.begin(), docs.end(), rng);
      EXPECT_EQ(render_all(docs), rendered) << f << " shuffled, round " << round;
    }
  }
}

// Each invalid example starts with "# expect: Kind/namespace/name: field: phrase" lines.
TEST(Examples, InvalidExamplesFailWithTheirMessage) {
  auto files = files_in(kExamples / "invalid");
  ASSERT_GE(files.size(), 10u);
  for (const auto& f : files) {
    std::vector<std::string> expectations;
    std::istringstream lines(read(f));
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("# expect: ", 0) == 0) expectations.push_back(line.substr(10));
    }
    ASSERT_FALSE(expectations.empty()) << f << " states no expected error";
    auto set = io::collect(io::load_documents({f.string()}));
    auto ev = set.evaluate();
    auto findings = set.findings;
    findings.insert(findings.end(), ev.findings.begin(), ev.findings.end());
    for (const auto& expect : expectations) {
      bool found = std::any_of(findings.begin(), findings.end(), [&](const rules::Finding& x) {
        if (x.severity != rules::Severity::Error) return false;
        auto prefix = x.object.describe() + ": " + x.field + ": ";
        return expect.rfind(prefix, 0) == 0 && x.message.find(expect.substr(prefix.size())) != std::string::npos;
      });
      std::string got;
      for (const auto& x : findings) got += "  " + x.object.describe() + ": " + x.field + ": " + x.message + "\n";
      EXPECT_TRUE(found) << f << ": expected\n  " << expect << "\ngot\n" << got;
    }
  }
}

}  // namespace
}  // namespace plano
