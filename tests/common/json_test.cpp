// JSON from outside wr: nesting is bounded before anything recurses over it.
#include "common/json.h"

#include <gtest/gtest.h>

#include <string>

namespace {

std::string nested(int depth, const std::string& inner = "1") {
  return std::string(static_cast<size_t>(depth), '[') + inner + std::string(static_cast<size_t>(depth), ']');
}

TEST(Json, NestingBeyondTheBoundIsAParseError) {
  EXPECT_EQ(wr::parse_json(nested(wr::kMaxJsonDepth)).dump().size(), static_cast<size_t>(2 * wr::kMaxJsonDepth + 1));
  EXPECT_THROW(wr::parse_json(nested(wr::kMaxJsonDepth + 1)), nlohmann::json::parse_error);
  try {
    wr::parse_json(nested(30000));  // crashed wr's own recursion before the bound
    FAIL();
  } catch (const nlohmann::json::parse_error& e) {
    EXPECT_NE(std::string(e.what()).find("nested deeper than 128 levels at byte 129"), std::string::npos) << e.what();
  }
  // objects count as arrays do
  std::string objects;
  for (int i = 0; i <= wr::kMaxJsonDepth; ++i) objects += "{\"a\":";
  objects += "1" + std::string(static_cast<size_t>(wr::kMaxJsonDepth + 1), '}');
  EXPECT_THROW(wr::parse_json(objects), nlohmann::json::parse_error);
}

TEST(Json, BracketsInsideStringsDoNotCount) {
  const std::string text = "{\"piece\": \"" + std::string(1000, '[') + "\\\"[\", \"x\": [1]}";
  const auto j = wr::parse_json(text);
  EXPECT_EQ(j["piece"].get<std::string>().size(), 1002u);
  EXPECT_EQ(j["x"][0], 1);
  EXPECT_THROW(wr::parse_json("[1, 2"), nlohmann::json::parse_error);  // syntax errors as before
}

}  // namespace
