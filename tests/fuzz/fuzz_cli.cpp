// libFuzzer target: the command-line option parser the tools share (common/cli.h), on argv split at NUL bytes,
// with the kinds of options the tools declare (flags, strings, integers, floats, lists).
#include <vector>

#include "common/cli.h"
#include "common/strings.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<wr::Option> table = {
      {"--tasks", "LIST", "tasks", "", ""},
      {"--limit", "N", "documents", "0", ""},
      {"--lr", "F", "a float", "0.001", ""},
      {"--offline", "", "a flag", "", ""},
      {"--output", "PATH", "a path", "", ""},
  };
  std::vector<std::string> words = {"tool"};
  const std::string text = wr::fuzz::bytes(data, size);
  for (size_t begin = 0; begin <= text.size();) {
    const size_t end = std::min(text.find('\0', begin), text.size());
    words.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  wr::fuzz::expect_load_or_wr_error([&] {
    const auto args = wr::Args::parse(table, static_cast<int>(argv.size()), argv.data());
    args.get_int("--limit");
    args.get_double("--lr");
    args.flag("--offline");
    wr::split_list(args.get("--tasks"), ',');
  });
  return 0;
}
