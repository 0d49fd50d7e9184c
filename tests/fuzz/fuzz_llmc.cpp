// libFuzzer target: llm.c's token files as wr-data import reads them (trainer/interchange.h): the input as the first
// file of a stream whose second file is valid and of the same width (a document may run on into it), against a
// vocabulary of 300 and delimiter 1.
#include <cstring>
#include <vector>

#include "tests/fuzz/fuzz_util.h"
#include "trainer/interchange.h"

namespace {

// 256 int32 (magic, version, 3 tokens, zeros), then [7 1 9] as uint16 (magic 20240520, version 1) or uint32
// (20240801, version 7); the seeds in tests/fuzz/seeds/llmc/ are files of this layout.
std::string valid_file(bool u32) {
  std::vector<int32_t> header(256, 0);
  header[0] = u32 ? 20240801 : 20240520;
  header[1] = u32 ? 7 : 1;
  header[2] = 3;
  std::string s(reinterpret_cast<const char*>(header.data()), 1024);
  for (uint32_t t : {7u, 1u, 9u}) s.append(reinterpret_cast<const char*>(&t), u32 ? 4 : 2);
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string dir = wr::fuzz::scratch_dir();
  wr::fuzz::write_bytes(dir + "/llmc_0.bin", wr::fuzz::bytes(data, size));
  int32_t magic = 0;
  if (size >= 4) std::memcpy(&magic, data, 4);
  wr::fuzz::write_bytes(dir + "/llmc_1.bin", valid_file(magic == 20240801));  // the same width, so both are read
  wr::fuzz::expect_load_or_wr_error([&] {
    int64_t documents = 0;
    wr::read_llmc({dir + "/llmc_0.bin", dir + "/llmc_1.bin"}, 300, 1, [&](const std::vector<int>&) { ++documents; });
  });
  return 0;
}
