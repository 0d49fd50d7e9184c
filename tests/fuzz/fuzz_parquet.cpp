// libFuzzer target: a parquet corpus file as `wr-data tokenize` reads it (trainer/parquet_reader.h): footer,
// schema, the "text" column row group by row group. Arrow's reader comes uninstrumented from the pyarrow wheel:
// the sanitizers see wr's side and what Arrow does through intercepted calls (memcpy, malloc), not Arrow itself.
#include "tests/fuzz/fuzz_util.h"
#include "trainer/corpus.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = wr::fuzz::scratch_dir() + "/input.parquet";
  wr::fuzz::write_bytes(path, wr::fuzz::bytes(data, size));
  wr::fuzz::expect_load_or_wr_error([&] { wr::read_documents(path, "text", [](std::string&&) {}); });
  return 0;
}
