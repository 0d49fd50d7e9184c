#include "model/io/safetensors_table.h"

#include <algorithm>
#include <limits>
#include <tuple>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/json.h"

namespace wr {
namespace {

// A JSON array of whole numbers. nlohmann's get<> turns a float such as 5.2e41 into an integer by a cast, which is
// undefined past the integer's range (the fuzzer's find); a negative one into an unsigned wraps.
template <typename Int>
std::vector<Int> whole_numbers(const nlohmann::json& v, const std::string& where, const char* field) {
  if (!v.is_array()) fail(where, ": ", field, " is not an array");
  std::vector<Int> out;
  for (const auto& x : v) {
    if (!x.is_number_integer() || (std::is_unsigned_v<Int> && !x.is_number_unsigned()))
      fail(where, ": ", field, " holds ", x.dump(), " (expected ", std::is_unsigned_v<Int> ? "non-negative " : "",
           "whole numbers)");
    out.push_back(x.get<Int>());
  }
  return out;
}

}  // namespace


size_t safetensors_dtype_size(const std::string& dtype) {
  return dtype == "F32" ? 4 : dtype == "F16" || dtype == "BF16" ? 2 : 0;
}

SafetensorsTable read_safetensors_table(std::string_view file, const std::string& path) {
  if (file.size() < 8) fail(path, ": truncated safetensors file (", file.size(), " bytes, no header)");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(file[i]);
  if (header_len > file.size() - 8) fail(path, ": header length ", header_len, " exceeds the file size ", file.size());
  nlohmann::json header;
  try {
    header = parse_json(file.substr(8, header_len));
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number beyond double
    fail(path, ": corrupt safetensors header: ", e.what());
  }
  if (!header.is_object()) fail(path, ": safetensors header is not a JSON object");
  SafetensorsTable table;
  table.data_start = 8 + header_len;
  const uint64_t body = file.size() - table.data_start;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string where = path + " tensor " + name;
    SafetensorsEntry e;
    e.name = name;
    std::vector<uint64_t> offsets;
    try {
      e.dtype = info.at("dtype").get<std::string>();
      e.shape = whole_numbers<int64_t>(info.at("shape"), where, "shape");
      offsets = whole_numbers<uint64_t>(info.at("data_offsets"), where, "data_offsets");
    } catch (const nlohmann::json::exception& ex) {
      fail(where, ": malformed entry (expected dtype, shape and data_offsets): ", ex.what());
    }
    const size_t element = safetensors_dtype_size(e.dtype);
    if (element == 0) fail(where, ": unsupported dtype '", e.dtype, "' (expected F32, F16 or BF16)");
    if (offsets.size() != 2 || offsets[0] > offsets[1]) fail(where, ": bad data_offsets");
    int64_t numel = 1;
    for (auto d : e.shape) {
      if (d < 0) fail(where, ": negative dimension");
      if (d > 0 && numel > std::numeric_limits<int64_t>::max() / 8 / d) fail(where, ": shape ", info.at("shape").dump(), " overflows");
      numel *= d;
    }
    const uint64_t nbytes = static_cast<uint64_t>(numel) * element;
    if (offsets[1] - offsets[0] != nbytes)
      fail(where, ": data_offsets span ", offsets[1] - offsets[0], " bytes, shape and dtype need ", nbytes);
    if (offsets[1] > body) fail(where, ": data runs past the end of the file (truncated?)");
    e.begin = offsets[0];
    e.end = offsets[1];
    table.entries.push_back(std::move(e));
  }
  // The format's rule: the tensors tile the byte buffer exactly, no overlaps (two tensors sharing bytes would
  // score silently differently) and no holes.
  std::vector<std::tuple<uint64_t, uint64_t, std::string>> spans;
  for (const auto& e : table.entries) spans.emplace_back(e.begin, e.end, e.name);
  std::sort(spans.begin(), spans.end());
  uint64_t at = 0;
  for (const auto& [begin, end, name] : spans) {
    if (begin < at) fail(path, ": tensor ", name, " overlaps the tensor before it (data_offsets [", begin, ", ", end, "))");
    if (begin > at) fail(path, ": ", begin - at, " bytes before tensor ", name, " belong to no tensor (data_offsets [", begin, ", ", end, "))");
    at = end;
  }
  if (at != body) fail(path, ": ", body - at, " bytes after the last tensor belong to no tensor");
  return table;
}

}  // namespace wr
