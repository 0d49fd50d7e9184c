// libFuzzer target: a safetensors file's header and tensor table (model/io/safetensors_table.h), the part of the
// checkpoint readers that interprets outside bytes before LibTorch copies them.
#include "model/io/safetensors_table.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  wr::fuzz::expect_load_or_wr_error([&] {
    wr::read_safetensors_table(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.safetensors");
  });
  return 0;
}
