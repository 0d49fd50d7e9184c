// libFuzzer target: a labels file (one gold label per document, as PIQA and Social IQa ship them) read beside a
// fixed document file; the first byte picks the task.
#include "tasks/task.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

// PIQA and Social IQa, each with a document file of four documents, in a folder of this process's own.
struct Fixture {
  std::string data_dir = wr::fuzz::scratch_dir() + "/labels-data";
  wr::TaskDef tasks[2] = {wr::load_task("piqa"), wr::load_task("social_iqa")};

  Fixture() {
    std::string piqa, siqa;
    for (int i = 0; i < 4; ++i) {
      piqa += "{\"goal\": \"Open jar " + std::to_string(i) + "\", \"sol1\": \"twist\", \"sol2\": \"pull\"}\n";
      siqa += "{\"context\": \"Ann ran " + std::to_string(i) + ".\", \"question\": \"Why?\", \"answerA\": \"late\", "
              "\"answerB\": \"fun\", \"answerC\": \"cold\"}\n";
    }
    write(tasks[0], piqa);
    write(tasks[1], siqa);
  }
  void write(const wr::TaskDef& task, const std::string& docs) const {
    const std::string path = data_dir + "/" + task.files[0].path;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    wr::fuzz::write_bytes(path, docs);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const Fixture fixture;
  const wr::TaskDef& task = fixture.tasks[data[0] % 2];
  wr::fuzz::write_bytes(fixture.data_dir + "/" + task.form.labels_file, wr::fuzz::bytes(data + 1, size - 1));
  wr::fuzz::expect_load_or_wr_error([&] { wr::build_docs(task, fixture.data_dir, 0); });
  return 0;
}
