// libFuzzer target: Megatron-LM's indexed dataset as wr-data import reads it (trainer/interchange.h): the .idx
// (first byte even) or the .bin (odd) in an otherwise valid pair, every document read against a vocabulary of 300.
#include <cstring>
#include <vector>

#include "tests/fuzz/fuzz_util.h"
#include "trainer/interchange.h"

namespace {

template <class T>
void put(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

// Two documents, [1 5 6 | 7 8] (two sequences) and [1 9], uint16, as IndexedDatasetBuilder writes them; the same
// bytes as the seeds in tests/fuzz/seeds/megatron/.
std::string valid_idx() {
  std::string s("MMIDIDX\0\0", 9);
  put<uint64_t>(s, 1);  // version
  put<uint8_t>(s, 8);   // DType.uint16
  put<uint64_t>(s, 3);  // sequences
  put<uint64_t>(s, 3);  // document indices
  for (int32_t len : {3, 2, 2}) put(s, len);
  for (int64_t ptr : {0, 6, 10}) put(s, ptr);
  for (int64_t doc : {0, 2, 3}) put(s, doc);
  return s;
}

std::string valid_bin() {
  std::string s;
  for (uint16_t t : {1, 5, 6, 7, 8, 1, 9}) put(s, t);
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string prefix = wr::fuzz::scratch_dir() + "/megatron";
  const std::string body = wr::fuzz::bytes(data + 1, size - 1);
  const bool fuzz_index = data[0] % 2 == 0;
  wr::fuzz::write_bytes(prefix + ".idx", fuzz_index ? body : valid_idx());
  wr::fuzz::write_bytes(prefix + ".bin", fuzz_index ? valid_bin() : body);
  wr::fuzz::expect_load_or_wr_error([&] {
    int64_t tokens = 0;
    wr::read_megatron(prefix, 300, [&](const std::vector<int>& ids) { tokens += static_cast<int64_t>(ids.size()); });
  });
  return 0;
}
