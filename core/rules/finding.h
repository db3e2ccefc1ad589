// A finding: one rule's verdict on one field of one object.
#pragma once

#include <string>
#include <vector>

namespace plano::rules {

enum class Severity { Error, Warning };

struct ObjectRef {
  std::string kind;
  std::string namespace_;
  std::string name;
  std::string describe() const { return kind + "/" + namespace_ + "/" + name; }
  bool operator==(const ObjectRef&) const = default;
  auto operator<=>(const ObjectRef&) const = default;
};

struct Finding {
  Severity severity = Severity::Error;
  ObjectRef object;
  std::string field;    // path such as spec.listeners[1].port; empty for the whole object
  std::string message;  // what is wrong and how to fix it
};

inline bool has_error(const std::vector<Finding>& findings) {
  for (const auto& f : findings) {
    if (f.severity == Severity::Error) return true;
  }
  return false;
}

inline const char* to_string(Severity s) { return s == Severity::Error ? "error" : "warning"; }

}  // namespace plano::rules
