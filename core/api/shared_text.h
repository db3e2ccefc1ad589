// Text that many objects hold the same: a condition's message, reason and time repeat across a
// gateway's thousand providers ("in the config of gateway platform/g0", the second they were
// programmed). Copies share one buffer, and interned() makes equal values decoded at different
// times share one too: a provider cache of 10,000 otherwise keeps 60,000 copies of a few texts.
#pragma once

#include <iosfwd>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

namespace plano::api {

class SharedText {
 public:
  SharedText() = default;
  // Implicit both ways, so code that built and read these fields as strings reads as before.
  SharedText(std::string text);
  SharedText(const char* text) : SharedText(std::string(text)) {}

  // A value equal to `text`, sharing the buffer of any equal value interned before and still held.
  static SharedText interned(std::string_view text);

  const std::string& str() const;
  operator const std::string&() const { return str(); }
  bool empty() const { return str().empty(); }

  friend bool operator==(const SharedText& a, const SharedText& b) { return a.text_ == b.text_ || a.str() == b.str(); }
  friend bool operator==(const SharedText& a, const std::string& b) { return a.str() == b; }
  friend bool operator==(const SharedText& a, const char* b) { return a.str() == b; }

 private:
  explicit SharedText(std::shared_ptr<const std::string> text) : text_(std::move(text)) {}
  std::shared_ptr<const std::string> text_;  // null for the empty text
};

std::string operator+(const std::string& a, const SharedText& b);
std::string operator+(const char* a, const SharedText& b);
void to_json(nlohmann::json& j, const SharedText& t);
std::ostream& operator<<(std::ostream& out, const SharedText& t);

}  // namespace plano::api
