#include "core/rules/quantity.h"

#include <cstdint>
#include <limits>

namespace plano::rules {
namespace {

constexpr QuantityInt kSaturated = std::numeric_limits<QuantityInt>::max() / 16;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

QuantityInt times(QuantityInt value, QuantityInt factor) {
  return value > kSaturated / factor ? kSaturated : value * factor;
}

// Consumes a leading '+' or '-'; whether it was '-'.
bool take_sign(std::string_view& text) {
  const bool negative = !text.empty() && text[0] == '-';
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) text.remove_prefix(1);
  return negative;
}

// Consumes an integer exponent ([+-]?digits); nullopt when absent or absurdly long.
std::optional<int> take_exponent(std::string_view& text) {
  const bool negative = take_sign(text);
  if (text.empty() || text.size() > 4) return std::nullopt;
  int value = 0;
  for (char c : text) {
    if (!is_digit(c)) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  text = {};
  return negative ? -value : value;
}

}  // namespace

std::optional<Quantity> parse_quantity(std::string_view text) {
  const bool negative = take_sign(text);
  // The digits as one integer, and how many of them follow the point.
  QuantityInt digits = 0;
  int fraction_digits = 0, digit_count = 0;
  bool dot = false;
  std::size_t i = 0;
  for (; i < text.size() && (is_digit(text[i]) || (text[i] == '.' && !dot)); ++i) {
    if (text[i] == '.') {
      dot = true;
      continue;
    }
    ++digit_count;
    // Digits past saturation only scale it; past the point they no longer matter.
    if (digits < kSaturated / 10) {
      digits = digits * 10 + (text[i] - '0');
      if (dot) ++fraction_digits;
    } else if (!dot) {
      digits = kSaturated;
    }
  }
  if (digit_count == 0) return std::nullopt;
  text.remove_prefix(i);

  int power_of_ten = 9 - fraction_digits;  // to nano-units
  int power_of_two = 0;
  if (!text.empty()) {
    static constexpr struct {
      std::string_view suffix;
      int ten, two;
    } kSuffixes[] = {{"Ki", 0, 10}, {"Mi", 0, 20}, {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
                     {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},  {"k", 3, 0},   {"M", 6, 0},   {"G", 9, 0},
                     {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0}};
    bool matched = false;
    for (const auto& s : kSuffixes) {
      if (text == s.suffix) {
        power_of_ten += s.ten;
        power_of_two = s.two;
        matched = true;
      }
    }
    if (!matched) {
      if (text[0] != 'e' && text[0] != 'E') return std::nullopt;
      text.remove_prefix(1);
      auto exponent = take_exponent(text);
      if (!exponent) return std::nullopt;
      power_of_ten += *exponent;
    }
  }

  QuantityInt value = digits;
  for (int k = 0; k < power_of_two; ++k) value = times(value, 2);
  for (int k = 0; k < power_of_ten; ++k) value = times(value, 10);
  for (int k = 0; k > power_of_ten && value != 0; --k) value = (value + 9) / 10;  // rounds up, as Kubernetes
  // Kubernetes caps a quantity with a binary suffix at 2^63-1 units (ParseQuantity), so 8Ei and
  // 10000Pi are equal there and both less than 10E: a request is judged against its limit so.
  constexpr QuantityInt kBinaryCap = static_cast<QuantityInt>(std::numeric_limits<std::int64_t>::max()) * 1'000'000'000;
  if (power_of_two > 0 && value > kBinaryCap) value = kBinaryCap;
  return Quantity{negative ? -value : value};
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  std::size_t digits = 0;
  long long n = 0;
  while (digits < text.size() && digits < 10 && text[digits] >= '0' && text[digits] <= '9') n = n * 10 + (text[digits++] - '0');
  if (digits == 0 || digits > 9) return std::nullopt;
  const auto unit = text.substr(digits);
  if (unit == "ms") return std::chrono::milliseconds(n);
  if (unit == "s") return std::chrono::seconds(n);
  if (unit == "m") return std::chrono::minutes(n);
  if (unit == "h") return std::chrono::hours(n);
  return std::nullopt;
}

}  // namespace plano::rules
