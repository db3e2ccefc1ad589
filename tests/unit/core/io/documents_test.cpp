#include "core/io/documents.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace plano::io {
namespace {

TEST(Documents, MultiDocumentYamlSkipsEmptyOnes) {
  auto docs = parse_documents("a: 1\n---\n---\nb: 2\n", "f.yaml");
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].source.describe(), "f.yaml:1");
  EXPECT_EQ(docs[1].source.describe(), "f.yaml:3");
}

TEST(Documents, CoreSchemaScalars) {
  auto d = parse_documents("i: 12000\nb: true\nn: null\nq: \"12000\"\nt: \"true\"\ns: 0.4.0\nf: 1.5\nv: v0.4.0\n", "f").at(0).body;
  EXPECT_TRUE(d["i"].is_number_integer());
  EXPECT_TRUE(d["b"].is_boolean());
  EXPECT_TRUE(d["n"].is_null());
  EXPECT_TRUE(d["q"].is_string());
  EXPECT_TRUE(d["t"].is_string());
  EXPECT_TRUE(d["s"].is_string());
  EXPECT_TRUE(d["f"].is_number_float());
  EXPECT_TRUE(d["v"].is_string());
}

TEST(Documents, JsonIsYaml) {
  auto d = parse_documents(R"({"kind": "X", "spec": {"port": 1}})", "f.json").at(0).body;
  EXPECT_EQ(d["kind"], "X");
  EXPECT_EQ(d["spec"]["port"], 1);
}

TEST(Documents, MalformedYamlNamesFileAndLine) {
  try {
    parse_documents("a: 1\nb: [1, 2\n", "bad.yaml");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.yaml:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("malformed YAML"), std::string::npos) << e.what();
  }
}

TEST(Documents, DuplicateKeysAreErrors) {
  EXPECT_THROW(parse_documents("a: 1\na: 2\n", "f"), InputError);
}

TEST(Documents, DeepNestingIsAClearError) {
  std::string deep(5000, '[');
  deep += std::string(5000, ']');
  try {
    parse_documents(deep, "deep.yaml");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("deep.yaml"), std::string::npos) << e.what();
  }
  std::string moderate;
  for (int i = 0; i < 100; ++i) moderate += "{a: ";
  moderate += "1" + std::string(100, '}');
  EXPECT_THROW(parse_documents(moderate, "f"), InputError);
}

TEST(Documents, TooManyDocuments) {
  Limits limits;
  limits.maxDocuments = 3;
  EXPECT_THROW(parse_documents("a: 1\n---\na: 1\n---\na: 1\n---\na: 1\n", "f", limits), InputError);
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("plano-docs-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_ / "sub");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& rel, const std::string& text) { std::ofstream(dir_ / rel) << text; }
  std::filesystem::path dir_;
};

TEST_F(TempDir, DirectoriesAreSearchedRecursivelyInOrder) {
  write("b.yaml", "n: b\n");
  write("a.yml", "n: a\n");
  write("sub/c.json", "{\"n\": \"c\"}");
  write("notes.txt", "n: ignored\n");
  auto docs = load_documents({dir_.string()});
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[0].body["n"], "a");
  EXPECT_EQ(docs[1].body["n"], "b");
  EXPECT_EQ(docs[2].body["n"], "c");
}

TEST_F(TempDir, MissingPathIsAnInputError) {
  EXPECT_THROW(load_documents({(dir_ / "nope.yaml").string()}), InputError);
}

TEST_F(TempDir, OversizedFileIsRefusedBeforeParsing) {
  Limits limits;
  limits.maxFileBytes = 1024;
  write("big.yaml", std::string(4096, '#'));
  try {
    load_documents({(dir_ / "big.yaml").string()}, limits);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("split it"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace plano::io
