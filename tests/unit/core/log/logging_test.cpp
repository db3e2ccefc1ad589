#include "core/log/logging.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace plano::log {
namespace {

// Logs to a temporary file for the test's length; lines() reads back what was written.
class LogCapture {
 public:
  explicit LogCapture(const std::string& format) : file_(std::tmpfile()) { configure("info", format, file_); }
  ~LogCapture() {
    configure("info", "text");  // back to stderr before the file goes
    std::fclose(file_);
  }
  std::vector<std::string> lines() {
    std::fflush(file_);
    std::rewind(file_);
    std::string text;
    char buffer[4096];
    for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, file_)) > 0;) text.append(buffer, n);
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

 private:
  std::FILE* file_;
};

TEST(Logging, JsonLinesCarryTheScopesFieldsAsKeys) {
  LogCapture capture("json");
  {
    FieldScope reconcile({{"kind", "PlanoGateway"}, {"namespace", "platform"}, {"name", "llm"},
                          {"gateway", "platform/llm"}, {"reconcileID", "0f3a"}});
    spdlog::info("applied ConfigMap platform/llm-plano-config");
    {
      FieldScope provider({{"kind", "ModelProvider"}, {"namespace", "team-a"}, {"msg", "must not replace the message"}});
      spdlog::warn("provider team-a/gpt-4o \"quoted\"");
    }
  }
  spdlog::info("outside any scope");

  const auto lines = capture.lines();
  ASSERT_EQ(lines.size(), 3u);
  auto first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first["msg"], "applied ConfigMap platform/llm-plano-config");
  EXPECT_EQ(first["level"], "info");
  EXPECT_EQ(first["kind"], "PlanoGateway");
  EXPECT_EQ(first["namespace"], "platform");
  EXPECT_EQ(first["name"], "llm");
  EXPECT_EQ(first["gateway"], "platform/llm");
  EXPECT_EQ(first["reconcileID"], "0f3a");
  EXPECT_EQ(lines[0].rfind("{\"ts\":", 0), 0u) << lines[0];  // ts, level, msg come first

  auto inner = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(inner["msg"], "provider team-a/gpt-4o \"quoted\"");
  EXPECT_EQ(inner["kind"], "ModelProvider");
  EXPECT_EQ(inner["namespace"], "team-a");
  EXPECT_EQ(inner["name"], "llm");  // from the outer scope
  EXPECT_EQ(inner["gateway"], "platform/llm");

  auto outside = nlohmann::json::parse(lines[2]);
  EXPECT_EQ(outside.size(), 3u) << lines[2];  // ts, level, msg only
}

TEST(Logging, TextLinesCarryTheScopesFieldsAsKeyValuePairs) {
  LogCapture capture("text");
  {
    FieldScope scope({{"namespace", "platform"}, {"name", "llm"}, {"note", "two words"}, {"empty", ""}});
    spdlog::info("reconciled");
  }
  spdlog::info("outside any scope");
  const auto lines = capture.lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find(" info reconciled namespace=platform name=llm note=\"two words\" empty=\"\""), std::string::npos)
      << lines[0];
  EXPECT_EQ(lines[0].back(), '"') << lines[0];
  EXPECT_NE(lines[1].find(" info outside any scope"), std::string::npos) << lines[1];
  EXPECT_EQ(lines[1].find('='), std::string::npos) << lines[1];
}

TEST(Logging, FieldsBelongToTheThreadThatSetThemAndCanBeCarriedToAnother) {
  LogCapture capture("json");
  FieldScope scope(std::vector<Field>{{"gateway", "platform/llm"}});
  std::thread([] { spdlog::info("another thread"); }).join();
  std::thread([carried = current_fields()] {
    FieldScope same(carried);
    spdlog::info("carried");
  }).join();
  const auto lines = capture.lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_FALSE(nlohmann::json::parse(lines[0]).contains("gateway")) << lines[0];
  EXPECT_EQ(nlohmann::json::parse(lines[1])["gateway"], "platform/llm") << lines[1];
}

}  // namespace
}  // namespace plano::log
