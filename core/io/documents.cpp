#include "core/io/documents.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

namespace plano::io {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool is_plain_null(const std::string& s) { return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL"; }

// Resolves a plain (unquoted) scalar with YAML 1.2's core schema, as Kubernetes' YAML reader does.
json resolve_plain_scalar(const std::string& s) {
  if (is_plain_null(s)) return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  const char* begin = s.c_str();
  char* end = nullptr;
  bool digits = std::any_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits) {
    errno = 0;
    long long i = std::strtoll(begin, &end, 10);
    if (errno == 0 && end && *end == '\0') return i;
    errno = 0;
    double d = std::strtod(begin, &end);
    bool numeric_form = s.find_first_not_of("0123456789+-.eE") == std::string::npos;
    if (errno == 0 && end && *end == '\0' && numeric_form) return d;
  }
  return s;
}

json to_json(const YAML::Node& node, const Source& where, int depth, const Limits& limits) {
  if (depth > limits.maxDepth) {
    throw InputError(where.describe() + ": nesting deeper than " + std::to_string(limits.maxDepth) +
                     " levels; no Kubernetes object of this project needs that, check the document");
  }
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      // yaml-cpp tags quoted scalars "!" and plain ones "?": only plain scalars are typed.
      if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") return node.Scalar();
      return resolve_plain_scalar(node.Scalar());
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : node) out.push_back(to_json(item, where, depth + 1, limits));
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          throw InputError(where.describe() + ": a mapping key is not a plain string");
        }
        const std::string key = kv.first.Scalar();
        if (out.contains(key)) {
          throw InputError(where.describe() + ": key \"" + key +
                           "\" appears twice in one mapping; keep one");
        }
        out[key] = to_json(kv.second, where, depth + 1, limits);
      }
      return out;
    }
  }
  return nullptr;
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

bool is_manifest(const fs::path& p) {
  auto ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

}  // namespace

std::vector<Document> parse_documents(const std::string& text, const std::string& file,
                                      const Limits& limits) {
  std::vector<Document> out;
  std::vector<YAML::Node> nodes;
  try {
    nodes = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    // yaml-cpp's marks are 0-based.
    throw InputError(file + ":" + std::to_string(e.mark.line + 1) + ":" +
                     std::to_string(e.mark.column + 1) + ": malformed YAML: " + e.msg);
  }
  if (nodes.size() > limits.maxDocuments) {
    throw InputError(file + ": " + std::to_string(nodes.size()) + " documents exceed the limit of " +
                     std::to_string(limits.maxDocuments));
  }
  int index = 0;
  for (const auto& node : nodes) {
    ++index;
    Source where{file, index};
    json body = to_json(node, where, 0, limits);
    if (body.is_null()) continue;
    out.push_back(Document{where, std::move(body)});
  }
  return out;
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
