#include "eval/evaluate.h"

#include <chrono>

#include "model/common/error.h"
#include "model/generate.h"

namespace wr {
namespace {

// generate_until: greedy decoding with the KV cache from each context (BOS first when asked, left-truncated
// to leave max_gen_toks of room), stopping at EOS, at any stop string, or after max_gen_toks tokens.
void generate_task(Llama& model, const Tokenizer& tok, const EvalOptions& opt, const std::vector<Doc>& docs, TaskResult& res) {
  const auto& task = res.task;
  const int64_t max_len = model->config.max_seq_len;
  const int64_t room = std::min<int64_t>(task.max_gen_toks, max_len - 1);
  std::vector<double> em;
  for (size_t d = 0; d < docs.size(); ++d) {
    std::vector<int64_t> prompt;
    if (opt.bos) prompt.push_back(tok.bos_id());
    for (int id : tok.encode(docs[d].requests[0].context)) prompt.push_back(id);
    if (static_cast<int64_t>(prompt.size()) > max_len - room) prompt.erase(prompt.begin(), prompt.end() - (max_len - room));
    GenerateOptions g;
    g.max_new_tokens = room;
    g.stop_token = tok.eos_id();
    g.stop = [&](const std::vector<int64_t>& ids) {
      const std::string text = tok.decode(std::vector<int>(ids.begin(), ids.end()));
      for (const auto& u : task.until)
        if (text.find(u) != std::string::npos) return true;
      return false;
    };
    auto ids = generate_greedy(model, prompt, g);
    if (!ids.empty() && ids.back() == tok.eos_id()) ids.pop_back();
    const std::string text = tok.decode(std::vector<int>(ids.begin(), ids.end()));
    const std::string answer = cut_generation(text, task.until);
    const bool match = exact_match_any(answer, docs[d].choices);
    em.push_back(match ? 1.0 : 0.0);
    res.tokens_scored += static_cast<int64_t>(ids.size());
    if (opt.log_samples)
      res.samples.push_back({{"task", task.name}, {"doc_id", docs[d].id}, {"context", docs[d].requests[0].context},
                             {"context_tokens", prompt}, {"generation", text}, {"answer", answer},
                             {"answers", docs[d].choices}, {"exact_match", match}});
    if (opt.score.progress) opt.score.progress(static_cast<int64_t>(d + 1), static_cast<int64_t>(docs.size()));
  }
  res.metrics.push_back(mean_with_stderr("exact_match", em));
}

}  // namespace

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
    res.n_docs = docs.size();
    if (res.task.generative) {
      generate_task(model, tok, opt, docs, res);
      res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      results.push_back(std::move(res));
      continue;
    }
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
