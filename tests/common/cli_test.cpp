#include "common/cli.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "common/error.h"
#include "common/strings.h"

namespace {

const std::vector<wr::Option> kTable = {
    {"--threads", "N", "threads", "0", "WR_TEST_THREADS"},
    {"--tasks", "LIST", "tasks", "arc_easy", ""},
    {"--no-share", "", "flag", "", ""},
};

wr::Args parse(std::vector<std::string> words) {
  std::vector<char*> argv = {const_cast<char*>("prog")};
  for (auto& w : words) argv.push_back(w.data());
  return wr::Args::parse(kTable, static_cast<int>(argv.size()), argv.data());
}

TEST(Cli, ValuesFlagsPositionalsAndDefaults) {
  auto a = parse({"ckpt.pt", "--threads", "4", "--no-share", "--tasks=hellaswag,piqa", "more"});
  EXPECT_EQ(a.get_int("--threads"), 4);
  EXPECT_TRUE(a.flag("--no-share"));
  EXPECT_EQ(a.get("--tasks"), "hellaswag,piqa");
  EXPECT_EQ(a.positional, (std::vector<std::string>{"ckpt.pt", "more"}));
  auto b = parse({});
  EXPECT_EQ(b.get("--tasks"), "arc_easy");
  EXPECT_FALSE(b.flag("--no-share"));
  EXPECT_FALSE(b.given("--tasks"));
}

TEST(Cli, EnvironmentSitsBetweenCommandLineAndDefault) {
  setenv("WR_TEST_THREADS", "3", 1);
  EXPECT_EQ(parse({}).get_int("--threads"), 3);
  EXPECT_EQ(parse({"--threads", "5"}).get_int("--threads"), 5);
  unsetenv("WR_TEST_THREADS");
}

TEST(Cli, UnknownOptionSuggestsTheClosest) {
  try {
    parse({"--thread", "2"});
    FAIL() << "no error";
  } catch (const wr::Error& e) {
    EXPECT_STREQ(e.what(), "unknown option --thread (did you mean --threads?)");
  }
  EXPECT_THROW(parse({"--threads"}), wr::Error);            // missing value
  EXPECT_THROW(parse({"--no-share=1"}), wr::Error);         // flag with a value
  EXPECT_THROW(parse({"--threads", "x"}).get_int("--threads"), wr::Error);
}

// --tasks a,,b, and the like: empty items are dropped, order kept.
TEST(Cli, ListsSplitOnTheSeparatorWithoutEmptyItems) {
  EXPECT_EQ(wr::split_list("arc_easy,,piqa,", ','), (std::vector<std::string>{"arc_easy", "piqa"}));
  EXPECT_EQ(wr::split_list(",", ','), std::vector<std::string>{});
  EXPECT_EQ(wr::split_list("", ','), std::vector<std::string>{});
  EXPECT_EQ(wr::split_list("a.jsonl", ','), std::vector<std::string>{"a.jsonl"});
  EXPECT_TRUE(wr::ends_with("x.jsonl.zst", ".zst"));
  EXPECT_FALSE(wr::ends_with("st", ".zst"));
  EXPECT_TRUE(wr::starts_with("cuda:1", "cuda"));
  EXPECT_FALSE(wr::starts_with("cu", "cuda"));
}

TEST(Cli, ClosestIgnoresFarCandidates) {
  EXPECT_EQ(wr::closest("hellaswg", {"hellaswag", "piqa", "arc_easy"}), "hellaswag");
  EXPECT_EQ(wr::closest("zzzzzzzzzz", {"piqa", "arc_easy"}), "");
}

}  // namespace
