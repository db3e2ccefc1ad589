#include "core/render/yaml_text.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <random>
#include <set>

#include "core/render/renderer.h"
#include "tests/unit/test_objects.h"

namespace plano::render {
namespace {

using plano::testing::gateway;
using plano::testing::provider;

// Strings a tenant could put in any field: each tries to end a scalar, start a key, a comment,
// a sequence item or a document, or carries bytes YAML must escape.
const std::vector<std::string>& hostile_strings() {
  static const std::vector<std::string> strings = {
      "", " ", "  leading and trailing  ", "line\nbreak", "cr\rreturn", "crlf\r\nnext", "tab\there",
      "\"double\" quotes", "'single' quotes", "back\\slash\\", "colon: space", "trailing colon:",
      "# comment", "value #comment", "- item", "-", "?", "? key", ":", "[flow, seq]", "{flow: map}",
      "&anchor", "*alias", "!tag", "|literal", ">folded", "%directive", "@at", "`backtick`", "---",
      "...", "~", "null", "Null", "NULL", "true", "false", "yes", "no", "8080", "0x1F", "1e3", ".inf",
      "key: value\ninjected: true", "x\r  injected: true", "\"\ninjected: true\n\"",
      "unicode é ü 中文 😀", "nbsp\u00a0here", "nel\u0085here", "line\u2028separator",
      "\xef\xbb\xbf" "bom", std::string("nul\0byte", 8), "bell\a", "escape\x1b[31m", "del\x7f",
      "form\ffeed", "back\bspace", "vertical\vtab", std::string(1100, 'k'), std::string(1100, ' '),
  };
  return strings;
}

// The one mapping entry {key: value}, as yaml-cpp's emitter writes it (key in its own style,
// value double-quoted): what the renderer wrote before it wrote YAML itself.
std::string yaml_cpp_entry(const std::string& key, const std::string& value) {
  YAML::Emitter e;
  e << YAML::BeginMap << YAML::Key << key << YAML::Value << YAML::DoubleQuoted << value << YAML::EndMap;
  return e.c_str();
}

// What PyYAML (Plano's reader) takes as a line break or refuses, and yaml-cpp wrote raw: the
// renderer escapes these on purpose (see PyYamlLineBreaksAndDeleteAreEscaped).
bool holds_pyyaml_break_or_delete(const std::string& s) {
  for (const char* bytes : {"\x7f", "\xc2\x85", "\xe2\x80\xa8", "\xe2\x80\xa9"}) {
    if (s.find(bytes) != std::string::npos) return true;
  }
  return false;
}

std::string our_entry(const std::string& key, const std::string& value) {
  std::string out;
  yaml::append_scalar(out, key);
  out += ": ";
  yaml::append_double_quoted(out, value);
  return out;
}

TEST(YamlText, DoubleQuotedReadsBackAsTheInput) {
  for (const auto& s : hostile_strings()) {
    std::string doc = "k: ";
    yaml::append_double_quoted(doc, s);
    YAML::Node n = YAML::Load(doc);
    ASSERT_TRUE(n.IsMap()) << doc;
    EXPECT_EQ(n.size(), 1u) << doc;
    EXPECT_EQ(n["k"].as<std::string>(), s) << doc;
  }
}

TEST(YamlText, SameBytesAsYamlCppForKeysAndValues) {
  for (const auto& s : hostile_strings()) {
    // yaml-cpp wrote a key with a lone CR bare (see KeysWithCarriageReturnAreQuoted), keys such
    // as 8080 or true too (see KeysThatReadAsAnotherTypeAreQuoted), and one over the simple-key
    // limit in the explicit form, which the renderer writes itself.
    if (s.find('\r') != std::string::npos || yaml::resolves_to_another_type(s) || s.size() > yaml::kMaxSimpleKeyBytes ||
        holds_pyyaml_break_or_delete(s)) {
      continue;
    }
    EXPECT_EQ(our_entry(s, s), yaml_cpp_entry(s, s)) << s;
  }
}

TEST(YamlText, SameBytesAsYamlCppForRandomStrings) {
  // Pieces that matter to YAML, joined at random: a fixed seed keeps the test repeatable.
  const std::vector<std::string> pieces = {
      "a", "Z", "0", " ", "\t", "\n", "#", ":", "-", "?", "\"", "\\", "'", "~", "null", "true", "\x7f", "\x01",
      "\x0c", "\x08", "\xc2\x85", "\xc2\x80", "\xc2\xa0", "\xef\xbb\xbf", "\xe2\x80\xa8", "\xf0\x9f\x98\x80",
      "\xc3\xa9", "\x80", "\xff", "\xc3", "\xe2\x80", "\xed\xa0\x80", "\xef\xbf\xbe", "\xc0\x80", "[", "{", ",",
      "&", "*", "!", "|", ">", "%", "@", "`", "/", "."};
  std::mt19937 random(20260127);
  int compared = 0;
  for (int n = 0; n < 20000; ++n) {
    std::string s;
    for (auto pieces_in_string = random() % 6; pieces_in_string > 0; --pieces_in_string) s += pieces[random() % pieces.size()];
    if (yaml::resolves_to_another_type(s) || holds_pyyaml_break_or_delete(s)) continue;
    ASSERT_EQ(our_entry(s, s), yaml_cpp_entry(s, s)) << "input: " << s;
    ++compared;
  }
  EXPECT_GT(compared, 16000);
}

TEST(YamlText, KeysWithCarriageReturnAreQuoted) {
  // yaml-cpp wrote these bare; a YAML 1.2 reader (Plano's is Python) takes the CR as a line
  // break, so a header name could end its line and add keys of its own.
  for (const std::string key : {"x\r  injected: true", "cr\rreturn", "\r"}) {
    EXPECT_FALSE(yaml::writes_plain(key)) << key;
    std::string out;
    yaml::append_scalar(out, key);
    EXPECT_EQ(out.front(), '"');
    EXPECT_EQ(out.find('\r'), std::string::npos) << out;
  }
}

TEST(YamlText, PyYamlLineBreaksAndDeleteAreEscaped) {
  // PyYAML ends a line at NEL, U+2028 and U+2029, even between double quotes (where it folds the
  // break to a space), and refuses a raw DEL: yaml-cpp wrote all four raw, so a header name could
  // end its line and a description lost its bytes.
  for (const std::string s : {"a\xc2\x85" "b", "a\xe2\x80\xa8" "b", "a\xe2\x80\xa9" "b", "a\x7f" "b"}) {
    EXPECT_FALSE(yaml::writes_plain(s)) << s;
    std::string key, value;
    yaml::append_scalar(key, s);
    yaml::append_double_quoted(value, s);
    for (const auto& out : {key, value}) {
      EXPECT_FALSE(holds_pyyaml_break_or_delete(out)) << out;
      EXPECT_EQ(out.front(), '"') << out;
    }
  }
  std::string out;
  yaml::append_double_quoted(out, "\xc2\x85\xe2\x80\xa8\xe2\x80\xa9\x7f");
  EXPECT_EQ(out, "\"\\x85\\u2028\\u2029\\x7f\"");
}

TEST(YamlText, KeysThatReadAsAnotherTypeAreQuoted) {
  // PyYAML (Plano's reader) takes these, written bare, for a boolean, a number, null or a date:
  // yaml-cpp wrote them bare, so a header named on replaced one named true.
  for (const std::string key : {"true", "True", "on", "OFF", "yes", "n", "null", "~", "8080", "-1", "+1", "0x1F", "1e3",
                                ".inf", "-.inf", ".nan", "1:20", "2026-11-27", "<<", "="}) {
    EXPECT_TRUE(yaml::resolves_to_another_type(key)) << key;
    std::string out;
    yaml::append_scalar(out, key);
    EXPECT_EQ(out, "\"" + key + "\"");
  }
  for (const std::string key : {"X-Tenant", "online", "trueish", "v1", "x8080", "Nope", "a.b"}) {
    EXPECT_FALSE(yaml::resolves_to_another_type(key)) << key;
  }
}

TEST(YamlText, PlainOnlyWhereItReadsBackAsItself) {
  for (const std::string plain : {"X-Tenant", "model", "v0.4.0", "a#b", "-a", "?a", ":a", "a:b", "é"}) {
    EXPECT_TRUE(yaml::writes_plain(plain)) << plain;
  }
  for (const std::string quoted : {"", "null", "~", "a: b", "a #b", "a:", "-", "- a", "#a", "'a", " a", "a ", "a\tb", "a\nb"}) {
    EXPECT_FALSE(yaml::writes_plain(quoted)) << quoted;
  }
}

// Every tenant-controlled field of a provider holding `s`, rendered, read back by yaml-cpp.
TEST(YamlText, RenderedHostileStringsReadBackExactlyWithNoExtraKeys) {
  auto gw = gateway();
  gw.spec.configVersion = "v0.3.0";  // routing preferences inline, next to the rest of the provider
  for (const auto& s : hostile_strings()) {
    auto mp = provider("team-a", "p", "custom/" + s);
    mp.spec.name = "name " + s;
    mp.spec.baseURL = "http://h/" + s;
    mp.spec.providerInterface = s;
    mp.spec.httpHost = s;
    mp.spec.headers = {{"X-" + s, s}, {s, "v"}};
    mp.spec.routingPreferences = {{"pref " + s, s}};
    const auto config = render(gw, {&mp}).config;
    YAML::Node doc = YAML::Load(config);
    ASSERT_TRUE(doc.IsMap()) << config;
    const std::set<std::string> top_keys = {"version", "listeners", "model_providers"};
    std::set<std::string> seen;
    for (const auto& entry : doc) seen.insert(entry.first.as<std::string>());
    EXPECT_EQ(seen, top_keys) << config;
    ASSERT_EQ(doc["model_providers"].size(), 1u) << config;
    const auto& p = doc["model_providers"][0];
    EXPECT_EQ(p.size(), 8u) << config;  // name model base_url provider_interface passthrough_auth http_host headers routing_preferences
    EXPECT_EQ(p["name"].as<std::string>(), "name " + s);
    EXPECT_EQ(p["model"].as<std::string>(), "custom/" + s);
    EXPECT_EQ(p["base_url"].as<std::string>(), "http://h/" + s);
    EXPECT_EQ(p["provider_interface"].as<std::string>(), s);
    EXPECT_EQ(p["http_host"].as<std::string>(), s);
    ASSERT_EQ(p["headers"].size(), 2u) << config;
    EXPECT_EQ(p["headers"]["X-" + s].as<std::string>(), s);
    EXPECT_EQ(p["headers"][s].as<std::string>(), "v");
    ASSERT_EQ(p["routing_preferences"].size(), 1u) << config;
    EXPECT_EQ(p["routing_preferences"][0]["name"].as<std::string>(), "pref " + s);
    EXPECT_EQ(p["routing_preferences"][0]["description"].as<std::string>(), s);
  }
}

TEST(YamlText, GatewayNameWithLineBreaksStaysInTheComment) {
  auto gw = gateway("platform", "g\ninjected: 1\rcr: 2\r\ncrlf: 3");
  const auto config = render(gw, {}).config;
  YAML::Node doc = YAML::Load(config);
  EXPECT_FALSE(doc["injected"]) << config;
  EXPECT_FALSE(doc["cr"]) << config;
  EXPECT_FALSE(doc["crlf"]) << config;
  EXPECT_EQ(doc["version"].as<std::string>(), "v0.4.0");
  EXPECT_EQ(config.find('\r'), std::string::npos) << config;
}

}  // namespace
}  // namespace plano::render
