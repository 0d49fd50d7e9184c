#include "trainer/batch.h"

#include "model/backend/torch_compat.h"
#include "trainer/optimizer.h"

namespace wr {

Batch make_batch(const TokenStream& stream, DataMode mode, uint64_t seed, int64_t index, int64_t rows,
                 int64_t seq_len, const torch::Device& device) {
  const int64_t window = seq_len + 1;
  auto buf = torch::empty({rows, window}, torch::kInt64);
  for (int64_t r = 0; r < rows; ++r)
    stream.read(window_offset(mode, seed, index, rows, r, window, stream.size()), window, buf[r].data_ptr<int64_t>());
  buf = buf.to(device);
  return {buf.slice(1, 0, seq_len), buf.slice(1, 1, window)};
}

Batch make_batch(const Mixture& data, DataMode mode, uint64_t seed, int64_t index, int64_t rows, int64_t seq_len,
                 const torch::Device& device) {
  const int64_t window = seq_len + 1;
  auto buf = torch::empty({rows, window}, torch::kInt64);
  for (int64_t r = 0; r < rows; ++r) {
    const TokenStream& stream = data.stream(data.source_of(seed, index, r));
    stream.read(window_offset(mode, seed, index, rows, r, window, stream.size()), window, buf[r].data_ptr<int64_t>());
  }
  buf = buf.to(device);
  return {buf.slice(1, 0, seq_len), buf.slice(1, 1, window)};
}

double validation_loss(Llama& model, const TokenStream& val, const TrainConfig& c, const torch::Device& device, int rank,
                       int world) {
  torch::NoGradGuard no_grad;
  Bf16Autocast autocast(device.type(), c.dtype == TrainDtype::bf16);
  double sum = 0;
  for (int64_t i = rank; i < c.val_batches; i += world) {
    Batch b = make_batch(val, DataMode::sequential, 0, i, c.micro_batch, c.seq_len, device);
    sum += lm_loss(model, b.inputs, b.targets).item<double>();
  }
  return sum / static_cast<double>(c.val_batches);
}

}  // namespace wr
