// Micro-batches of the token stream and the validation loss: the data side of a training step.
#pragma once
#include <cstdint>

#include "model/llama.h"
#include "trainer/mixture.h"
#include "trainer/shards.h"
#include "trainer/train_config.h"

namespace wr {

struct Batch {
  torch::Tensor inputs, targets;  // [B, T] int64
};

// Micro-batch number `index` of the stream: rows of seq_len + 1 tokens, inputs and next-token targets. A pure
// function of (seed, index), which is what makes resume exact.
Batch make_batch(const TokenStream& stream, DataMode mode, uint64_t seed, int64_t index, int64_t rows,
                 int64_t seq_len, const torch::Device& device);
// The same over a mixture: each row from the source Mixture::source_of picks (one source: the batch above).
Batch make_batch(const Mixture& data, DataMode mode, uint64_t seed, int64_t index, int64_t rows, int64_t seq_len,
                 const torch::Device& device);

// Mean loss over the first val_batches sequential windows of the validation split: the same tokens every time.
// Data parallel, process `rank` of `world` sums the batches whose index is its rank modulo the world, over
// val_batches: its share of the mean, which the processes' sum makes whole.
double validation_loss(Llama& model, const TokenStream& val, const TrainConfig& c, const torch::Device& device,
                       int rank = 0, int world = 1);

}  // namespace wr
