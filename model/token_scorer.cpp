#include "model/token_scorer.h"

#include <chrono>
#include <map>
#include <tuple>

#include "model/kernels/fused_cpu.h"

namespace wr {
namespace {

// Positions whose logits one lm_head block computes. The float logits of a whole batch (about 3000 x 128256 = 1.5 GB
// on HellaSwag with a Llama 3 vocabulary) would set the process's peak memory; but each block's product reads the
// whole [vocab, dim] matrix, and under 512 rows the BLASes run it below their peak: one thread, vocabulary 128256,
// dim 2048, OpenBLAS 83 GFLOP/s at 128 rows, 95 at 256, 101 at 512; MKL 75 at 128, 86-93 from 256
// (`bench-gemm --threads 1`). Each thread scoring a batch holds one block's logits: 512 x 128256 floats, 263 MB.
constexpr int64_t kHeadBlock = 512;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

torch::Device TokenScorer::device() const { return passes_[0].model.ptr()->output_weight().device(); }

BatchScores TokenScorer::score(const torch::Tensor& tokens_cpu, ForwardArgs args, const std::vector<int64_t>& at,
                               const std::vector<int64_t>& target_ids) const {
  const auto device = this->device();
  const int64_t B = tokens_cpu.size(0), T = tokens_cpu.size(1);
  // Each scored token: the index of its position among the distinct positions that go through lm_head.
  std::vector<int64_t> head_at, head_of_target;
  std::map<int64_t, int64_t> head_index;
  for (const int64_t a : at) {
    auto [it, added] = head_index.emplace(a, static_cast<int64_t>(head_at.size()));
    if (added) head_at.push_back(a);
    head_of_target.push_back(it->second);
  }
  if (args.positions.defined()) args.positions = args.positions.to(device);
  if (args.visible.defined()) args.visible = {args.visible.prefix.to(device), args.visible.from.to(device)};
  const auto tokens = tokens_cpu.to(device);
  const auto head_rows = torch::tensor(head_at, torch::kInt64).to(device);

  const size_t P = passes_.size();
  BatchScores out;
  out.passes.resize(P);
  std::vector<torch::Tensor> hidden(P);
  for (size_t p = 0; p < P; ++p) {
    const auto t0 = std::chrono::steady_clock::now();
    args.linear_input = passes_[p].linear_input;
    auto h = passes_[p].model.ptr()->hidden(tokens, args);
    hidden[p] = h.reshape({B * T, h.size(-1)}).index_select(0, head_rows);
    if (device.is_cuda()) torch::cuda::synchronize();
    out.passes[p].seconds_decoder = seconds_since(t0);
  }

  // Per scored token: its log-probability and whether it is the argmax, a block of head positions at a time.
  const int64_t H = static_cast<int64_t>(head_at.size()), N = static_cast<int64_t>(target_ids.size());
  const auto head_of = torch::tensor(head_of_target, torch::kInt64);
  const auto target = torch::tensor(target_ids, torch::kInt64);
  for (auto& s : out.passes) {
    s.logprob = torch::empty({N}, torch::kFloat64);
    s.greedy = torch::empty({N}, torch::kBool);
    s.kl = torch::zeros({N}, torch::kFloat64);
    s.top1_agree = torch::ones({N}, torch::kBool);
  }
  std::vector<std::vector<int64_t>> block_targets((H + kHeadBlock - 1) / kHeadBlock);
  for (size_t i = 0; i < head_of_target.size(); ++i) block_targets[head_of_target[i] / kHeadBlock].push_back(static_cast<int64_t>(i));
  for (int64_t h0 = 0; h0 < H; h0 += kHeadBlock) {
    const auto which = torch::tensor(block_targets[h0 / kHeadBlock], torch::kInt64);
    const auto rows = (head_of.index_select(0, which) - h0).to(device);
    const auto tgt = target.index_select(0, which).to(device);
    torch::Tensor first_logp, first_p, first_top;  // the first pass's, which the others are compared with
    for (size_t p = 0; p < P; ++p) {
      const auto t0 = std::chrono::steady_clock::now();
      const auto block = hidden[p].slice(0, h0, std::min(H, h0 + kHeadBlock));
      const auto logits = passes_[p].model.ptr()->logits(block, passes_[p].linear_input).to(torch::kFloat32);
      torch::Tensor block_lp, block_greedy;
      if (fused_cpu_applies(logits)) {
        std::tie(block_lp, block_greedy) = token_logprobs_cpu(logits, rows, tgt);
      } else {
        const auto logprobs = torch::log_softmax(logits, -1);
        block_lp = logprobs.index({rows, tgt}).to(torch::kCPU, torch::kFloat64);
        block_greedy = (logprobs.argmax(-1).index_select(0, rows) == tgt).to(torch::kCPU);
      }
      auto& s = out.passes[p];
      s.logprob.index_copy_(0, which, block_lp);
      s.greedy.index_copy_(0, which, block_greedy);
      if (P > 1) {  // KL(first || this) = sum p_first (log p_first - log p_this), and the argmaxes
        const auto logp = torch::log_softmax(logits, -1);
        const auto top = logits.argmax(-1);
        if (p == 0) {
          first_logp = logp, first_p = logp.exp(), first_top = top;
        } else {
          const auto row_kl = (first_p * (first_logp - logp)).sum(-1, false, torch::kFloat64);
          s.kl.index_copy_(0, which, row_kl.index_select(0, rows).to(torch::kCPU));
          s.top1_agree.index_copy_(0, which, (top == first_top).index_select(0, rows).to(torch::kCPU));
        }
      }
      s.seconds_head += seconds_since(t0);
    }
  }
  out.head_positions = H;
  return out;
}

}  // namespace wr
