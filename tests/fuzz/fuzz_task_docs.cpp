// libFuzzer target: a task's data file in each format wr reads (jsonl, a JSON array, llama.cpp's HellaSwag
// lines; the first byte picks the format) and as a zip archive whose member is asked for.
#include "tasks/download.h"
#include "tasks/formats.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::vector<std::string> formats(wr::doc_formats().begin(), wr::doc_formats().end());
  const std::string body = wr::fuzz::bytes(data + 1, size - 1);
  const std::string path = wr::fuzz::scratch_dir() + "/docs";
  wr::fuzz::write_bytes(path, body);
  if (data[0] < formats.size() * 40) {
    wr::fuzz::expect_load_or_wr_error([&] { wr::read_docs(path, formats[data[0] % formats.size()]); });
  } else {
    wr::fuzz::expect_load_or_wr_error([&] { wr::read_zip_member(path, "data/test.jsonl"); });
  }
  return 0;
}
