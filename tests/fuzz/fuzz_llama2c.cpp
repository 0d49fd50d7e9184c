// libFuzzer target: a llama2.c .bin (the legacy v0 layout and v1 "ak42"), header and weights, loaded into a model.
#include "model/io/llama2c.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = wr::fuzz::scratch_dir() + "/model.bin";
  wr::fuzz::write_bytes(path, wr::fuzz::bytes(data, size));
  wr::fuzz::expect_load_or_wr_error([&] { wr::load_llama2c(path); });
  return 0;
}
