#include "core/rules/quantity.h"

#include <gtest/gtest.h>

namespace plano::rules {
namespace {

constexpr QuantityInt kNanosPerUnit = 1'000'000'000;

QuantityInt nanos_of(const char* text) {
  auto q = parse_quantity(text);
  EXPECT_TRUE(q) << text;
  return q ? q->nanos : -12345;
}

TEST(Quantity, ValuesOfEachFormExactly) {
  EXPECT_EQ(nanos_of("2"), 2 * kNanosPerUnit);
  EXPECT_EQ(nanos_of("+2"), 2 * kNanosPerUnit);
  EXPECT_EQ(nanos_of("-1"), -kNanosPerUnit);
  EXPECT_EQ(nanos_of("0.5"), kNanosPerUnit / 2);
  EXPECT_EQ(nanos_of(".5"), kNanosPerUnit / 2);
  EXPECT_EQ(nanos_of("5."), 5 * kNanosPerUnit);
  EXPECT_EQ(nanos_of("500m"), kNanosPerUnit / 2);
  EXPECT_EQ(nanos_of("100u"), 100'000);
  EXPECT_EQ(nanos_of("7n"), 7);
  EXPECT_EQ(nanos_of("1k"), 1000 * kNanosPerUnit);
  EXPECT_EQ(nanos_of("2G"), QuantityInt{2'000'000'000} * kNanosPerUnit);
  EXPECT_EQ(nanos_of("1E"), QuantityInt{1'000'000'000'000'000'000} * kNanosPerUnit);
  EXPECT_EQ(nanos_of("1Ki"), 1024 * kNanosPerUnit);
  EXPECT_EQ(nanos_of("1.5Gi"), QuantityInt{1'610'612'736} * kNanosPerUnit);
  EXPECT_EQ(nanos_of("1Ei"), (QuantityInt{1} << 60) * kNanosPerUnit);
  EXPECT_EQ(nanos_of("1e3"), 1000 * kNanosPerUnit);
  EXPECT_EQ(nanos_of("1E3"), 1000 * kNanosPerUnit);
  EXPECT_EQ(nanos_of("5e-1"), kNanosPerUnit / 2);
  EXPECT_EQ(nanos_of("2e+2"), 200 * kNanosPerUnit);
  // Finer than a nano-unit rounds up, as Kubernetes does.
  EXPECT_EQ(nanos_of("0.1n"), 1);
  EXPECT_EQ(nanos_of("1e-20"), 1);
}

TEST(Quantity, OrderAcrossSuffixesIsExact) {
  EXPECT_EQ(*parse_quantity("1500m"), *parse_quantity("1.5"));
  EXPECT_EQ(*parse_quantity("1024Mi"), *parse_quantity("1Gi"));
  EXPECT_LT(*parse_quantity("1000Mi"), *parse_quantity("1Gi"));
  EXPECT_GT(*parse_quantity("1G"), *parse_quantity("900Mi"));
  EXPECT_EQ(*parse_quantity("0.3"), *parse_quantity("300m"));
  // Amounts far beyond any machine saturate instead of wrapping around.
  EXPECT_GT(*parse_quantity("99999999999999999999999999999999999999999Ei"), *parse_quantity("1Ei"));
  EXPECT_GT(*parse_quantity("1e9999"), *parse_quantity("1Ei"));
}

TEST(Quantity, OtherTextIsNotAQuantity) {
  for (const char* text : {"", "m", "Mi", ".", "-", "1.2.3", "1 Gi", "1gi", "1KB", "1Kii", "1e", "1e+", "e3", "one", "1m5",
                           "0x10", "1,5", "1e1.5", "1e99999"}) {
    EXPECT_FALSE(parse_quantity(text)) << text;
  }
}

}  // namespace
}  // namespace plano::rules

namespace plano::rules {
namespace {

using namespace std::chrono_literals;

TEST(Duration, DigitsThenMsSMOrH) {
  EXPECT_EQ(parse_duration("500ms"), 500ms);
  EXPECT_EQ(parse_duration("30s"), 30s);
  EXPECT_EQ(parse_duration("0s"), 0s);
  EXPECT_EQ(parse_duration("5m"), 5min);
  EXPECT_EQ(parse_duration("2h"), 2h);
  EXPECT_EQ(parse_duration("999999999h"), std::chrono::hours(999999999));
}

TEST(Duration, AnythingElseIsNone) {
  for (const char* text : {"", "s", "30", "30 s", "-5s", "1.5s", "30sec", "5d", "1000000000s", "30S", " 30s", "1h30m"}) {
    EXPECT_FALSE(parse_duration(text)) << text;
  }
}

}  // namespace
}  // namespace plano::rules
