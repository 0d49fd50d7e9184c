#include "eval/score.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "eval/metrics.h"
#include "model/backend/torch_compat.h"
#include "tests/eval/eval_fixtures.h"

namespace {

const wr::RuleSet kLmEval = wr::load_rules("lm-eval");

using wr::test::fixture_model;
using wr::test::fixture_tokenizer;

std::vector<int64_t> enc(const std::string& s) {
  auto v = fixture_tokenizer().encode(s);
  return {v.begin(), v.end()};
}

TEST(TokenizeRequest, HarnessRules) {
  const auto& tok = fixture_tokenizer();
  // trailing whitespace of the context moves into the continuation
  auto r = wr::tokenize_request(tok, {"The cat likes ", "the ball."}, /*bos=*/false, kLmEval);
  EXPECT_EQ(r.context, enc("The cat likes"));
  auto whole = enc("The cat likes the ball.");
  EXPECT_EQ(r.continuation, std::vector<int64_t>(whole.begin() + r.context.size(), whole.end()));
  auto with_bos = wr::tokenize_request(tok, {"The cat likes", " the ball."}, /*bos=*/true, kLmEval);
  EXPECT_EQ(with_bos.context.front(), tok.bos_id());
  EXPECT_EQ(with_bos.continuation, r.continuation);
  // an empty context becomes [BOS]
  auto empty = wr::tokenize_request(tok, {"", "The cat"}, false, kLmEval);
  EXPECT_EQ(empty.context, std::vector<int64_t>{tok.bos_id()});
  EXPECT_EQ(empty.continuation, enc("The cat"));
  EXPECT_THROW(wr::tokenize_request(tok, {"The cat", ""}, true, kLmEval), wr::Error);
}

// Byte-level BPE can merge across the context/continuation boundary; the harness rule then slices the merged
// piece off the continuation (lm-eval models/huggingface.py _encode_pair), and the request says so.
TEST(TokenizeRequest, Llama3PieceAcrossTheBoundary) {
  WR_REQUIRE_SHARED("tokenizers/llama3/tokenizer.json");
  const auto tok = wr::Tokenizer::from_file(wr::test::shared_path("tokenizers/llama3/tokenizer.json"));
  auto ids = [&](const std::string& s) {
    auto v = tok.encode(s);
    return std::vector<int64_t>(v.begin(), v.end());
  };
  ASSERT_EQ(ids("The cats sat").size(), 3u);  // "The", " cats", " sat": " cats" holds the continuation's "s"
  auto crossed = wr::tokenize_request(tok, {"The cat", "s sat"}, false, kLmEval);
  EXPECT_FALSE(crossed.context_is_prefix);
  EXPECT_EQ(crossed.context, ids("The cat"));
  EXPECT_EQ(crossed.continuation, ids(" sat"));  // whole[len(enc(ctx)):]: the "s" is scored nowhere, as in lm-eval
  auto clean = wr::tokenize_request(tok, {"The cat ", "sat"}, true, kLmEval);  // the space moves to the continuation
  EXPECT_TRUE(clean.context_is_prefix);
  EXPECT_EQ(clean.context.front(), 128000);
  EXPECT_EQ(clean.continuation, ids(" sat"));
}

// A model whose hidden states are all zero gives uniform next-token distributions: every continuation token
// has log-probability exactly -ln(V).
TEST(Score, UniformModelKnownAnswer) {
  auto m = fixture_model();
  torch::NoGradGuard ng;
  m->model->embed_tokens->weight.zero_();
  const double V = static_cast<double>(m->config.vocab_size);
  std::vector<std::vector<wr::TokenizedRequest>> docs = {{{{1, 10, 11}, {12}}, {{1, 10, 11}, {13, 14, 15}}}};
  for (bool share : {true, false}) {
    wr::ScoreOptions opt;
    opt.share = share;
    auto s = wr::score_requests(m, docs, opt);
    EXPECT_NEAR(s[0][0].logprob, -std::log(V), 1e-5);
    EXPECT_NEAR(s[0][1].logprob, -3 * std::log(V), 1e-5);
    EXPECT_TRUE(s[0][0].is_greedy == (12 == 0));  // argmax of a uniform row is token 0
  }
}

// The reference path: one forward of ctx + cont per request, log-softmax, sum.
wr::RequestScore naive(wr::Llama& m, const wr::TokenizedRequest& r) {
  torch::NoGradGuard ng;
  std::vector<int64_t> full = r.context;
  full.insert(full.end(), r.continuation.begin(), r.continuation.end());
  const int64_t keep = std::min<int64_t>(full.size(), m->config.max_seq_len + 1);
  std::vector<int64_t> inp(full.end() - keep, full.end() - 1);
  auto logp = torch::log_softmax(m->forward(torch::tensor(inp, torch::kInt64).unsqueeze(0))[0], -1);
  wr::RequestScore s;
  const int64_t n = r.continuation.size(), T = inp.size();
  for (int64_t j = 0; j < n; ++j) {
    auto row = logp[T - n + j];
    s.logprob += row[r.continuation[j]].item<double>();
    s.is_greedy = s.is_greedy && row.argmax().item<int64_t>() == r.continuation[j];
  }
  return s;
}

std::vector<std::vector<wr::TokenizedRequest>> sample_docs(bool bos) {
  const auto& tok = fixture_tokenizer();
  std::vector<std::vector<wr::Request>> raw = {
      {{"The cat likes", " the ball."}, {"The cat likes", " a red apple."}, {"The cat likes", " water."}},
      {{"Question: A dog sees\nAnswer:", " the question?"}, {"Question: A dog sees\nAnswer:", " an old map."}},
      {{"My friend paints", " the blue sky."}, {"Our neighbour paints", " the blue sky."}},  // two contexts
      {{"The river", " answers"}},
      {{"The cat sees", " water."}, {"The cat sees", " the ball."}, {"The cat sees", " water."}},  // a repeated choice
  };
  std::vector<std::vector<wr::TokenizedRequest>> docs;
  for (const auto& d : raw) {
    docs.emplace_back();
    for (const auto& r : d) docs.back().push_back(wr::tokenize_request(tok, r, bos, kLmEval));
  }
  return docs;
}

// Restores LibTorch's thread count when it leaves.
struct ThreadsFor {
  explicit ThreadsFor(int n) : before(torch::get_num_threads()) { torch::set_num_threads(n); }
  ~ThreadsFor() { torch::set_num_threads(before); }
  int before;
};

// On one thread and on three (batches side by side, each on its own thread), at any batch budget.
TEST(Score, SharedAndUnsharedAgreeWithNaiveAtAnyBatchBudget) {
  auto m = fixture_model();
  for (int threads : {1, 3}) {
    ThreadsFor scoring_threads(threads);
    for (bool bos : {true, false}) {
      auto docs = sample_docs(bos);
      for (bool share : {true, false})
        for (int64_t budget : {1, 40, 4096}) {
          wr::ScoreOptions opt;
          opt.share = share;
          opt.batch_tokens = budget;
          std::vector<int64_t> reported;  // documents done after each batch: never decreasing, all at the end
          opt.progress = [&](int64_t done, int64_t total) {
            EXPECT_EQ(total, static_cast<int64_t>(docs.size()));
            reported.push_back(done);
          };
          auto s = wr::score_requests(m, docs, opt);
          ASSERT_FALSE(reported.empty());
          EXPECT_TRUE(std::is_sorted(reported.begin(), reported.end()));
          EXPECT_EQ(reported.back(), static_cast<int64_t>(docs.size()));
          for (size_t d = 0; d < docs.size(); ++d)
            for (size_t r = 0; r < docs[d].size(); ++r) {
              auto ref = naive(m, docs[d][r]);
              EXPECT_NEAR(s[d][r].logprob, ref.logprob, 1e-4)
                  << "share " << share << " budget " << budget << " threads " << threads;
              EXPECT_EQ(s[d][r].is_greedy, ref.is_greedy);
            }
        }
    }
  }
}

// Documents without requests: nothing to run, on any number of threads.
TEST(Score, DocumentsWithoutRequestsRunNoBatch) {
  auto m = fixture_model();
  ThreadsFor scoring_threads(2);
  std::vector<std::vector<wr::TokenizedRequest>> docs(3);
  wr::ScoreStats stats;
  wr::ScoreOptions opt;
  opt.stats = &stats;
  auto s = wr::score_requests(m, docs, opt);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_TRUE(s[0].empty() && s[1].empty() && s[2].empty());
  EXPECT_EQ(stats.batches, 0);
}

// A batch that fails on one of several threads fails the call with its error; the others stop taking batches.
TEST(Score, ErrorInABatchOnAnotherThreadIsRethrown) {
  auto m = fixture_model();
  ThreadsFor scoring_threads(2);
  auto docs = sample_docs(true);
  docs.back().back().continuation.back() = m->config.vocab_size;  // no such token: scoring it throws
  wr::ScoreOptions opt;
  opt.batch_tokens = 1;  // one row a batch: the others run beside it
  EXPECT_THROW(wr::score_requests(m, docs, opt), c10::Error);
}

// Long packed rows (span_attention() over hundreds of keys per query) beside short ones in one padded batch:
// every request still scores as it does alone, with and without a shared row.
TEST(Score, LongRowsAgreeWithNaive) {
  auto m = fixture_model(512);
  std::string story;
  for (int i = 0; i < 30; ++i) story += i % 3 ? "The cat likes the ball. " : "A dog sees an old map. ";
  std::vector<std::vector<wr::TokenizedRequest>> docs;
  for (const auto& context : {story, story.substr(0, 300), std::string("The river")}) {
    docs.emplace_back();
    for (const char* cont : {" the blue sky and the water.", " a red apple.", " the question?"})
      docs.back().push_back(wr::tokenize_request(fixture_tokenizer(), {context, cont}, true, kLmEval));
  }
  ASSERT_GT(docs[0][0].context.size(), static_cast<size_t>(256));
  for (bool share : {true, false})
    for (int64_t budget : {1, 4096}) {
      wr::ScoreOptions opt;
      opt.share = share;
      opt.batch_tokens = budget;
      auto s = wr::score_requests(m, docs, opt);
      for (size_t d = 0; d < docs.size(); ++d)
        for (size_t r = 0; r < docs[d].size(); ++r) {
          auto ref = naive(m, docs[d][r]);
          EXPECT_NEAR(s[d][r].logprob, ref.logprob, 1e-4) << "share " << share << " budget " << budget << " doc " << d;
          EXPECT_EQ(s[d][r].is_greedy, ref.is_greedy);
        }
    }
}

// --dtype bf16: the model runs in bfloat16 (here on the CPU), the log-softmax in float32. Sums of ~20-45 nats
// differ from the float32 model's by ~0.01 here; bfloat16's 8-bit mantissa allows a few parts in a thousand.
TEST(Score, Bfloat16CloseToFloat32) {
  auto f32 = fixture_model();
  auto bf16 = fixture_model();
  bf16->to(torch::kBFloat16);
  auto docs = sample_docs(true);
  auto a = wr::score_requests(f32, docs, {});
  auto b = wr::score_requests(bf16, docs, {});
  for (size_t d = 0; d < docs.size(); ++d)
    for (size_t r = 0; r < docs[d].size(); ++r)
      EXPECT_NEAR(b[d][r].logprob, a[d][r].logprob, 0.005 * std::abs(a[d][r].logprob) + 0.02) << d << "," << r;
}

// wr-eval --device cuda: both scoring modes on the GPU give the CPU's log-likelihoods (skipped without CUDA).
TEST(Score, CudaMatchesCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device (this LibTorch or machine has none)";
  auto cpu = fixture_model();
  auto gpu = fixture_model();
  gpu->to(torch::kCUDA);
  auto docs = sample_docs(true);
  for (bool share : {true, false}) {
    wr::ScoreOptions opt;
    opt.share = share;
    auto a = wr::score_requests(cpu, docs, opt);
    auto b = wr::score_requests(gpu, docs, opt);
    for (size_t d = 0; d < docs.size(); ++d)
      for (size_t r = 0; r < docs[d].size(); ++r) EXPECT_NEAR(b[d][r].logprob, a[d][r].logprob, 1e-3) << share;
  }
}

TEST(Score, IdenticalChoicesTieExactlyInSharedMode) {
  auto m = fixture_model();
  auto docs = sample_docs(true);
  auto s = wr::score_requests(m, docs, {});
  EXPECT_EQ(s.back()[0].logprob, s.back()[2].logprob);
}

TEST(Score, LeftTruncationBeyondMaxLength) {
  auto m = fixture_model(/*max_seq_len=*/8);
  std::vector<std::vector<wr::TokenizedRequest>> docs = {
      {{{1, 20, 21, 22, 23, 24, 25, 26, 27, 28}, {30, 31, 32}}, {{1, 20, 21, 22, 23, 24, 25, 26, 27, 28}, {33}}}};
  for (bool share : {true, false}) {
    wr::ScoreOptions opt;
    opt.share = share;
    auto s = wr::score_requests(m, docs, opt);
    for (size_t r = 0; r < 2; ++r) EXPECT_NEAR(s[0][r].logprob, naive(m, docs[0][r]).logprob, 1e-4);
  }
}

// ---- metrics ----

wr::TaskDef task_with(std::vector<std::string> metrics) {
  wr::TaskDef t;
  t.name = "t";
  t.metrics = std::move(metrics);
  return t;
}

TEST(Metrics, AccAccNormTiesAndStderr) {
  // doc 0: ll favours choice 1 ("bb", -2.0) but per character choice 0 ("aaaa", -3.0 -> -0.75) wins
  // doc 1: an exact tie goes to the lowest index; doc 2 and 3: clear wins for the gold
  std::vector<wr::Doc> docs(4);
  docs[0].choices = {"aaaa", "bb"};
  docs[0].gold = 0;
  docs[1].choices = {"x", "y"};
  docs[1].gold = 1;
  docs[2].choices = {"é", "ab"};  // one code point vs two
  docs[2].gold = 0;
  docs[3].choices = {"p", "q"};
  docs[3].gold = 1;
  for (auto& d : docs) d.requests.resize(2);
  std::vector<std::vector<wr::RequestScore>> s = {
      {{-3.0, false}, {-2.0, false}}, {{-1.0, false}, {-1.0, false}}, {{-1.5, false}, {-1.0, false}},
      {{-5.0, false}, {-1.0, false}}};
  auto m = wr::compute_metrics(task_with({"acc", "acc_norm"}), docs, s, kLmEval);
  // acc: preds 1, 0 (tie), 1, 1 -> correct: no, no, no, yes = 0.25
  EXPECT_DOUBLE_EQ(m[0].value, 0.25);
  EXPECT_NEAR(m[0].stderr_, std::sqrt(0.25 * 0.75 / 3), 1e-12);
  // acc_norm: doc0 -0.75 vs -1 -> 0 (yes); doc1 tie -> 0 (no); doc2 -1.5 vs -0.5 -> 1 (no); doc3 -> 1 (yes)
  EXPECT_DOUBLE_EQ(m[1].value, 0.5);
  EXPECT_EQ(wr::doc_outcome(docs[1], s[1], kLmEval).pred, 0);
  EXPECT_EQ(wr::doc_outcome(docs[2], s[2], kLmEval).pred_norm, 1);
  EXPECT_EQ(wr::utf8_length("é"), 1u);
}

// bpb and prob_gold, by hand: doc 0's gold " yes" (4 bytes) has ll -2 against " no"'s -1; doc 1's context ends in
// a space that moves into the gold continuation "é" (1 + 2 bytes), ll -3 against -3 - ln 3.
TEST(Metrics, GoldBitsPerByteAndProbability) {
  std::vector<wr::Doc> docs(2);
  docs[0].choices = {"yes", "no"};
  docs[0].requests = {{"Answer:", " yes"}, {"Answer:", " no"}};
  docs[0].gold = 0;
  docs[1].choices = {"a", "é"};
  docs[1].requests = {{"Answer: ", "a"}, {"Answer: ", "é"}};
  docs[1].gold = 1;
  std::vector<std::vector<wr::RequestScore>> s = {{{-2.0, false}, {-1.0, false}},
                                                  {{-3.0 - std::log(3.0), false}, {-3.0, false}}};
  auto m = wr::compute_metrics(task_with({"acc"}), docs, s, kLmEval);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[1].name, "bpb");
  const double bpb0 = 2.0 / std::log(2.0) / 4, bpb1 = 3.0 / std::log(2.0) / 3;
  EXPECT_NEAR(m[1].value, (bpb0 + bpb1) / 2, 1e-12);
  EXPECT_NEAR(m[1].stderr_, std::abs(bpb0 - bpb1) / 2, 1e-12);  // two values: sd/sqrt(2) = |a-b|/2
  EXPECT_EQ(m[2].name, "prob_gold");
  const double p0 = std::exp(-2.0) / (std::exp(-2.0) + std::exp(-1.0)), p1 = 3.0 / 4;
  EXPECT_NEAR(m[2].value, (p0 + p1) / 2, 1e-12);
  // Far below any float's range the softmax still holds: only the differences matter.
  s[0] = {{-2000.0, false}, {-2000.0 - std::log(3.0), false}};
  EXPECT_NEAR(wr::doc_outcome(docs[0], s[0], kLmEval).prob_gold, 0.75, 1e-12);
}

TEST(Metrics, LoglikelihoodTaskPerplexityAndGreedyAcc) {
  std::vector<wr::Doc> docs(2);
  for (auto& d : docs) {
    d.requests.resize(1);
    d.choices = {"w"};
  }
  std::vector<std::vector<wr::RequestScore>> s = {{{-1.0, true}}, {{-3.0, false}}};
  auto m = wr::compute_metrics(task_with({"perplexity", "acc"}), docs, s, kLmEval);
  EXPECT_NEAR(m[0].value, std::exp(2.0), 1e-12);
  EXPECT_DOUBLE_EQ(m[1].value, 0.5);
}

}  // namespace
