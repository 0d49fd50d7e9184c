#include "common/cli.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "common/error.h"
#include "common/strings.h"
#include "tests/test_util.h"

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

// strtol clamps 2^64 to LONG_MAX: three different seeds above 2^63 drew the same sample.
TEST(Cli, IntegersBeyondTheRangeAndNegativesWhereRefusedAreNamed) {
  auto e = wr::test::error_of([] { parse({"--threads", "18446744073709551615"}).get_int("--threads"); });
  EXPECT_TRUE(wr::test::contains(e, "--threads 18446744073709551615 is out of range")) << e;
  e = wr::test::error_of([] { parse({"--threads", "-1"}).get_int("--threads", 0); });
  EXPECT_TRUE(wr::test::contains(e, "--threads must be >= 0, got -1")) << e;
  EXPECT_EQ(parse({"--threads", "9223372036854775807"}).get_int("--threads"), 9223372036854775807L);
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

// An option whose value hint lists its values ("on|off") is checked by the table itself, on the command line and
// in its environment variable, with the closest accepted value; each tool no longer checks it by hand.
TEST(Cli, EnumeratedValuesAreCheckedByTheTable) {
  const std::vector<wr::Option> table = {{"--bos", "on|off", "BOS", "on", ""},
                                         {"--dtype", "f32|bf16", "dtype", "f32", "WR_TEST_DTYPE"},
                                         {"--format", "native|hf|llama2c", "format", "", ""}};
  auto parse_with = [&](std::vector<std::string> words) {
    std::vector<char*> argv = {const_cast<char*>("prog")};
    for (auto& w : words) argv.push_back(w.data());
    return wr::Args::parse(table, static_cast<int>(argv.size()), argv.data());
  };
  EXPECT_EQ(parse_with({"--bos", "off", "--dtype=bf16"}).get("--bos"), "off");
  EXPECT_EQ(parse_with({}).get("--format"), "");  // no value given: the default, unchecked
  EXPECT_EQ(wr::test::error_of([&] { parse_with({"--bos", "of"}); }), "--bos expects on or off, got 'of' (did you mean on?)");
  EXPECT_EQ(wr::test::error_of([&] { parse_with({"--dtype", "bf61"}); }),
            "--dtype expects f32 or bf16, got 'bf61' (did you mean bf16?)");
  EXPECT_EQ(wr::test::error_of([&] { parse_with({"--format=safetensors"}); }),
            "--format expects one of native, hf, llama2c, got 'safetensors'");
  EXPECT_TRUE(wr::test::contains(wr::test::error_of([&] { parse_with({"--bos="}); }), "--bos expects on or off, got ''"));
  setenv("WR_TEST_DTYPE", "fp16", 1);
  EXPECT_EQ(wr::test::error_of([&] { parse_with({}); }), "WR_TEST_DTYPE (--dtype) expects f32 or bf16, got 'fp16' (did you mean bf16?)");
  EXPECT_EQ(parse_with({"--dtype", "bf16"}).get("--dtype"), "bf16");  // the command line wins; env is not read
  unsetenv("WR_TEST_DTYPE");
}

// What a subcommand can check it was given: the options on the command line, never those from the environment.
TEST(Cli, NamedListsTheCommandLinesOptions) {
  setenv("WR_TEST_THREADS", "3", 1);
  EXPECT_EQ(parse({"--no-share", "--tasks", "piqa"}).named(), (std::vector<std::string>{"--tasks", "--no-share"}));
  EXPECT_EQ(parse({}).named(), std::vector<std::string>{});
  unsetenv("WR_TEST_THREADS");
}

}  // namespace
