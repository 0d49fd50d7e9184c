// The decoder's elementwise steps, each as one pass over the batch, for inference on the CPU in float32. LibTorch
// runs RMSNorm as six operations, RoPE as five per tensor plus a copy into head-major order, and SiLU-times-up
// as two, each a pass over the batch and a dispatch: on stories260K (dim 64) those passes were a fifth of scoring.
// The model uses these where fused_cpu_applies(); training (autograd) and other devices keep LibTorch's operations,
// which tests/model/llama_test.cpp checks these against.
#pragma once
#include <torch/torch.h>

namespace wr {

// CPU, float32, no autograd (scoring and generation run under NoGradGuard), no autocast (bf16 training's
// validation and telemetry passes, whose matmuls give bf16).
bool fused_cpu_applies(const torch::Tensor& x);

// weight * x / sqrt(mean(x^2) + eps) over the last dimension. x: [..., dim].
torch::Tensor rms_norm_cpu(const torch::Tensor& x, const torch::Tensor& weight, double eps);

// Rotary embedding, Hugging Face's half-rotation, of x: [B,T,H,hd] (a projection's output as heads), with cos and
// sin [B,1,T,hd] (or [1,1,T,hd]: the same positions for every sequence). Returns [B,H,T,hd], contiguous.
torch::Tensor rope_heads_cpu(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

// silu(gate) * up.
torch::Tensor silu_mul_cpu(const torch::Tensor& gate, const torch::Tensor& up);

// For pairs i of a row of logits [n, V] and a token: log_softmax(logits[rows[i]])[tokens[i]] (float64 [m]) and
// whether the token is the row's first largest logit (bool [m]). LibTorch's log_softmax, index and argmax are three
// passes over the logits, its argmax one value at a time; this is one pass for the largest logit and its index and
// one for the sum of exponentials.
std::pair<torch::Tensor, torch::Tensor> token_logprobs_cpu(const torch::Tensor& logits, const torch::Tensor& rows,
                                                           const torch::Tensor& tokens);

}  // namespace wr
