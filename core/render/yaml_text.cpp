#include "core/render/yaml_text.h"

#include <algorithm>
#include <cctype>

namespace plano::render::yaml {
namespace {

constexpr int kReplacementCharacter = 0xFFFD;

bool is_continuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

// One code point from `pos`, advancing past it. Decodes as yaml-cpp does, so the same bytes come
// out: a stray continuation byte, a cut-short sequence (which leaves `pos` on the byte that cut
// it), a surrogate or a noncharacter reads as U+FFFD.
int next_code_point(const char*& pos, const char* end) {
  const auto lead = static_cast<unsigned char>(*pos++);
  if (lead < 0x80) return lead;
  if (lead < 0xC0) return kReplacementCharacter;
  const int length = lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
  int code_point = lead & (0xFF >> (length + 1));
  for (int i = 1; i < length; ++i) {
    if (pos == end || !is_continuation(static_cast<unsigned char>(*pos))) return kReplacementCharacter;
    code_point = (code_point << 6) | (*pos++ & 0x3F);
  }
  const bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;
  const bool noncharacter = (code_point & 0xFFFE) == 0xFFFE || (code_point >= 0xFDD0 && code_point <= 0xFDEF);
  if (code_point > 0x10FFFF || surrogate || noncharacter) return kReplacementCharacter;
  return code_point;
}

void append_utf8(std::string& out, int code_point) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

// \xHH below U+00FF, \uHHHH above: the shortest escape YAML has for the code point.
void append_escape(std::string& out, int code_point) {
  static constexpr char kHex[] = "0123456789abcdef";
  const int digits = code_point < 0xFF ? 2 : 4;
  out += '\\';
  out += digits == 2 ? 'x' : 'u';
  for (int d = digits - 1; d >= 0; --d) out += kHex[(code_point >> (4 * d)) & 0xF];
}

// Printable ASCII that stands for itself between double quotes.
bool is_literal_ascii(unsigned char c) { return c >= 0x20 && c < 0x7F && c != '"' && c != '\\'; }

bool is_blank_or_break(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// C0 controls other than tab and line breaks, DEL, the C1 controls, and U+2028/U+2029: PyYAML
// (Plano's reader) ends a line at NEL, U+2028 and U+2029, so none of them may stand in plain text.
bool is_non_printable_or_break_at(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x20) return c != '\t' && c != '\n' && c != '\r';
  if (c == 0x7F) return true;
  if (c == 0xC2 && i + 1 < s.size()) {
    const auto next = static_cast<unsigned char>(s[i + 1]);
    return next >= 0x80 && next <= 0x9F;
  }
  return s.compare(i, 3, "\xE2\x80\xA8") == 0 || s.compare(i, 3, "\xE2\x80\xA9") == 0;
}

}  // namespace

void append_double_quoted(std::string& out, std::string_view text) {
  out += '"';
  const char* pos = text.data();
  const char* const end = pos + text.size();
  while (pos != end) {
    // Most of a value is plain ASCII: copy it in runs.
    const char* run = pos;
    while (run != end && is_literal_ascii(static_cast<unsigned char>(*run))) ++run;
    out.append(pos, run);
    pos = run;
    if (pos == end) break;
    const int code_point = next_code_point(pos, end);
    switch (code_point) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        // Controls, DEL, the C1 block and NBSP, a byte order mark, and the line and paragraph
        // separators (line breaks to PyYAML, folded to a space inside quotes) would not survive.
        if (code_point < 0x20 || (code_point >= 0x7F && code_point <= 0xA0) || code_point == 0xFEFF ||
            code_point == 0x2028 || code_point == 0x2029) {
          append_escape(out, code_point);
        } else {
          append_utf8(out, code_point);
        }
    }
  }
  out += '"';
}

bool resolves_to_another_type(std::string_view s) {
  std::string_view unsigned_part = s;
  if (!unsigned_part.empty() && (unsigned_part[0] == '+' || unsigned_part[0] == '-')) unsigned_part.remove_prefix(1);
  // Numbers, .inf/.nan, timestamps and YAML 1.1's base-60 integers all start so.
  if (!unsigned_part.empty() && ((unsigned_part[0] >= '0' && unsigned_part[0] <= '9') || unsigned_part[0] == '.')) {
    return true;
  }
  std::string lower(s);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static constexpr std::string_view kWords[] = {"y", "n", "yes", "no", "true", "false", "on", "off", "null", "~", "<<", "="};
  return std::find(std::begin(kWords), std::end(kWords), lower) != std::end(kWords);
}

bool writes_plain(std::string_view s) {
  if (s.empty() || resolves_to_another_type(s)) return false;
  static constexpr std::string_view kIndicators = ",[]{}#&*!|>'\"%@`";
  const char first = s.front();
  if (is_blank_or_break(first) || kIndicators.find(first) != std::string_view::npos) return false;
  if ((first == '-' || first == '?' || first == ':') && (s.size() == 1 || is_blank_or_break(s[1]))) return false;
  if (s.back() == ' ') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool at_end = i + 1 == s.size();
    if (c == ':' && (at_end || is_blank_or_break(s[i + 1]))) return false;                     // ends a key
    if (is_blank_or_break(c) && (c != ' ' || (!at_end && s[i + 1] == '#'))) return false;  // breaks, tabs, " #"
    if (is_non_printable_or_break_at(s, i)) return false;
    if (s.compare(i, 3, "\xEF\xBB\xBF") == 0) return false;  // byte order mark
  }
  return true;
}

void append_scalar(std::string& out, std::string_view text) {
  if (writes_plain(text)) {
    out += text;
  } else {
    append_double_quoted(out, text);
  }
}

}  // namespace plano::render::yaml
