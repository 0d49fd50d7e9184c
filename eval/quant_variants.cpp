#include "eval/quant_variants.h"

#include <map>
#include <optional>

namespace wr {

std::vector<ScoreVariant> quant_variants(Llama& model, const std::vector<QuantScheme>& schemes, bool head,
                                         const std::function<std::vector<std::vector<int64_t>>()>& calibration) {
  std::map<WeightQuant, Llama> copies;
  std::optional<InputRanges> ranges;
  std::vector<ScoreVariant> out;
  for (const auto& s : schemes) {
    if (!copies.count(s.weights)) copies.emplace(s.weights, quantized_copy(model, s.weights, head));
    if (s.inputs == InputQuant::kInt8Static && !ranges) ranges = calibrate_input_ranges(model, calibration());
    out.push_back({s.name, copies.at(s.weights), input_quantizer(s, head, ranges ? &*ranges : nullptr)});
  }
  return out;
}

}  // namespace wr
