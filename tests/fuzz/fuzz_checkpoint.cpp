// libFuzzer target: a ckpt.pt as wr-eval, wr-model and wr-train --resume open it: the zip records, LibTorch's
// unpickler, wr's entries (config, weights, meta, tokenizer, extra), the records' sizes against the storages they
// back, and the weights against the model the config describes.
#include "model/io/native.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = wr::fuzz::scratch_dir() + "/ckpt.pt";
  wr::fuzz::write_bytes(path, wr::fuzz::bytes(data, size));
  wr::fuzz::expect_load_or_wr_error([&] { wr::load_native(path); });
  return 0;
}
