// Simulated quantization's variants of a model (wr-eval --quant, wr-train's eval.quant), scored beside it on the
// same documents.
#pragma once
#include <functional>
#include <vector>

#include "eval/score.h"
#include "model/quant.h"

namespace wr {

// One variant per scheme: its weights rounded once, here (schemes that round weights alike share one copy: w8,
// w8a8 and a8t), and what it does to the linear layers' inputs. head: lm_head rounded too (--quant-scope all).
// calibration: a8t's calibration windows (token ids), asked for once and only when a scheme needs static ranges.
std::vector<ScoreVariant> quant_variants(Llama& model, const std::vector<QuantScheme>& schemes, bool head,
                                         const std::function<std::vector<std::vector<int64_t>>()>& calibration);

}  // namespace wr
