// Reading manifests: files, directories and stdin into JSON documents.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace plano::io {

// Where a document came from: the file ("-" for stdin) and its 1-based position in it.
struct Source {
  std::string file;
  int document = 0;
  std::string describe() const { return file + ":" + std::to_string(document); }
};

struct Document {
  Source source;
  nlohmann::json body;
};

// Input that cannot be read or parsed at all (as opposed to an object that breaks a rule).
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Limits {
  // Kubernetes caps an object at 1.5 MiB; a manifest file ten times that is already unusual.
  std::size_t maxFileBytes = 16u << 20;
  std::size_t maxDocuments = 100000;
  // Values (YAML nodes) in one file before aliases are expanded: the parser needs about 500 bytes
  // for each, so this bounds its memory to a few hundred MiB; ten thousand objects fit.
  std::size_t maxNodes = 500000;
  int maxDepth = 64;
  // Values that YAML aliases may add to a file beyond its own nodes, so an anchor/alias bomb
  // ("billion laughs") fails fast instead of expanding into gigabytes of JSON.
  std::size_t maxAliasNodes = 100000;
  // A file that starts with '{' or '[' is read as one JSON document, in memory proportional to its
  // values. One that is not JSON after all (flow-style YAML, or more documents after the first) is
  // read as YAML only up to this size: yaml-cpp holds every token of a flow collection at the top
  // of a document at once, about 140 bytes for each byte of input, before it builds the nodes: a
  // file this size of "{a: [1,1,..." needs 75 MB.
  std::size_t maxFlowYamlBytes = 256u << 10;
  // How far yaml-cpp may read past the last value it gave before it gives another. Only a flow
  // collection on a line of its own ("---\n[1,1,..." or "- {a: 1, ...") makes it read far with
  // nothing to show, holding every token (up to 270 bytes per byte of input); a long scalar does
  // too but costs only its length. 1 MiB: no ConfigMap or Secret value may be longer.
  std::size_t maxBytesBetweenValues = 1u << 20;
};

// Parses multi-document YAML into documents; empty documents are dropped. A file that starts
// with '{' or '[' is read as JSON (the same document YAML would give, under the same limits).
// Throws InputError naming `file` and the document on malformed or over-limit input.
std::vector<Document> parse_documents(const std::string& text, const std::string& file,
                                      const Limits& limits = {});

// Expands PATHs (files, directories searched recursively for *.yaml, *.yml, *.json, or "-" for
// stdin) in a stable order and parses each file. Throws InputError for unreadable paths.
std::vector<Document> load_documents(const std::vector<std::string>& paths,
                                     const Limits& limits = {});

}  // namespace plano::io
