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

// A generative document's prompt: BOS first when asked, the context left-truncated to leave `room` tokens.
std::vector<int64_t> generation_prompt(const Tokenizer& tok, const Doc& doc, bool bos, int64_t max_len, int64_t room) {
  std::vector<int64_t> prompt;
  if (bos) prompt.push_back(tok.bos_id());
  for (int id : tok.encode(doc.requests[0].context)) prompt.push_back(id);
  if (static_cast<int64_t>(prompt.size()) > max_len - room) prompt.erase(prompt.begin(), prompt.end() - (max_len - room));
  return prompt;
}

// generate_until: greedy decoding with the KV cache from each prompt, stopping at EOS, at any stop string, or after
// max_gen_toks tokens. Data parallel, each process generates its documents of a chunk and the chunk's token ids
// are gathered (row d: its length, then its ids), so every process scores every generation in document order.
void generate_task(Llama& model, const Tokenizer& tok, const EvalOptions& opt, const std::vector<Doc>& docs, TaskResult& res) {
  const auto& task = res.task;
  const int64_t max_len = model->config.max_seq_len;
  const int64_t room = std::min<int64_t>(task.max_gen_toks, max_len - 1);
  std::vector<std::vector<double>> per_metric(task.metrics.size());
  // Each generation is its own sequence: a chunk bounds the gathered ids, not a batch.
  constexpr size_t kChunkDocs = 1024;
  int64_t generated = 0;  // by this process
  for (size_t begin = 0; begin < docs.size(); begin += kChunkDocs) {
    const size_t end = std::min(docs.size(), begin + kChunkDocs);
    auto ids = torch::zeros({static_cast<int64_t>(end - begin), room + 1}, torch::kInt64);
    auto rows = ids.accessor<int64_t, 2>();
    for (size_t d = begin; d < end; ++d) {
      if (!opt.ranks.owns(d)) continue;
      GenerateOptions g;
      g.max_new_tokens = room;
      g.stop_token = tok.eos_id();
      g.vocab = tok.vocab_size();
      g.stop = [&](const std::vector<int64_t>& out) {
        const std::string text = tok.decode(std::vector<int>(out.begin(), out.end()));
        for (const auto& u : task.until)
          if (text.find(u) != std::string::npos) return true;
        return false;
      };
      auto out = generate_greedy(model, generation_prompt(tok, docs[d], opt.bos, max_len, room), g);
      if (!out.empty() && out.back() == tok.eos_id()) out.pop_back();
      const size_t row = d - begin;
      rows[row][0] = static_cast<int64_t>(out.size());
      for (size_t k = 0; k < out.size(); ++k) rows[row][k + 1] = out[k];
      if (opt.score.progress) opt.score.progress(std::min<int64_t>(++generated * opt.ranks.world, docs.size()), docs.size());
    }
    opt.ranks.all_sum(ids);
    for (size_t d = begin; d < end; ++d) {
      const size_t row = d - begin;
      std::vector<int> out(static_cast<size_t>(rows[row][0]));
      for (size_t k = 0; k < out.size(); ++k) out[k] = static_cast<int>(rows[row][k + 1]);
      const std::string text = tok.decode(out);
      const auto scores = generation_scores(task, text, docs[d].choices);
      for (size_t m = 0; m < scores.size(); ++m) per_metric[m].push_back(scores[m]);
      res.tokens_scored += static_cast<int64_t>(out.size());
      if (!opt.on_sample) continue;
      nlohmann::json sample = {{"task", task.name}, {"rules", opt.rules.name}, {"doc_id", docs[d].id},
                               {"context", docs[d].requests[0].context},
                               {"context_tokens", generation_prompt(tok, docs[d], opt.bos, max_len, room)},
                               {"generation", text}, {"answer", cut_generation(text, task.until)},
                               {"answers", docs[d].choices}};
      for (size_t m = 0; m < scores.size(); ++m) sample[task.metrics[m]] = scores[m] > 0;
      opt.on_sample(sample);
    }
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
  // that is held, whatever the task's size; a chunk gives each process enough documents for length-sorted batches
  // to fill.
  constexpr size_t kChunkDocs = 1024;
  const EvalRanks& ranks = opt.ranks;
  const size_t chunk_docs = kChunkDocs * static_cast<size_t>(ranks.world);
  const size_t P = 1 + opt.variants.size();  // the model, then each variant
  auto quant_name = [&](size_t p) { return p == 0 ? std::string("none") : opt.variants[p - 1].name; };
  std::vector<std::vector<std::vector<RequestScore>>> scores(P, std::vector<std::vector<RequestScore>>(docs.size()));
  std::vector<double> doc_tokens(docs.size());  // continuation tokens per document
  std::vector<double> model_seconds(P);
  for (size_t begin = 0; begin < docs.size(); begin += chunk_docs) {
    const size_t end = std::min(docs.size(), begin + chunk_docs), n = end - begin;
    const size_t slot = opt.prepared ? begin / chunk_docs : 0;  // without opt.prepared, one chunk's requests at a time
    if (!opt.prepared) prepared.chunks.clear();
    if (prepared.chunks.size() <= slot) prepared.chunks.resize(slot + 1, std::vector<std::vector<TokenizedRequest>>(n));
    auto& reqs = prepared.chunks[slot];  // a document's requests stay empty until a process needs them
    // This process's documents, and every document where it writes the samples (their token ids). Tokenized on
    // all threads: the scoring threads would wait for it (stories260K: a tenth of the time on one).
    std::vector<std::exception_ptr> failed(n);
#pragma omp parallel for schedule(dynamic, 16)
    for (size_t d = begin; d < end; ++d) {
      if (!reqs[d - begin].empty() || !(ranks.owns(d) || opt.on_sample)) continue;
      try {
        for (const auto& r : docs[d].requests) reqs[d - begin].push_back(tokenize_request(tok, r, opt.bos, opt.rules));
      } catch (...) {
        reqs[d - begin].clear();
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
    std::vector<size_t> mine;  // this process's documents of the chunk
    for (size_t d = begin; d < end; ++d)
      if (ranks.owns(d)) mine.push_back(d);
    std::vector<std::vector<TokenizedRequest>> copied;  // data parallel: this process's share of the requests
    if (ranks.world > 1)
      for (size_t d : mine) copied.push_back(reqs[d - begin]);
    const auto& to_score = ranks.world > 1 ? copied : reqs;
    ScoreOptions chunk_opt = opt.score;
    if (opt.score.progress)
      chunk_opt.progress = [&](int64_t done, int64_t) {
        opt.score.progress(std::min<int64_t>(begin + done * ranks.world, end), static_cast<int64_t>(docs.size()));
      };
    ScoreStats chunk_stats;
    chunk_opt.stats = &chunk_stats;
    auto chunk = score_variants(model, opt.variants, to_score, chunk_opt);
    if (opt.score.stats) *opt.score.stats += chunk_stats;
    for (size_t p = 0; p < P && p < chunk_stats.model_seconds.size(); ++p) model_seconds[p] += chunk_stats.model_seconds[p];

    // Gathered: per request and model (log-likelihood, greedy, KL, top-1 agreements), then per document (its
    // continuation tokens and requests whose context is not a prefix), each process's at its documents' places;
    // every value is exact in float64, and a sum with zeros leaves it as it was.
    std::vector<size_t> first(n + 1);  // the chunk's requests of document begin + i start at first[i]
    for (size_t i = 0; i < n; ++i) first[i + 1] = first[i] + docs[begin + i].requests.size();
    const size_t Q = first[n];
    auto values = torch::zeros({static_cast<int64_t>(P * Q * 4 + n * 2)}, torch::kFloat64);
    double* v = values.data_ptr<double>();
    double* per_doc = v + P * Q * 4;
    for (size_t k = 0; k < mine.size(); ++k) {
      const size_t i = mine[k] - begin;
      for (size_t p = 0; p < P; ++p)
        for (size_t r = 0; r < chunk[p][k].size(); ++r) {
          const RequestScore& sc = chunk[p][k][r];
          double* at = v + ((p * Q) + first[i] + r) * 4;
          at[0] = sc.logprob, at[1] = sc.is_greedy, at[2] = sc.kl, at[3] = static_cast<double>(sc.top1_agree);
        }
      for (const auto& t : reqs[i]) per_doc[2 * i] += static_cast<double>(t.continuation.size()), per_doc[2 * i + 1] += !t.context_is_prefix;
    }
    ranks.all_sum(values);
    for (size_t i = 0; i < n; ++i) {
      const size_t d = begin + i;
      for (size_t p = 0; p < P; ++p) {
        scores[p][d].resize(docs[d].requests.size());
        for (size_t r = 0; r < scores[p][d].size(); ++r) {
          const double* at = v + ((p * Q) + first[i] + r) * 4;
          scores[p][d][r] = {at[0], at[1] != 0, at[2], static_cast<int64_t>(at[3])};
        }
      }
      doc_tokens[d] = per_doc[2 * i];
      res.tokens_scored += static_cast<int64_t>(per_doc[2 * i]);
      res.requests += static_cast<int64_t>(docs[d].requests.size());
      res.context_not_prefix += static_cast<int64_t>(per_doc[2 * i + 1]);
    }
    // A NaN or Inf weight makes every log-likelihood non-finite, and argmax over NaNs still "predicts": stop.
    for (size_t p = 0; p < P; ++p) {
      size_t non_finite = 0, n_requests = 0;
      for (size_t d = begin; d < end; ++d)
        for (const auto& sc : scores[p][d]) non_finite += !std::isfinite(sc.logprob) || !std::isfinite(sc.kl), ++n_requests;
      if (non_finite > 0)
        fail(name, p == 0 ? "" : " under --quant " + quant_name(p), ": ", non_finite, " of ", n_requests,
             " log-likelihoods in documents ", begin, "-", end - 1, " are not finite (NaN or Inf in the model's "
             "weights or activations?); no metrics are reported");
    }
    if (!opt.on_sample) continue;
    for (size_t d = begin; d < end; ++d) {
      for (size_t p = 0; p < P; ++p) {
        const DocOutcome o = doc_outcome(docs[d], scores[p][d], opt.rules);
        for (size_t r = 0; r < docs[d].requests.size(); ++r) {
          const RequestScore& sc = scores[p][d][r];
          nlohmann::json line = {{"task", name},
                                 {"rules", opt.rules.name},
                                 {"quant", quant_name(p)},
                                 {"doc_id", docs[d].id},
                                 {"request", r},
                                 {"context", docs[d].requests[r].context},
                                 {"continuation", docs[d].requests[r].continuation},
                                 {"context_tokens", reqs[d - begin][r].context},
                                 {"continuation_tokens", reqs[d - begin][r].continuation},
                                 {"ll", sc.logprob},
                                 {"is_greedy", sc.is_greedy},
                                 {"pred", o.pred},
                                 {"pred_norm", o.pred_norm},
                                 {"pred_norm_nospace", o.pred_norm_nospace},
                                 {"gold", docs[d].gold},
                                 // a generative (greedy-match) document has no gold choice to measure
                                 {"bpb", docs[d].gold >= 0 ? nlohmann::json(o.bpb) : nlohmann::json(nullptr)}};
          if (p > 0) {  // against the model's distributions, per continuation token
            const double tokens = static_cast<double>(reqs[d - begin][r].continuation.size());
            line["kl"] = sc.kl / tokens;
            line["top1_agree"] = static_cast<double>(sc.top1_agree) / tokens;
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
