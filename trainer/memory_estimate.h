// A rough lower bound on the host memory one CPU training process needs, checked before anything is allocated:
// a config with model.dim = 2^31 or batch.micro_batch = 2^33 should be one line naming the key, not an
// allocation backtrace from deep inside LibTorch.
#pragma once
#include <unistd.h>

#include <string>

#include "common/error.h"
#include "trainer/train_config.h"

namespace wr {

// Bytes: f32 weights, gradients and AdamW's two moments (16 per parameter), and the activations of one
// micro-batch that autograd keeps (per layer ~12 hidden-size and 3 FFN-size vectors per token, the attention
// probabilities, and the logits with their log-softmax and gradient). Doubles, so absurd batches do not wrap.
inline void check_training_fits_in_memory(const TrainConfig& c) {
  const auto& m = c.model;
  const double params = static_cast<double>(m.n_params());  // validated below 1e15, so no overflow
  const double state_bytes = 16.0 * params;
  const double tokens = static_cast<double>(c.micro_batch) * c.seq_len;
  const double act_bytes = 4.0 * tokens *
                           (3.0 * m.vocab_size + m.n_layers * (12.0 * m.dim + 3.0 * m.ffn_dim + 2.0 * m.n_heads * c.seq_len));
  const double ram = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGESIZE));
  const double gb = 1e9;
  if (state_bytes > ram)
    fail("model (dim ", m.dim, ", n_layers ", m.n_layers, ", ffn_dim ", m.ffn_dim, ", vocab_size ", m.vocab_size, "): ",
         params / 1e9, " B parameters need ", state_bytes / gb, " GB for weights, gradients and AdamW state; this machine has ",
         static_cast<long>(ram / gb), " GB");
  if (state_bytes + act_bytes > ram)
    fail("batch.micro_batch ", c.micro_batch, " x batch.seq_len ", c.seq_len, ": one micro-batch's activations need about ",
         act_bytes / gb, " GB beside the model's ", state_bytes / gb, " GB; this machine has ", static_cast<long>(ram / gb),
         " GB (lower batch.micro_batch and raise batch.accumulation)");
}

}  // namespace wr
