// The tensor table of a safetensors file, read and checked without LibTorch (so it is fuzzed in the LibTorch-free
// build): u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}}, then the data.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wr {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // F32, F16 or BF16
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // data_offsets: bytes [begin, end) of the data after the header
};

struct SafetensorsTable {
  uint64_t data_start = 0;  // 8 + header length: where the data begins in the file
  std::vector<SafetensorsEntry> entries;
};

// Bytes per element of a dtype the reader accepts (F32 4, F16 and BF16 2); 0 for any other.
size_t safetensors_dtype_size(const std::string& dtype);

// Fails naming path when the header does not fit the file, is not a JSON object, or an entry has another dtype, a
// negative or overflowing shape, data_offsets that disagree with shape x dtype or leave the file, or when the
// tensors do not tile the data exactly (no overlap, no hole).
SafetensorsTable read_safetensors_table(std::string_view file, const std::string& path);

}  // namespace wr
