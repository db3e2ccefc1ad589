#include "core/rules/tenant_text.h"

#include <cstdio>

namespace plano::rules {
namespace {

bool starts_variable(char c) {
  return c == '{' || c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

// The code point of a character that ends or splits a line for PyYAML or an HTTP parser (C0
// controls but tab, DEL, the C1 controls with NEL, U+2028, U+2029) starting at byte i, or -1.
int line_breaking_code_point(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if ((c < 0x20 && c != '\t') || c == 0x7F) return c;
  if (c == 0xC2 && i + 1 < s.size()) {
    const auto next = static_cast<unsigned char>(s[i + 1]);
    if (next >= 0x80 && next <= 0x9F) return next;
  }
  if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80) {
    const auto last = static_cast<unsigned char>(s[i + 2]);
    if (last == 0xA8 || last == 0xA9) return 0x2000 | (last - 0xA8 + 0x28);
  }
  return -1;
}

}  // namespace

std::optional<std::string> tenant_text_problem(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '$' && i + 1 < text.size() && starts_variable(text[i + 1])) {
      // The variable as envsubst would read it, for the message: $NAME or ${NAME}, cut at 24 bytes.
      std::size_t end = i + 1;
      while (end < text.size() && end - i < 24 && (starts_variable(text[end]) || (text[end] >= '0' && text[end] <= '9'))) ++end;
      if (end < text.size() && text[end] == '}') ++end;
      return "contains \"" + std::string(text.substr(i, end - i)) +
             "\", which Plano's start-up (envsubst over the whole config) would replace with an environment "
             "variable, such as another provider's key; envsubst has no escape, so remove the '$' or follow it "
             "with a space or a digit";
    }
    if (const int cp = line_breaking_code_point(text, i); cp >= 0) {
      char code[16];
      std::snprintf(code, sizeof code, "U+%04X", cp);
      return "contains the control character " + std::string(code) + " at byte " + std::to_string(i) +
             ", which Plano's config reader (PyYAML) or an HTTP upstream takes as a line break or refuses; remove it";
    }
  }
  return std::nullopt;
}

bool is_http_token(std::string_view name) {
  static constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
  if (name.empty()) return false;
  for (char c : name) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    if (!alnum && kSymbols.find(c) == std::string_view::npos) return false;
  }
  return true;
}

std::string header_field(std::string_view name) {
  if (is_http_token(name)) return "spec.headers." + std::string(name);
  std::string out = "spec.headers[\"";
  for (unsigned char c : name) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7F) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"]";
}

}  // namespace plano::rules
