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

// `piece` written `times` times.
std::string repeated(const std::string& piece, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += piece;
  return out;
}

// The message of the InputError that parsing `text` as file "f" throws; "" when it parses.
std::string parse_error(const std::string& text, const Limits& limits = {}) {
  try {
    parse_documents(text, "f", limits);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// A comment line first sends the same text to the YAML reader instead of the JSON one.
std::string as_yaml(const std::string& json_text) { return "# YAML\n" + json_text; }

TEST(Documents, JsonGivesTheDocumentYamlGives) {
  const std::string gateway = R"({"apiVersion": "plano-operator.io/v1alpha1", "kind": "PlanoGateway",
    "metadata": {"name": "shared", "namespace": "platform", "labels": {}},
    "spec": {"listeners": [{"name": "llm", "type": "model", "port": 12000, "timeout": "300s"}],
             "deployment": {"replicas": 2, "nodeSelector": null, "tolerations": []},
             "n": [-7, 0, -0, 1.5, -2.5e-3, 1E3, 9223372036854775807, 1e-400, true, false],
             "s": ["caf\u00e9 \u65e5", "a\"b\\c\/d\n\t", "12000", "true", "null", ".nan", "~"]}})";
  // A List (what kubectl get -o json prints) is one document in both readers, as it is to the
  // rest of the CLI (skipped as a kind of no interest).
  for (const std::string& text : {gateway, "[" + gateway + "]", R"({"kind": "List", "items": [)" + gateway + "]}"}) {
    const auto from_json = parse_documents(text, "f");
    const auto from_yaml = parse_documents(as_yaml(text), "f");
    ASSERT_EQ(from_json.size(), 1u) << text;
    ASSERT_EQ(from_yaml.size(), 1u) << text;
    EXPECT_EQ(from_json[0].source.describe(), "f:1");
    EXPECT_EQ(from_yaml[0].source.describe(), "f:1");
    EXPECT_EQ(from_json[0].body, from_yaml[0].body) << from_json[0].body.dump() << "\n" << from_yaml[0].body.dump();
    // Same values of the same types (json's == calls 1 and 1.0 equal).
    EXPECT_EQ(from_json[0].body.dump(), from_yaml[0].body.dump());
  }
  // A byte order mark and white space may come before JSON, which still starts like JSON.
  EXPECT_EQ(parse_documents("\xef\xbb\xbf \r\n\t" + gateway, "f").at(0).body, parse_documents(gateway, "f").at(0).body);
  EXPECT_EQ(parse_error("\xef\xbb\xbf \n\t{\"a\": 1, \"a\": 2}"), "f:1: a: the key appears twice in one mapping; keep one");
}

TEST(Documents, JsonIsRefusedAsYamlIs) {
  std::string too_deep;  // the path of the 65th level
  for (int level = 0; level < 65; ++level) too_deep += "[0]";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"metadata": {"name": "a", "name": "b"}})", "f:1: metadata.name: the key appears twice in one mapping; keep one"},
      {R"({"spec": {"deployment": {"replicas": 1e400}}})",
       "f:1: spec.deployment.replicas: 1e400 is out of range for a number; write a smaller number, or quote it if text "
       "is meant"},
      {R"([1, -1E+400])", "f:1: [1]: -1E+400 is out of range for a number; write a smaller number, or quote it if text "
                          "is meant"},
      // Beyond int64, which nlohmann would read as an unsigned integer or a float.
      {R"({"a": [18446744073709551615]})",
       "f:1: a[0]: 18446744073709551615 is out of range for an integer (at most 19 digits); write a smaller number, or "
       "quote it if text is meant"},
      {R"({"a": -99999999999999999999})",
       "f:1: a: -99999999999999999999 is out of range for an integer (at most 19 digits); write a smaller number, or "
       "quote it if text is meant"},
      {std::string(70, '[') + std::string(70, ']'),
       "f:1: " + too_deep +
           ": nesting deeper than 64 levels; no Kubernetes object of this project needs that, check the document"},
  };
  for (const auto& [text, message] : cases) {
    EXPECT_EQ(parse_error(text), message) << text;
    EXPECT_EQ(parse_error(as_yaml(text)), message) << text;
  }
  // The UTF-8 check comes before either reader.
  EXPECT_EQ(parse_error("{\"a\": \"caf\xe9\"}"), "f:1:11: not UTF-8 text (byte 10); save the file as UTF-8");
  // JSON has no NaN: NaN is not JSON, so this small file is read as YAML, where .nan is refused.
  EXPECT_EQ(parse_error(R"({"port": .nan})"),
            "f:1: port: .nan is not a number JSON can hold, so Kubernetes refuses it too; write a finite number, or "
            "quote it (\".nan\") if text is meant");
}

TEST(Documents, JsonValuesAreCountedWhileParsing) {
  Limits limits;
  limits.maxNodes = 10;
  // Keys count as YAML's do: the document, "items", the array, then an object, "a" and 1 per item;
  // value 11 is the third item's key.
  EXPECT_EQ(parse_error(R"({"items": [{"a": 1}, {"a": 1}, {"a": 1}]})", limits),
            "f:1: items[2].a: more than 10 values in one file, far more than Kubernetes objects (at most 1.5 MiB each) "
            "hold; split the file, or check it for generated data");
  EXPECT_EQ(parse_error(R"({"items": [{"a": 1}, {"a": 1}]})", limits), "");
}

TEST(Documents, TextThatStartsLikeJsonButIsYamlIsReadAsYamlWhenSmall) {
  auto docs = parse_documents("{a: 1, b: [x, y]}\n---\n{\"c\": 2}\n---\nd: 3\n", "f");
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[0].body, nlohmann::json::parse(R"({"a": 1, "b": ["x", "y"]})"));
  EXPECT_EQ(docs[2].source.describe(), "f:3");
  // Over the bound yaml-cpp is not tried: the JSON syntax error says where, without the token it
  // stopped in (which can be a whole unterminated string).
  const std::string bound(Limits{}.maxFlowYamlBytes, 'x');
  EXPECT_EQ(parse_error("{\"a\": 1}\n---\n# " + bound + "\n"),
            "f:2:2: malformed JSON: syntax error while parsing value - invalid number; expected digit after '-'; "
            "expected end of input; a file over 256 KiB that starts with '{' or '[' must be one JSON document: fix "
            "the JSON, or split the file");
  const std::string unescaped_newline = parse_error("[\"" + bound + "\n\"]");
  EXPECT_EQ(unescaped_newline.rfind("f:1:" + std::to_string(bound.size() + 3) + ": malformed JSON: syntax error while "
                                    "parsing value - invalid string: control character U+000A (LF) must be escaped to "
                                    "\\u000A or \\n; a file over",
                                    0),
            0u)
      << unescaped_newline.substr(0, 300);
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

// yaml-cpp 0.7's LoadAll never returns on these (found by the offline_manifests fuzz target).
TEST(Documents, StrayCommaIsMalformedYamlNotAnEndlessLoop) {
  EXPECT_EQ(parse_error(","), "f:1:1: malformed YAML: unexpected ','; remove it, or quote the value it belongs to");
  EXPECT_EQ(parse_error("a: 1\n---\n,\n"),
            "f:3:1: malformed YAML: unexpected ','; remove it, or quote the value it belongs to");
}

TEST(Documents, DuplicateKeyNamesDocumentAndFieldPath) {
  EXPECT_EQ(parse_error("a: 1\n---\nmetadata:\n  name: a\n  name: b\n"),
            "f:2: metadata.name: the key appears twice in one mapping; keep one");
}

TEST(Documents, NanAndInfinityAreRefusedWithTheirPath) {
  for (const char* value : {".nan", ".NaN", ".inf", "-.Inf", "+.INF"}) {
    EXPECT_EQ(parse_error(std::string("spec:\n  listeners:\n  - port: ") + value + "\n"),
              std::string("f:1: spec.listeners[0].port: ") + value +
                  " is not a number JSON can hold, so Kubernetes refuses it too; write a finite number, or quote it (\"" +
                  value + "\") if text is meant");
  }
  // Quoted, it is text; and a word that merely starts like one is text too.
  auto d = parse_documents("a: \".nan\"\nb: .nanny\n", "f").at(0).body;
  EXPECT_EQ(d["a"], ".nan");
  EXPECT_EQ(d["b"], ".nanny");
}

TEST(Documents, NumbersOutOfRangeAreRefusedWithTheirPath) {
  EXPECT_EQ(parse_error("spec:\n  deployment:\n    replicas: 1e400\n"),
            "f:1: spec.deployment.replicas: 1e400 is out of range for a number; write a smaller number, or quote it if "
            "text is meant");
  EXPECT_EQ(parse_error("spec: {deployment: {replicas: -99999999999999999999}}\n"),
            "f:1: spec.deployment.replicas: -99999999999999999999 is out of range for an integer (at most 19 digits); "
            "write a smaller number, or quote it if text is meant");
  // The largest integer still is one, and a value too small to represent is zero, not an error.
  auto d = parse_documents("i: 9223372036854775807\nf: 1e-400\n", "f").at(0).body;
  EXPECT_EQ(d["i"], 9223372036854775807LL);
  EXPECT_TRUE(d["f"].is_number_float());
  EXPECT_EQ(d["f"], 0.0);
}

TEST(Documents, InvalidUtf8IsRefusedWithLineAndColumn) {
  EXPECT_EQ(parse_error("a: ok\nname: caf\xe9\n"), "f:2:10: not UTF-8 text (byte 15); save the file as UTF-8");
  // An overlong '/', a UTF-16 surrogate, a code point past U+10FFFF, a cut-off sequence.
  for (const char* bad : {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe6\x97"}) {
    EXPECT_NE(parse_error(std::string("a: ") + bad).find("f:1:4: not UTF-8 text"), std::string::npos) << bad;
  }
  auto d = parse_documents("\xef\xbb\xbf" "a: caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80\n", "f").at(0).body;
  EXPECT_EQ(d["a"], "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80");
}

// Nine levels of ten aliases each: a billion strings in JSON from under a kilobyte of YAML.
std::string billion_laughs() {
  std::string text = "a0: &a0 lol\n";
  for (int level = 1; level <= 9; ++level) {
    std::string prev = "*a" + std::to_string(level - 1);
    text += "a" + std::to_string(level) + ": &a" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) text += (i ? ", " : "") + prev;
    text += "]\n";
  }
  return text;
}

TEST(Documents, AliasBombIsRefused) {
  const std::string error = parse_error(billion_laughs());
  EXPECT_EQ(error.rfind("f:1: a", 0), 0u) << error;
  EXPECT_NE(error.find("YAML aliases (*name) copy their anchor's value each time"), std::string::npos) << error;
}

TEST(Documents, AliasesWithinTheAllowanceAreExpanded) {
  Limits limits;
  limits.maxAliasNodes = 1000;
  auto d = parse_documents("base: &b {x: 1, y: [1, 2]}\none: *b\ntwo: *b\n", "f", limits).at(0).body;
  EXPECT_EQ(d["one"], d["base"]);
  EXPECT_EQ(d["two"]["y"][1], 2);
  // 200 copies of 50 values: far more than the text's size and the allowance of 1000 give.
  std::string many = "base: &b [";
  for (int i = 0; i < 50; ++i) many += (i ? ", " : "") + std::to_string(i);
  many += "]\ncopies: [";
  for (int i = 0; i < 200; ++i) many += (i ? ", " : "") + std::string("*b");
  many += "]\n";
  EXPECT_NE(parse_error(many, limits).find("f:1: copies["), std::string::npos) << parse_error(many, limits);
}

TEST(Documents, TooManyValuesAreRefusedBeforeNodesAreBuilt) {
  Limits limits;
  limits.maxNodes = 100;
  const std::string text = "a: 1\n---\nlist: [" + repeated("1, ", 200) + "1]\n";
  // Node 101 is the 95th item: root, a, 1, root, list and the list itself come first.
  EXPECT_EQ(parse_error(text, limits),
            "f:3:" + std::to_string(8 + 94 * 3) + ": more than 100 values in one file, far more than Kubernetes objects "
            "(at most 1.5 MiB each) hold; split the file, or check it for generated data");
}

TEST(Documents, ReadingFarWithoutAValueIsStopped) {
  Limits limits;
  limits.maxBytesBetweenValues = 4096;
  // A flow collection on a line of its own: yaml-cpp reads all of it before its first value.
  const std::string flow = "a: 1\n---\n# generated\n[" + repeated("1,", 5000) + "1]\n";
  EXPECT_EQ(parse_error(flow, limits).rfind("f:2:1: more than 4 KiB from here hold no complete value", 0), 0u)
      << parse_error(flow, limits);
  // The same values in block style, or under a key, give values all along, however long the file.
  const std::string block = "list:\n" + repeated("  - 1\n", 5000);
  EXPECT_EQ(parse_documents(block, "f", limits).at(0).body["list"].size(), 5000u);
  const std::string keyed = "list: [" + repeated("1,", 5000) + "1]\n";
  EXPECT_EQ(parse_documents(keyed, "f", limits).at(0).body["list"].size(), 5001u);
  // One scalar up to the distance is read; a longer one is not.
  EXPECT_EQ(parse_documents("data: |\n  " + std::string(4000, 'x') + "\n", "f", limits).at(0).body["data"].get<std::string>().size(), 4001u);
  EXPECT_NE(parse_error("data: |\n  " + std::string(5000, 'x') + "\n", limits).find("hold no complete value"),
            std::string::npos);
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
  const std::string moderate = repeated("{a: ", 100) + "1" + std::string(100, '}');
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
