// Process-wide logging set-up: text for people, JSON lines for log pipelines; and fields that
// say what a line is about (the object, the gateway, the reconcile), for both.
#pragma once

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace plano::log {

// level: trace, debug, info, warn, error; format: text or json. Lines go to `out` (stderr
// unless a test asks otherwise). Throws std::invalid_argument.
void configure(const std::string& level, const std::string& format, std::FILE* out = stderr);

using Field = std::pair<std::string, std::string>;

// While a FieldScope lives, every line logged on its thread carries its fields: as keys of the
// JSON object (after ts, level and msg, which they never replace), or as key=value after the
// message in text. Scopes nest; a field repeated by an inner scope shows its inner value.
class FieldScope {
 public:
  explicit FieldScope(std::vector<Field> fields);
  ~FieldScope();
  FieldScope(const FieldScope&) = delete;
  FieldScope& operator=(const FieldScope&) = delete;

 private:
  std::size_t outer_size_;
};

// The fields in force on this thread, to carry work handed to another thread.
std::vector<Field> current_fields();

}  // namespace plano::log
