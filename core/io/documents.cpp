#include "core/io/documents.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <sstream>
#include <string_view>

namespace plano::io {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool is_plain_null(const std::string& s) { return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL"; }

// What one conversion needs: where the document is, the limits, and how many more values the
// file's documents may hold (in YAML, its nodes plus an allowance for aliases, which share one
// node in yaml-cpp but are copied into JSON).
struct Conversion {
  const Source& where;
  const Limits& limits;
  std::size_t nodesLeft;

  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    throw InputError(where.describe() + ": " + (path.empty() ? "" : path + ": ") + what);
  }

  // The checks both readers (YAML and JSON) make on each value, so the two refuse alike.
  void check_depth(const std::string& path, int depth) const {
    if (depth > limits.maxDepth) {
      fail(path, "nesting deeper than " + std::to_string(limits.maxDepth) +
                     " levels; no Kubernetes object of this project needs that, check the document");
    }
  }
  void check_new_key(const json& object, const std::string& key, const std::string& key_path) const {
    if (object.contains(key)) fail(key_path, "the key appears twice in one mapping; keep one");
  }
};

std::string member_path(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }
std::string item_path(const std::string& path, std::size_t index) { return path + "[" + std::to_string(index) + "]"; }

std::string too_many_values(const Limits& limits) {
  return "more than " + std::to_string(limits.maxNodes) +
         " values in one file, far more than Kubernetes objects (at most 1.5 MiB each) hold; split the file, or check "
         "it for generated data";
}

// "file:line:column: ", for errors found before there are documents to name (both 1-based).
std::string text_position(const std::string& file, std::size_t line, std::size_t column) {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
}

std::string text_position(const std::string& file, std::string_view text, std::size_t offset) {
  const std::string_view before = text.substr(0, offset);
  const auto last_newline = before.rfind('\n');
  return text_position(file, static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n')) + 1,
                       offset - (last_newline == std::string_view::npos ? 0 : last_newline + 1) + 1);
}

// YAML 1.2 core schema's NaN and infinities, which JSON (and so Kubernetes) cannot hold.
bool is_non_finite(const std::string& s) {
  std::string_view v = s;
  if (!v.empty() && (v[0] == '+' || v[0] == '-')) v.remove_prefix(1);
  return s == ".nan" || s == ".NaN" || s == ".NAN" || v == ".inf" || v == ".Inf" || v == ".INF";
}

// Resolves a plain (unquoted) scalar with YAML 1.2's core schema, as Kubernetes' YAML reader does.
json resolve_plain_scalar(const std::string& s, const Conversion& c, const std::string& path) {
  if (is_plain_null(s)) return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (is_non_finite(s)) {
    c.fail(path, s + " is not a number JSON can hold, so Kubernetes refuses it too; write a finite number, or quote it "
                     "(\"" + s + "\") if text is meant");
  }
  const char* begin = s.c_str();
  char* end = nullptr;
  bool digits = std::any_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits) {
    errno = 0;
    long long i = std::strtoll(begin, &end, 10);
    if (end && *end == '\0') {
      if (errno == 0) return i;
      c.fail(path, s + " is out of range for an integer (at most 19 digits); write a smaller number, or quote it if "
                       "text is meant");
    }
    errno = 0;
    double d = std::strtod(begin, &end);
    bool numeric_form = s.find_first_not_of("0123456789+-.eE") == std::string::npos;
    if (end && *end == '\0' && numeric_form) {
      // ERANGE is also set for underflow to a tiny value, which is still a usable number.
      if (errno == 0 || std::abs(d) < 1) return d;
      c.fail(path, s + " is out of range for a number; write a smaller number, or quote it if text is meant");
    }
  }
  return s;
}

json to_json(const YAML::Node& node, Conversion& c, const std::string& path, int depth) {
  c.check_depth(path, depth);
  if (c.nodesLeft == 0) {
    c.fail(path, "the file expands to more values than its size allows; YAML aliases (*name) copy their anchor's "
                 "value each time, so use fewer of them or write the values out");
  }
  --c.nodesLeft;
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      // yaml-cpp tags quoted scalars "!" and plain ones "?": only plain scalars are typed.
      if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") return node.Scalar();
      return resolve_plain_scalar(node.Scalar(), c, path);
    case YAML::NodeType::Sequence: {
      json out = json::array();
      std::size_t i = 0;
      for (const auto& item : node) out.push_back(to_json(item, c, item_path(path, i++), depth + 1));
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) c.fail(path, "a mapping key is not a plain string; write keys as text");
        const std::string key = kv.first.Scalar();
        const std::string key_path = member_path(path, key);
        c.check_new_key(out, key, key_path);
        out[key] = to_json(kv.second, c, key_path, depth + 1);
      }
      return out;
    }
  }
  return nullptr;
}

std::string yaml_position(const std::string& file, const YAML::Mark& mark) {
  // yaml-cpp's marks are 0-based.
  return text_position(file, static_cast<std::size_t>(mark.line) + 1, static_cast<std::size_t>(mark.column) + 1);
}

// Hands the text to yaml-cpp's Prescan pass a piece at a time and stops it once it reads further
// than Limits::maxBytesBetweenValues past the last value it gave: what it holds meanwhile is
// bounded by that distance, not by the file.
class ReadAheadGuard : public std::streambuf {
 public:
  struct TooFar {
    std::size_t lastValue;
  };

  ReadAheadGuard(const std::string& text, std::size_t max_gap) : text_(text), maxGap_(max_gap) {}
  void value_at(std::size_t offset) { lastValue_ = std::max(lastValue_, offset); }

 protected:
  int_type underflow() override {
    const std::size_t next = egptr() == nullptr ? 0 : static_cast<std::size_t>(egptr() - base());
    if (next >= text_.size()) return traits_type::eof();
    const std::size_t allowed_end = lastValue_ + maxGap_;
    if (next >= allowed_end) throw TooFar{lastValue_};
    const std::size_t piece = std::min({std::size_t{4096}, text_.size() - next, allowed_end - next});
    setg(base() + next, base() + next, base() + next + piece);
    return traits_type::to_int_type(*gptr());
  }

 private:
  char* base() const { return const_cast<char*>(text_.data()); }
  const std::string& text_;
  const std::size_t maxGap_;
  std::size_t lastValue_ = 0;
};

// Walks a file's parse events without building nodes, before LoadAll builds them, to refuse what
// LoadAll would not survive:
// - yaml-cpp 0.7's LoadAll loops forever, allocating an empty document each turn, on a token no
//   node can start with (a stray ',' at the top level): its parser reports an empty document and
//   stays where it was (jbeder/yaml-cpp#1040). Here a document starting where the one before
//   started is an error.
// - a yaml-cpp node costs about 500 bytes, so a 16 MiB file of "[1,1,1,..." would need gigabytes;
//   nodes (aliases uncounted, to_json budgets their copies) and documents are counted here.
class Prescan : public YAML::EventHandler {
 public:
  Prescan(const std::string& text, const std::string& file, const Limits& limits, ReadAheadGuard& guard)
      : text_(text), file_(file), limits_(limits), guard_(guard) {}

  void OnDocumentStart(const YAML::Mark& mark) override {
    value_at(mark);
    if (documents_ > 0 && mark.pos == last_start_) {
      const std::string token = mark.pos >= 0 && static_cast<std::size_t>(mark.pos) < text_.size()
                                    ? std::string(1, text_[static_cast<std::size_t>(mark.pos)]) : "end of input";
      fail(mark, "malformed YAML: unexpected '" + token + "'; remove it, or quote the value it belongs to");
    }
    last_start_ = mark.pos;
    if (++documents_ > limits_.maxDocuments) {
      fail(mark, "more than " + std::to_string(limits_.maxDocuments) + " documents; split the file");
    }
  }
  std::size_t nodes() const { return nodes_; }

  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { count_node(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { value_at(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override {
    count_node(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    count_node(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    count_node(mark);
  }
  void OnMapEnd() override {}

 private:
  [[noreturn]] void fail(const YAML::Mark& mark, const std::string& what) const {
    throw InputError(yaml_position(file_, mark) + what);
  }
  void count_node(const YAML::Mark& mark) {
    value_at(mark);
    if (++nodes_ > limits_.maxNodes) fail(mark, too_many_values(limits_));
  }
  void value_at(const YAML::Mark& mark) {
    if (mark.pos >= 0) guard_.value_at(static_cast<std::size_t>(mark.pos));
  }

  const std::string& text_;
  const std::string& file_;
  const Limits& limits_;
  ReadAheadGuard& guard_;
  std::size_t documents_ = 0, nodes_ = 0;
  int last_start_ = -1;
};

// The offset of the first byte that does not belong to well-formed UTF-8, or npos.
std::size_t invalid_utf8_at(const std::string& text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    unsigned char b = p[i];
    std::size_t len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > n) return i;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
    }
    // Overlong forms, UTF-16 surrogates and code points beyond U+10FFFF are not UTF-8 either.
    std::uint32_t cp = len == 1 ? b : b & (0x7F >> len);
    for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (p[i + k] & 0x3F);
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return i;
    i += len;
  }
  return std::string::npos;
}

std::string read_stream(std::istream& in, const std::string& name, const Limits& limits) {
  std::string text;
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > limits.maxFileBytes) {
      throw InputError(name + ": larger than " + std::to_string(limits.maxFileBytes >> 20) +
                       " MiB; split it into smaller files");
    }
  }
  if (in.bad()) throw InputError(name + ": read failed: " + std::strerror(errno));
  return text;
}

std::string read_file(const fs::path& path, const Limits& limits) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (!ec && size > limits.maxFileBytes) {
    throw InputError(path.string() + ": " + std::to_string(size >> 20) + " MiB is larger than the " +
                     std::to_string(limits.maxFileBytes >> 20) + " MiB limit; split it into smaller files");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string() + ": cannot open: " + std::strerror(errno));
  return read_stream(in, path.string(), limits);
}

// Multi-document YAML: events counted first (Prescan), then nodes built and converted to JSON.
std::vector<Document> parse_yaml_documents(const std::string& text, const std::string& file, const Limits& limits) {
  std::vector<YAML::Node> nodes;
  ReadAheadGuard guarded(text, limits.maxBytesBetweenValues);
  Prescan prescan(text, file, limits, guarded);
  try {
    std::istream in(&guarded);
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(prescan)) {
    }
    nodes = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    throw InputError(yaml_position(file, e.mark) + "malformed YAML: " + e.msg);
  } catch (const ReadAheadGuard::TooFar& far) {
    throw InputError(text_position(file, text, far.lastValue) + "more than " +
                     std::to_string(limits.maxBytesBetweenValues >> 10) +
                     " KiB from here hold no complete value, and yaml-cpp keeps all of it in memory meanwhile: a "
                     "flow collection ([...] or {...}) this long, or a longer single value than a ConfigMap may "
                     "hold; write the collection in block style, or as a file of its own that starts with '{' or "
                     "'[' (read as JSON)");
  }
  // Beyond the nodes the parser saw, JSON values can only be alias copies, which get an allowance.
  std::size_t nodes_left = prescan.nodes() + limits.maxAliasNodes;
  std::vector<Document> out;
  int index = 0;
  for (const auto& node : nodes) {
    ++index;
    Source where{file, index};
    Conversion conversion{where, limits, nodes_left};
    json body = to_json(node, conversion, "", 0);
    nodes_left = conversion.nodesLeft;
    if (body.is_null()) continue;
    out.push_back(Document{where, std::move(body)});
  }
  return out;
}

// Whether the text, after a UTF-8 byte order mark and white space, starts with '{' or '['.
bool starts_like_json(std::string_view text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  const auto first = text.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && (text[first] == '{' || text[first] == '[');
}

// Reads one JSON document with nlohmann's SAX parser, building it value by value so that the
// limits and refusals act while it parses. yaml-cpp would hold every token of a flow collection
// at the top of a document (about 140 bytes of memory per byte of input) before its first event:
// the read-ahead guard stops it at 1 MiB, but kubectl's JSON is often larger than that.
class JsonReader {
 public:
  explicit JsonReader(Conversion& conversion) : c_(conversion) {}

  json take_document() { return std::move(document_); }
  // Where and why the text is not JSON, once sax_parse has returned false.
  std::size_t error_offset() const { return error_offset_; }
  const std::string& error() const { return error_; }

  // nlohmann's SAX interface. Numbers that need it are resolved from their text by the YAML
  // reader's rules, so both readers give the same value or the same refusal; the text of a JSON
  // integer is its decimal form (JSON allows no leading zeros or '+').
  bool null() { return add(nullptr); }
  bool boolean(bool value) { return add(value); }
  bool number_integer(std::int64_t value) { return add(value); }
  bool number_unsigned(std::uint64_t value) {
    if (value <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return add(static_cast<std::int64_t>(value));
    }
    return add_number(std::to_string(value));
  }
  bool number_float(double, const std::string& text) { return add_number(text); }
  bool string(std::string& value) { return add(std::move(value)); }
  // Only nlohmann's binary formats (CBOR, MessagePack, ...) have these; JSON text does not.
  bool binary(json::binary_t&) { return false; }
  bool start_object(std::size_t) { return open(json::object()); }
  bool start_array(std::size_t) { return open(json::array()); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(std::string& key) {
    Open& object = open_.back();
    const std::string key_path = member_path(object.path, key);
    c_.check_new_key(*object.value, key, key_path);
    count(key_path);  // yaml-cpp reports a key as a node too, and Prescan counts it
    object.key = std::move(key);
    return true;
  }
  bool parse_error(std::size_t position, const std::string& last_token, const nlohmann::detail::exception& e) {
    // nlohmann stops at a number too large for a double (error 406) before number_float: refuse
    // it by the YAML reader's rules too, naming the field.
    if (e.id == 406) add_number(last_token);
    error_offset_ = position > 0 ? position - 1 : 0;  // position counts the byte it stopped at
    error_ = e.what();
    // What follows the position nlohmann puts first (ours replaces it), without the token it
    // stopped in, which can be a whole unterminated string.
    if (auto colon = error_.find(": "); colon != std::string::npos) error_.erase(0, colon + 2);
    const std::string last_read = "; last read: '" + last_token + "'";
    if (auto at = error_.find(last_read); at != std::string::npos) error_.erase(at, last_read.size());
    return false;
  }

 private:
  // An open array or object: where it is, its path and, for an object, the key being read.
  struct Open {
    json* value;
    std::string path;
    std::string key;
  };

  std::string next_path() const {
    if (open_.empty()) return "";
    const Open& in = open_.back();
    return in.value->is_array() ? item_path(in.path, in.value->size()) : member_path(in.path, in.key);
  }
  void count(const std::string& path) {
    if (c_.nodesLeft == 0) c_.fail(path, too_many_values(c_.limits));
    --c_.nodesLeft;
  }
  // Checks the next value at `path` and puts it where the parser is: the document itself, the end
  // of the open array, or the open object's key. The reference stays valid while the value is open:
  // its array does not grow meanwhile, and map entries do not move.
  json& place(json value, const std::string& path) {
    c_.check_depth(path, static_cast<int>(open_.size()));
    count(path);
    if (open_.empty()) return document_ = std::move(value);
    Open& in = open_.back();
    if (in.value->is_array()) return in.value->emplace_back(std::move(value));
    return (*in.value)[in.key] = std::move(value);
  }
  bool add(json value) {
    place(std::move(value), next_path());
    return true;
  }
  bool add_number(const std::string& text) {
    const std::string path = next_path();
    place(resolve_plain_scalar(text, c_, path), path);
    return true;
  }
  bool open(json container) {
    std::string path = next_path();
    json& placed = place(std::move(container), path);
    open_.push_back(Open{&placed, std::move(path), {}});
    return true;
  }
  bool close() {
    open_.pop_back();
    return true;
  }

  Conversion& c_;
  json document_;
  std::vector<Open> open_;
  std::size_t error_offset_ = 0;
  std::string error_;
};

bool is_manifest(const fs::path& p) {
  auto ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

}  // namespace

std::vector<Document> parse_documents(const std::string& text, const std::string& file,
                                      const Limits& limits) {
  if (auto bad = invalid_utf8_at(text); bad != std::string::npos) {
    throw InputError(text_position(file, text, bad) + "not UTF-8 text (byte " + std::to_string(bad) +
                     "); save the file as UTF-8");
  }
  if (starts_like_json(text)) {
    Source where{file, 1};
    Conversion conversion{where, limits, limits.maxNodes};
    JsonReader reader(conversion);
    if (json::sax_parse(text, &reader)) return {Document{where, reader.take_document()}};
    // Not JSON, yet it starts like JSON: flow-style YAML ({a: 1}) or JSON followed by more
    // documents. yaml-cpp would hold every token of that flow collection before its first event,
    // so only a file small enough for that memory is read as YAML; a larger one is refused.
    if (text.size() > limits.maxFlowYamlBytes) {
      throw InputError(text_position(file, text, reader.error_offset()) + "malformed JSON: " + reader.error() +
                       "; a file over " + std::to_string(limits.maxFlowYamlBytes >> 10) +
                       " KiB that starts with '{' or '[' must be one JSON document: fix the JSON, or split the file");
    }
  }
  return parse_yaml_documents(text, file, limits);
}

std::vector<Document> load_documents(const std::vector<std::string>& paths, const Limits& limits) {
  std::vector<Document> out;
  auto append = [&](const std::string& text, const std::string& name) {
    auto docs = parse_documents(text, name, limits);
    if (out.size() + docs.size() > limits.maxDocuments) {
      throw InputError(name + ": more than " + std::to_string(limits.maxDocuments) +
                       " documents in all");
    }
    std::move(docs.begin(), docs.end(), std::back_inserter(out));
  };
  for (const auto& path : paths) {
    if (path == "-") {
      append(read_stream(std::cin, "-", limits), "-");
      continue;
    }
    std::error_code ec;
    auto status = fs::status(path, ec);
    if (ec || !fs::exists(status)) throw InputError(path + ": no such file or directory");
    if (fs::is_directory(status)) {
      std::vector<fs::path> files;
      for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::end(it); it.increment(ec)) {
        if (it->is_regular_file() && is_manifest(it->path())) files.push_back(it->path());
      }
      if (ec) throw InputError(path + ": cannot list: " + ec.message());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) append(read_file(f, limits), f.string());
    } else {
      append(read_file(path, limits), path);
    }
  }
  return out;
}

}  // namespace plano::io
