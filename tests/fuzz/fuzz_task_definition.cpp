// libFuzzer target: a task definition a lab drops into $WR_TASKS_DIR (keys, formulation, templates, preprocessors,
// includes of the built-in definitions), loaded and applied to one document file.
#include <cstdlib>

#include "tasks/task.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = [] {
    const std::string d = wr::fuzz::scratch_dir() + "/tasks";
    std::filesystem::create_directories(d);
    std::filesystem::create_directories(wr::fuzz::scratch_dir() + "/data/fuzz");
    wr::fuzz::write_bytes(wr::fuzz::scratch_dir() + "/data/fuzz/test.jsonl",
                          "{\"question\": \"Which one?\", \"choices\": [\"a\", \"b\"], \"answer\": 1, \"label\": \"B\"}\n");
    ::setenv("WR_TASKS_DIR", d.c_str(), 1);
    return d;
  }();
  wr::fuzz::write_bytes(dir + "/fuzz_task.json", wr::fuzz::bytes(data, size));
  wr::fuzz::expect_load_or_wr_error([&] {
    const wr::TaskDef task = wr::load_task("fuzz_task");
    wr::build_docs(task, wr::fuzz::scratch_dir() + "/data", 4);
  });
  return 0;
}
