#include "eval/evaluate.h"

#include <chrono>

#include "model/common/error.h"

namespace wr {

std::vector<TaskResult> evaluate(Llama& model, const Tokenizer& tok, const EvalOptions& opt) {
  if (tok.vocab_size() > model->config.vocab_size)
    fail("tokenizer has ", tok.vocab_size(), " pieces but the model's vocab_size is ", model->config.vocab_size);
  const bool was_training = model->is_training();
  model->eval();
  std::vector<TaskResult> results;
  for (const auto& name : opt.tasks) {
    const auto t0 = std::chrono::steady_clock::now();
    TaskResult res;
    res.task = load_task(name);
    auto docs = build_docs(res.task, opt.data_dir.empty() ? default_data_dir() : opt.data_dir, opt.limit);
    std::vector<std::vector<TokenizedRequest>> reqs(docs.size());
    for (size_t d = 0; d < docs.size(); ++d)
      for (const auto& r : docs[d].requests) {
        try {
          reqs[d].push_back(tokenize_request(tok, r, opt.bos));
        } catch (const Error& e) {
          fail(name, " document ", docs[d].id, ": ", e.what());
        }
        res.tokens_scored += reqs[d].back().continuation.size();
      }
    auto scores = score_requests(model, reqs, opt.score);
    std::vector<DocOutcome> outcomes;
    res.metrics = compute_metrics(res.task, docs, scores, &outcomes);
    res.n_docs = docs.size();
    if (opt.log_samples)
      for (size_t d = 0; d < docs.size(); ++d)
        for (size_t r = 0; r < docs[d].requests.size(); ++r)
          res.samples.push_back({{"task", name},
                                 {"doc_id", docs[d].id},
                                 {"request", r},
                                 {"context", docs[d].requests[r].context},
                                 {"continuation", docs[d].requests[r].continuation},
                                 {"context_tokens", reqs[d][r].context},
                                 {"continuation_tokens", reqs[d][r].continuation},
                                 {"ll", scores[d][r].logprob},
                                 {"is_greedy", scores[d][r].is_greedy},
                                 {"pred", outcomes[d].pred},
                                 {"pred_norm", outcomes[d].pred_norm},
                                 {"gold", docs[d].gold}});
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    results.push_back(std::move(res));
  }
  if (was_training) model->train();
  return results;
}

}  // namespace wr
