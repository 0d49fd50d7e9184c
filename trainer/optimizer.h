// The pieces of one training step that wr-train and bench/train share: the loss and the optimizer.
#pragma once
#include <torch/torch.h>

#include "model/llama.h"
#include "trainer/train_config.h"

namespace wr {

// Mean next-token cross-entropy of inputs [B,T] against targets [B,T], computed in f32.
torch::Tensor lm_loss(Llama& model, const torch::Tensor& inputs, const torch::Tensor& targets);

// AdamW with weight decay on the matrices only: norm weights are never decayed, and the embeddings
// (embed_tokens and lm_head) only when decay_embeddings.
torch::optim::AdamW make_optimizer(Llama& model, const TrainConfig& c);

}  // namespace wr
