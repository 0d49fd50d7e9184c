#include "eval/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <map>

#include "common/error.h"
#include "model/generate.h"

namespace wr {
namespace {

// generate_until: greedy decoding with the KV cache from each context (BOS first when asked, left-truncated
// to leave max_gen_toks of room), stopping at EOS, at any stop string, or after max_gen_toks tokens.
void generate_task(Llama& model, const Tokenizer& tok, const EvalOptions& opt, const std::vector<Doc>& docs, TaskResult& res) {
  const auto& task = res.task;
  const int64_t max_len = model->config.max_seq_len;
  const int64_t room = std::min<int64_t>(task.max_gen_toks, max_len - 1);
  std::vector<std::vector<double>> per_metric(task.metrics.size());
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
    const auto scores = generation_scores(task, text, docs[d].choices);
    for (size_t m = 0; m < scores.size(); ++m) per_metric[m].push_back(scores[m]);
    res.tokens_scored += static_cast<int64_t>(ids.size());
    if (opt.on_sample) {
      nlohmann::json sample = {{"task", task.name}, {"rules", opt.rules.name}, {"doc_id", docs[d].id},
                               {"context", docs[d].requests[0].context}, {"context_tokens", prompt},
                               {"generation", text}, {"answer", cut_generation(text, task.until)},
                               {"answers", docs[d].choices}};
      for (size_t m = 0; m < scores.size(); ++m) sample[task.metrics[m]] = scores[m] > 0;
      opt.on_sample(sample);
    }
    if (opt.score.progress) opt.score.progress(static_cast<int64_t>(d + 1), static_cast<int64_t>(docs.size()));
  }
  for (size_t m = 0; m < task.metrics.size(); ++m) res.metrics.push_back(mean_with_stderr(task.metrics[m], per_metric[m]));
}

// One task: documents -> requests -> scores (or generations) -> metrics; the model's row, then one per variant.
std::vector<TaskResult> evaluate_task(Llama& model, const Tokenizer& tok, const EvalOptions& opt, const std::string& definition) {
  const auto t0 = std::chrono::steady_clock::now();
  TaskResult res;
  res.task = load_task(definition);
  const std::string& name = res.task.name;
  const std::string data_dir = opt.data_dir.empty() ? default_data_dir() : opt.data_dir;
  if (opt.limit > 0 && opt.sample > 0) fail("limit and sample are exclusive: the first N documents or a random N");
  PreparedTasks::Task fresh;  // without opt.prepared: this evaluation's own
  PreparedTasks::Task& prepared = opt.prepared ? opt.prepared->by_definition[definition] : fresh;
  if (prepared.docs.empty()) {  // a task has documents (build_docs fails on none): empty is not read yet
    auto& docs = prepared.docs;
    if (opt.num_fewshot > 0 || opt.sample > 0) {  // from the whole split: read it once, copy out the scored documents
      const auto pool = build_docs(res.task, data_dir);
      if (opt.sample > 0) {
        docs = sample_docs(pool, opt.sample, opt.sample_seed);
      } else {
        const size_t n = opt.limit > 0 ? std::min(pool.size(), static_cast<size_t>(opt.limit)) : pool.size();
        docs.assign(pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(n));
      }
      add_fewshot(docs, pool, res.task, opt.num_fewshot, opt.fewshot_seed);
    } else {
      docs = build_docs(res.task, data_dir, opt.limit);
    }
  }
  const std::vector<Doc>& docs = prepared.docs;
  res.n_docs = docs.size();
  if (res.task.generative) {
    if (!opt.variants.empty())
      fail(name, ": a generative task; simulated quantization (--quant) scores log-likelihood tasks only");
    generate_task(model, tok, opt, docs, res);
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return {res};
  }
  // Documents are scored a chunk at a time: the packed rows, token ids and sample lines of one chunk are all
  // that is held, whatever the task's size; a chunk is large enough for length-sorted batches to fill.
  constexpr size_t kChunkDocs = 1024;
  const size_t P = 1 + opt.variants.size();  // the model, then each variant
  auto quant_name = [&](size_t p) { return p == 0 ? std::string("none") : opt.variants[p - 1].name; };
  std::vector<std::vector<std::vector<RequestScore>>> scores(P, std::vector<std::vector<RequestScore>>(docs.size()));
  std::vector<double> doc_tokens(docs.size());  // continuation tokens per document
  std::vector<double> model_seconds(P);
  for (size_t begin = 0; begin < docs.size(); begin += kChunkDocs) {
    const size_t end = std::min(docs.size(), begin + kChunkDocs), chunk_index = begin / kChunkDocs;
    if (!opt.prepared) prepared.chunks.clear();  // one chunk's requests at a time
    if (prepared.chunks.size() <= chunk_index || !opt.prepared) {
      // Tokenized on all threads: the scoring threads would wait for it (stories260K: a tenth of the time on one).
      std::vector<std::vector<TokenizedRequest>> tokenized(end - begin);
      std::vector<std::exception_ptr> failed(end - begin);
#pragma omp parallel for schedule(dynamic, 16)
      for (size_t d = begin; d < end; ++d) {
        try {
          for (const auto& r : docs[d].requests) tokenized[d - begin].push_back(tokenize_request(tok, r, opt.bos, opt.rules));
        } catch (...) {
          failed[d - begin] = std::current_exception();
        }
      }
      for (size_t d = begin; d < end; ++d) {
        if (failed[d - begin]) {
          try {
            std::rethrow_exception(failed[d - begin]);
          } catch (const Error& e) {
            fail(name, " document ", docs[d].id, ": ", e.what());
          }
        }
      }
      prepared.chunks.push_back(std::move(tokenized));
    }
    const auto& reqs = prepared.chunks[opt.prepared ? chunk_index : 0];
    for (size_t d = begin; d < end; ++d) {
      for (const auto& t : reqs[d - begin]) {
        res.tokens_scored += t.continuation.size();
        res.requests += 1;
        res.context_not_prefix += !t.context_is_prefix;
      }
    }
    ScoreOptions chunk_opt = opt.score;
    if (opt.score.progress)
      chunk_opt.progress = [&](int64_t done, int64_t) {
        opt.score.progress(static_cast<int64_t>(begin) + done, static_cast<int64_t>(docs.size()));
      };
    ScoreStats chunk_stats;
    chunk_opt.stats = &chunk_stats;
    auto chunk = score_variants(model, opt.variants, reqs, chunk_opt);
    if (opt.score.stats) *opt.score.stats += chunk_stats;
    for (size_t p = 0; p < P && p < chunk_stats.model_seconds.size(); ++p) model_seconds[p] += chunk_stats.model_seconds[p];
    // A NaN or Inf weight makes every log-likelihood non-finite, and argmax over NaNs still "predicts": stop.
    for (size_t p = 0; p < P; ++p) {
      size_t non_finite = 0, n_requests = 0;
      for (const auto& doc_scores : chunk[p])
        for (const auto& s : doc_scores) non_finite += !std::isfinite(s.logprob) || !std::isfinite(s.kl), ++n_requests;
      if (non_finite > 0)
        fail(name, p == 0 ? "" : " under --quant " + quant_name(p), ": ", non_finite, " of ", n_requests,
             " log-likelihoods in documents ", begin, "-", end - 1, " are not finite (NaN or Inf in the model's "
             "weights or activations?); no metrics are reported");
    }
    for (size_t d = begin; d < end; ++d) {
      for (const auto& t : reqs[d - begin]) doc_tokens[d] += static_cast<double>(t.continuation.size());
      for (size_t p = 0; p < P; ++p) scores[p][d] = std::move(chunk[p][d - begin]);
      if (!opt.on_sample) continue;
      for (size_t p = 0; p < P; ++p) {
        const DocOutcome o = doc_outcome(docs[d], scores[p][d], opt.rules);
        for (size_t r = 0; r < docs[d].requests.size(); ++r) {
          const RequestScore& s = scores[p][d][r];
          nlohmann::json line = {{"task", name},
                                 {"rules", opt.rules.name},
                                 {"quant", quant_name(p)},
                                 {"doc_id", docs[d].id},
                                 {"request", r},
                                 {"context", docs[d].requests[r].context},
                                 {"continuation", docs[d].requests[r].continuation},
                                 {"context_tokens", reqs[d - begin][r].context},
                                 {"continuation_tokens", reqs[d - begin][r].continuation},
                                 {"ll", s.logprob},
                                 {"is_greedy", s.is_greedy},
                                 {"pred", o.pred},
                                 {"pred_norm", o.pred_norm},
                                 {"pred_norm_nospace", o.pred_norm_nospace},
                                 {"gold", docs[d].gold},
                                 // a generative (greedy-match) document has no gold choice to measure
                                 {"bpb", docs[d].gold >= 0 ? nlohmann::json(o.bpb) : nlohmann::json(nullptr)}};
          if (p > 0) {  // against the model's distributions, per continuation token
            const double n = static_cast<double>(reqs[d - begin][r].continuation.size());
            line["kl"] = s.kl / n;
            line["top1_agree"] = static_cast<double>(s.top1_agree) / n;
          }
          opt.on_sample(line);
        }
      }
    }
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<TaskResult> out;
  for (size_t p = 0; p < P; ++p) {
    TaskResult r = res;
    r.quant = quant_name(p);
    r.model_seconds = model_seconds[p];
    r.metrics = compute_metrics(res.task, docs, scores[p], opt.rules);
    if (p > 0) {
      r.paired = paired_metrics(res.task, docs, scores[0], scores[p], opt.rules);
      std::vector<double> kl(docs.size()), agree(docs.size());  // per document, over its scored tokens
      for (size_t d = 0; d < docs.size(); ++d)
        for (const auto& s : scores[p][d]) kl[d] += s.kl, agree[d] += static_cast<double>(s.top1_agree);
      r.metrics.push_back(ratio_with_stderr("kl", kl, doc_tokens));
      r.metrics.push_back(ratio_with_stderr("top1_agree", agree, doc_tokens));
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

std::vector<TaskResult> group_results(const TaskDef& group, const std::vector<TaskResult>& subs, GroupMean mean) {
  // category ("" for all) -> metric -> (sum of value x weight, weight, documents); a subtask's weight is its
  // documents (weight_by_size) or 1; metrics in the subtasks' order
  struct Sum {
    double weighted = 0, weight = 0, stderrs = 0;
    int64_t docs = 0, tasks = 0, with_stderr = 0;
  };
  std::map<std::string, std::map<std::string, Sum>> sums;
  std::vector<std::string> metric_order;
  for (const auto& r : subs) {
    const double weight = mean == GroupMean::kWeightBySize ? static_cast<double>(r.n_docs) : 1.0;
    for (const auto& m : r.metrics) {
      if (std::find(metric_order.begin(), metric_order.end(), m.name) == metric_order.end()) metric_order.push_back(m.name);
      for (const std::string& key : {group.category_of.at(r.task.name), std::string()}) {
        Sum& sum = sums[key][m.name];
        sum.weighted += m.value * weight;
        sum.weight += weight;
        if (m.stderr_ >= 0) sum.stderrs += m.stderr_, sum.with_stderr += 1;
        sum.docs += r.n_docs;
        sum.tasks += 1;
      }
    }
  }
  std::vector<TaskResult> out;
  for (const auto& [category, by_metric] : sums) {
    TaskResult g;
    g.task = group;
    g.task.name = category.empty() ? group.name : group.name + "_" + category;
    g.task.subtasks.clear();  // the members this row averages
    for (const auto& r : subs) {
      if (!category.empty() && group.category_of.at(r.task.name) != category) continue;
      g.task.subtasks.push_back(r.task.name);
      g.seconds += r.seconds;
      g.tokens_scored += r.tokens_scored;
      g.requests += r.requests;
      g.context_not_prefix += r.context_not_prefix;
    }
    g.n_docs = by_metric.begin()->second.docs;  // every metric counts the same documents
    for (const auto& name : metric_order) {
      const Sum& sum = by_metric.at(name);
      const double p = sum.weighted / std::max(sum.weight, 1.0);
      const int64_t n = sum.docs;
      // weight_by_size: acc's stderr from the pooled 0/1 outcomes (the smooth metrics' would need every
      // document's value); a mean of subtasks reports the mean of their stderrs, as lighteval does
      const double se = mean == GroupMean::kMeanOfSubtasks
                            ? (sum.with_stderr == sum.tasks ? sum.stderrs / static_cast<double>(sum.tasks) : -1)
                        : name == "acc" && n > 1       ? std::sqrt(p * (1 - p) / static_cast<double>(n - 1))
                                                       : -1;
      g.metrics.push_back({name, p, se});
    }
    out.push_back(std::move(g));
  }
  std::rotate(out.begin(), out.begin() + 1, out.end());  // the overall mean ("" sorts first) goes last
  return out;
}

void check_tokenizer_fits(Llama& model, const Tokenizer& tok, const std::string& model_path) {
  if (tok.vocab_size() > model->config.vocab_size)
    fail(model_path, ": the tokenizer has ", tok.vocab_size(), " pieces but the model's vocab_size is ",
         model->config.vocab_size, " (pass the tokenizer the model was trained with: --tokenizer)");
}

std::vector<TaskResult> evaluate(Llama& model, const Tokenizer& tok, const EvalOptions& opt) {
  check_tokenizer_fits(model, tok, "model");
  const bool was_training = model->is_training();
  model->eval();
  std::vector<TaskResult> results;
  for (const auto& name : opt.tasks) {
    const TaskDef task = load_task(opt.rules.definition_of(name));
    if (task.subtasks.empty()) {
      for (auto& r : evaluate_task(model, tok, opt, task.definition)) results.push_back(std::move(r));
      continue;
    }
    std::vector<TaskResult> subs;
    for (const auto& sub : task.subtasks)
      for (auto& r : evaluate_task(model, tok, opt, sub)) subs.push_back(std::move(r));
    results.insert(results.end(), subs.begin(), subs.end());
    std::vector<std::string> quants = {"none"};
    for (const auto& v : opt.variants) quants.push_back(v.name);
    for (const auto& q : quants) {  // a group's rows per variant, from that variant's subtask rows
      std::vector<TaskResult> of_q;
      for (const auto& r : subs)
        if (r.quant == q) of_q.push_back(r);
      for (auto& g : group_results(task, of_q, opt.rules.group_mean)) {
        g.quant = q;
        for (const auto& r : of_q) g.model_seconds += r.model_seconds;
        results.push_back(std::move(g));
      }
    }
  }
  if (was_training) model->train();
  return results;
}

}  // namespace wr
