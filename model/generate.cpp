#include "model/generate.h"

#include "common/error.h"

namespace wr {

std::vector<int64_t> generate_greedy(Llama& model, const std::vector<int64_t>& prompt, const GenerateOptions& opt) {
  if (prompt.empty()) fail("generate: empty prompt (add BOS)");
  torch::NoGradGuard no_grad;
  auto device = model->output_weight().device();
  auto ids_tensor = [&](const std::vector<int64_t>& ids) {
    return torch::tensor(ids, torch::kInt64).to(device).unsqueeze(0);
  };
  std::vector<int64_t> seq = prompt, out;
  KVCache cache;
  torch::Tensor next_input = ids_tensor(prompt);
  while (static_cast<int64_t>(out.size()) < opt.max_new_tokens && static_cast<int64_t>(seq.size()) < model->config.max_seq_len) {
    torch::Tensor h;
    if (opt.use_cache) {
      ForwardArgs args;
      args.cache = &cache;
      h = model->hidden(next_input, args);
    } else {
      h = model->hidden(ids_tensor(seq));
    }
    auto last = model->logits(h.select(1, h.size(1) - 1)).to(torch::kFloat32);  // [1,V]
    if (opt.vocab > 0 && opt.vocab < last.size(-1)) last = last.narrow(-1, 0, opt.vocab);
    int64_t next = last.argmax(-1).item<int64_t>();
    out.push_back(next);
    seq.push_back(next);
    if (next == opt.stop_token || (opt.stop && opt.stop(out))) break;
    next_input = ids_tensor({next});
  }
  return out;
}

}  // namespace wr
