#include "eval/score.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <map>

#include "common/error.h"
#include "model/token_scorer.h"

namespace wr {
namespace {

// Where the context's trailing whitespace starts (it moves into the continuation).
size_t context_kept(const std::string& context) {
  const size_t end = context.find_last_not_of(" \t\n\r\f\v");
  return end == std::string::npos ? 0 : end + 1;
}

// One packed sequence and the continuation tokens it scores.
struct Row {
  std::vector<int64_t> tokens, positions;
  // The keys each position sees (KeySpans): the context's positions the ones up to themselves (prefix 0, from 0),
  // a continuation's the whole context (prefix = its length) and its own segment (from = the segment's start).
  std::vector<int32_t> prefix, from;
  struct Target {
    size_t doc, req;
    std::vector<int64_t> at;      // row index whose logits predict each continuation token
    std::vector<int64_t> tokens;  // the continuation tokens
    std::vector<size_t> copies;   // further requests of the same document with identical tokens
  };
  std::vector<Target> targets;
};

Row single_row(const TokenizedRequest& r, size_t doc, size_t req, int64_t max_len) {
  std::vector<int64_t> full = r.context;
  full.insert(full.end(), r.continuation.begin(), r.continuation.end());
  const int64_t keep = std::min<int64_t>(full.size(), max_len + 1);
  Row row;
  row.tokens.assign(full.end() - keep, full.end() - 1);
  const int64_t n = row.tokens.size();
  const int64_t cont = std::min<int64_t>(r.continuation.size(), n);
  for (int64_t i = 0; i < n; ++i) row.positions.push_back(i);
  row.prefix.assign(n, 0);
  row.from.assign(n, 0);
  Row::Target t{doc, req, {}, {}, {}};
  for (int64_t i = n - cont; i < n; ++i) t.at.push_back(i);
  t.tokens.assign(r.continuation.end() - cont, r.continuation.end());
  row.targets.push_back(std::move(t));
  return row;
}

// Rows for one document: requests with identical context tokens share a row when every one fits max_len.
void document_rows(const std::vector<TokenizedRequest>& reqs, size_t doc, int64_t max_len, bool share,
                   std::vector<Row>& out) {
  if (!share) {
    for (size_t r = 0; r < reqs.size(); ++r) out.push_back(single_row(reqs[r], doc, r, max_len));
    return;
  }
  std::map<std::vector<int64_t>, std::vector<size_t>> by_context;
  std::vector<const std::vector<int64_t>*> order;  // first-seen order, for determinism
  for (size_t r = 0; r < reqs.size(); ++r) {
    auto& group = by_context[reqs[r].context];
    if (group.empty()) order.push_back(&reqs[r].context);
    group.push_back(r);
  }
  for (const auto* ctx : order) {
    const auto& group = by_context[*ctx];
    const int64_t C = ctx->size();
    bool fits = true;
    for (size_t r : group) fits &= C + static_cast<int64_t>(reqs[r].continuation.size()) - 1 <= max_len;
    if (!fits) {
      for (size_t r : group) out.push_back(single_row(reqs[r], doc, r, max_len));
      continue;
    }
    Row row;
    row.tokens = *ctx;
    for (int64_t i = 0; i < C; ++i) row.positions.push_back(i);
    row.prefix.assign(C, 0);
    row.from.assign(C, 0);
    std::map<std::vector<int64_t>, Row::Target*> seen;  // identical choices are scored once, so they tie exactly
    row.targets.reserve(group.size());
    for (size_t r : group) {
      const auto& cont = reqs[r].continuation;
      if (auto it = seen.find(cont); it != seen.end()) {
        it->second->copies.push_back(r);
        continue;
      }
      Row::Target t{doc, r, {C - 1}, cont, {}};  // the context's last position predicts the first token
      const auto start = static_cast<int32_t>(row.tokens.size());
      for (size_t j = 0; j + 1 < cont.size(); ++j) {
        t.at.push_back(static_cast<int64_t>(row.tokens.size()));
        row.tokens.push_back(cont[j]);
        row.positions.push_back(C + static_cast<int64_t>(j));
        row.prefix.push_back(static_cast<int32_t>(C));
        row.from.push_back(start);
      }
      row.targets.push_back(std::move(t));
      seen[cont] = &row.targets.back();
    }
    out.push_back(std::move(row));
  }
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Packs one batch of rows into the model's inputs, scores them through each of the scorer's passes (the model, then
// its variants, which also get per scored token the KL divergence from the model's next-token distribution and
// whether the argmaxes agree), writes into scores[pass] and adds what it ran to stats.
void run_batch(const TokenScorer& scorer, const std::vector<const Row*>& batch,
               std::vector<std::vector<std::vector<RequestScore>>>& scores, ScoreStats& stats) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t B = batch.size();
  int64_t T = 0;
  for (const Row* r : batch) T = std::max<int64_t>(T, r->tokens.size());
  auto tokens = torch::zeros({B, T}, torch::kInt64);
  auto positions = torch::zeros({B, T}, torch::kInt64);
  // padding sees only itself
  auto prefix = torch::zeros({B, T}, torch::kInt32);
  auto from = torch::arange(T, torch::kInt32).repeat({B, 1});
  auto tok_a = tokens.accessor<int64_t, 2>();
  auto pos_a = positions.accessor<int64_t, 2>();
  auto prefix_a = prefix.accessor<int32_t, 2>();
  auto from_a = from.accessor<int32_t, 2>();
  // Each scored token: the flat position whose logits predict it, and the token.
  std::vector<int64_t> at, target;
  for (int64_t b = 0; b < B; ++b) {
    const Row& r = *batch[b];
    for (size_t t = 0; t < r.tokens.size(); ++t) {
      tok_a[b][t] = r.tokens[t];
      pos_a[b][t] = r.positions[t];
      prefix_a[b][t] = r.prefix[t];
      from_a[b][t] = r.from[t];
    }
    for (const auto& tg : r.targets)
      for (size_t j = 0; j < tg.at.size(); ++j) {
        at.push_back(b * T + tg.at[j]);
        target.push_back(tg.tokens[j]);
      }
  }
  ForwardArgs args;
  args.positions = positions;
  args.visible = {prefix, from};
  stats.seconds_inputs += seconds_since(t0);

  const BatchScores result = scorer.score(tokens, args, at, target);
  const size_t P = result.passes.size();
  stats.model_seconds.assign(P, 0);
  for (size_t p = 0; p < P; ++p) {
    stats.seconds_decoder += result.passes[p].seconds_decoder;
    stats.seconds_head += result.passes[p].seconds_head;
    stats.model_seconds[p] += result.passes[p].seconds_decoder + result.passes[p].seconds_head;
  }
  stats.head_positions += result.head_positions;
  stats.batches += 1;
  stats.padded_tokens += B * T;
  for (const Row* r : batch) {
    stats.rows += 1;
    stats.model_tokens += r->tokens.size();
    for (const auto& t : r->targets) stats.scored_tokens += t.tokens.size();
  }
  for (size_t p = 0; p < P; ++p) {
    const auto& scored = result.passes[p];
    auto lp_a = scored.logprob.accessor<double, 1>();
    auto gr_a = scored.greedy.accessor<bool, 1>();
    auto kl_a = scored.kl.accessor<double, 1>();
    auto ag_a = scored.top1_agree.accessor<bool, 1>();
    size_t i = 0;
    for (const Row* r : batch)
      for (const auto& tg : r->targets) {
        RequestScore s;
        for (size_t j = 0; j < tg.at.size(); ++j, ++i) {
          s.logprob += lp_a[i];
          s.is_greedy = s.is_greedy && gr_a[i];
          s.kl += kl_a[i];
          s.top1_agree += ag_a[i];
        }
        scores[p][tg.doc][tg.req] = s;
        for (size_t copy : tg.copies) scores[p][tg.doc][copy] = s;
      }
  }
}

}  // namespace

// Where the context the model sees ends: before its trailing whitespace when the rules move it.
size_t context_end(const Request& r, const RuleSet& rules) {
  return rules.context_whitespace == ContextWhitespace::kMoveToContinuation ? context_kept(r.context) : r.context.size();
}

std::string scored_continuation(const Request& r, const RuleSet& rules) {
  return r.context.substr(context_end(r, rules)) + r.continuation;
}

TokenizedRequest tokenize_request(const Tokenizer& tok, const Request& r, bool bos, const RuleSet& rules) {
  const std::string context = r.context.substr(0, context_end(r, rules)), continuation = scored_continuation(r, rules);

  TokenizedRequest out;
  auto to64 = [](const std::vector<int>& v) { return std::vector<int64_t>(v.begin(), v.end()); };
  if (context.empty()) {
    out.context = {tok.bos_id()};
    out.continuation = to64(tok.encode(continuation));
  } else if (rules.continuation_tokens == ContinuationTokens::kSeparate) {
    out.context = to64(tok.encode(context));
    if (bos) out.context.insert(out.context.begin(), tok.bos_id());
    out.continuation = to64(tok.encode(continuation));
  } else {
    auto whole = to64(tok.encode(context + continuation));
    auto ctx = to64(tok.encode(context));
    if (bos) {
      whole.insert(whole.begin(), tok.bos_id());
      ctx.insert(ctx.begin(), tok.bos_id());
    }
    out.context_is_prefix = ctx.size() <= whole.size() && std::equal(ctx.begin(), ctx.end(), whole.begin());
    out.context = ctx;
    out.continuation.assign(whole.begin() + std::min(ctx.size(), whole.size()), whole.end());
  }
  if (out.continuation.empty())
    fail("request has an empty continuation (context \"", r.context.substr(0, 60), "\", continuation \"",
         r.continuation, "\")");
  return out;
}

std::vector<std::vector<RequestScore>> score_requests(Llama& model,
                                                      const std::vector<std::vector<TokenizedRequest>>& docs,
                                                      const ScoreOptions& opt) {
  return std::move(score_variants(model, {}, docs, opt)[0]);
}

std::vector<std::vector<std::vector<RequestScore>>> score_variants(Llama& model, const std::vector<ScoreVariant>& variants,
                                                                   const std::vector<std::vector<TokenizedRequest>>& docs,
                                                                   const ScoreOptions& opt) {
  torch::NoGradGuard no_grad;
  std::vector<ScoringPass> passes = {{model, nullptr}};
  for (const auto& v : variants) passes.push_back({v.model, v.linear_input ? &v.linear_input : nullptr});
  const TokenScorer scorer(std::move(passes));
  std::vector<Row> rows;
  std::vector<std::vector<std::vector<RequestScore>>> scores(scorer.passes(), std::vector<std::vector<RequestScore>>(docs.size()));
  std::vector<size_t> unscored(docs.size());  // a document is done when all its requests are scored
  int64_t docs_done = 0;
  for (size_t d = 0; d < docs.size(); ++d) {
    for (auto& s : scores) s[d].resize(docs[d].size());
    unscored[d] = docs[d].size();
    docs_done += docs[d].empty();
    document_rows(docs[d], d, model->config.max_seq_len, opt.share, rows);
  }
  std::vector<const Row*> order;
  for (const auto& r : rows) order.push_back(&r);
  ScoreStats unused, &stats = opt.stats ? *opt.stats : unused;
  std::stable_sort(order.begin(), order.end(),
                   [](const Row* a, const Row* b) { return a->tokens.size() > b->tokens.size(); });

  // On the CPU, batches run side by side, one per thread, each batch on its thread alone (LibTorch's and the BLAS's
  // loops run inline inside an OpenMP parallel region): a small model's forward pass is a chain of small
  // operations, and splitting each over threads cost more in fork/join and tiny GEMM blocks than it gained. The
  // token budget is shared out, so that the padded tokens in flight, and with them the memory, stay batch_tokens.
  // Within it the batches are about the same size, as many as a multiple of the threads' number: a thread scoring a
  // last, smaller batch alone leaves the others idle (60 HellaSwag documents of a 1B model: batches of 2048, 2048
  // and 700 tokens kept the second core idle for 24% of the run).
  const bool on_cpu = scorer.device().is_cpu();
  const int64_t workers = on_cpu ? at::get_num_threads() : 1;
  int64_t left = 0;  // tokens of the rows not yet in a batch
  for (const Row* r : order) left += static_cast<int64_t>(r->tokens.size());
  const int64_t most = std::max<int64_t>(1, opt.batch_tokens / workers);
  const int64_t n_batches = std::max<int64_t>(1, ((left + most - 1) / most + workers - 1) / workers * workers);

  // Batches of rows, longest first, so that the first row of a batch sets its padded length; each takes the rows
  // nearest its even share of what is left.
  std::vector<std::vector<const Row*>> batches;
  for (size_t i = 0; i < order.size(); i += batches.back().size()) {
    const int64_t T = std::max<int64_t>(1, order[i]->tokens.size());
    const int64_t share = left / std::max<int64_t>(1, n_batches - static_cast<int64_t>(batches.size()));
    const int64_t n = std::clamp<int64_t>((share + T / 2) / T, 1, std::max<int64_t>(1, most / T));
    batches.emplace_back(order.begin() + i, order.begin() + std::min(order.size(), i + static_cast<size_t>(n)));
    for (const Row* r : batches.back()) left -= static_cast<int64_t>(r->tokens.size());
  }

  const int threads = static_cast<int>(std::clamp<size_t>(batches.size(), 1, workers));
  std::exception_ptr failure;
  std::atomic<bool> failed{false};  // the other threads skip their remaining batches
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (size_t k = 0; k < batches.size(); ++k) {
    if (failed) continue;
    const auto& batch = batches[k];
    torch::NoGradGuard batch_no_grad;  // grad mode is per thread
    ScoreStats batch_stats;
    try {
      run_batch(scorer, batch, scores, batch_stats);
    } catch (...) {
#pragma omp critical(wr_score_requests)
      if (!failure) failure = std::current_exception();
      failed = true;
      continue;
    }
#pragma omp critical(wr_score_requests)
    {
      for (const Row* r : batch)
        for (const auto& t : r->targets) {
          unscored[t.doc] -= 1 + t.copies.size();
          docs_done += unscored[t.doc] == 0;
        }
      stats += batch_stats;
      if (opt.progress && !failure) opt.progress(docs_done, static_cast<int64_t>(docs.size()));
    }
  }
  if (failure) std::rethrow_exception(failure);
  return scores;
}

}  // namespace wr
