#include "core/api/shared_text.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

namespace plano::api {
namespace {

TEST(SharedText, EqualInternedValuesShareOneBuffer) {
  const std::string message = "in the config of gateway platform/g0";
  const auto a = SharedText::interned(message);
  const auto b = SharedText::interned(std::string(message));  // another buffer, same text
  EXPECT_EQ(&a.str(), &b.str());
  const SharedText copy = a;
  EXPECT_EQ(&copy.str(), &a.str());
  EXPECT_NE(&SharedText::interned("in the config of gateway platform/g1").str(), &a.str());
}

TEST(SharedText, ComparesAndPrintsAsItsText) {
  const SharedText made = std::string("Programmed");
  const auto interned = SharedText::interned("Programmed");
  EXPECT_NE(&made.str(), &interned.str()) << "only interned values are looked up";
  EXPECT_EQ(made, interned);
  EXPECT_EQ(made, "Programmed");
  EXPECT_EQ(made, std::string("Programmed"));
  EXPECT_FALSE(made == "Accepted");
  EXPECT_EQ("reason " + made, "reason Programmed");
  EXPECT_EQ(nlohmann::json(made), "Programmed");
  std::ostringstream out;
  out << made;
  EXPECT_EQ(out.str(), "Programmed");
}

TEST(SharedText, TheEmptyTextHoldsNothing) {
  EXPECT_TRUE(SharedText().empty());
  EXPECT_TRUE(SharedText::interned("").empty());
  EXPECT_EQ(SharedText(), "");
  EXPECT_EQ(SharedText(), SharedText::interned(""));
}

TEST(SharedText, AValueInternedAgainAfterItsHoldersWentIsWhole) {
  { const auto held = SharedText::interned("2026-12-07T07:16:21Z"); }
  // Enough other values to pass a sweep of the table, then the first one again.
  for (int i = 0; i < 5000; ++i) EXPECT_EQ(SharedText::interned("t" + std::to_string(i)), "t" + std::to_string(i));
  const auto again = SharedText::interned("2026-12-07T07:16:21Z");
  EXPECT_EQ(again, "2026-12-07T07:16:21Z");
}

TEST(SharedText, ThreadsInterningTheSameValuesAgreeOnThem) {
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &wrong] {
      for (int i = 0; i < 20000; ++i) {
        const auto text = "message " + std::to_string(i % 300);
        if (SharedText::interned(text) != text) ++wrong[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace plano::api
