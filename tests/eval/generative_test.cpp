// Generative tasks (TriviaQA's rules): a model whose weights spell out a known answer, so generation, stop
// strings, answer clean-up and alias exact match are checked end to end; and the harness's normalisation.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/file.h"
#include "eval/evaluate.h"
#include "eval/metrics.h"
#include "tests/eval/eval_fixtures.h"
#include "tests/test_util.h"

namespace {

TEST(Generative, HarnessNormalisation) {
  const std::vector<std::string> until = {"\n", ".", ","};
  EXPECT_EQ(wr::cut_generation(" Paris, France\nQuestion", until), "Paris");
  EXPECT_EQ(wr::cut_generation("\n Paris", until), "");  // a leading stop string ends it at once
  EXPECT_EQ(wr::cut_generation("  The Beatles", until), "The Beatles");
  EXPECT_EQ(wr::normalize_answer("U.S.A."), "usa");
  EXPECT_EQ(wr::normalize_answer("Rock 'n' Roll!"), "rock n roll");
  EXPECT_TRUE(wr::exact_match_any("the beatles", {"Beatles", "The Beatles"}));
  EXPECT_FALSE(wr::exact_match_any("beatles ", {"Beatles"}));  // whitespace is not normalised away
  EXPECT_FALSE(wr::exact_match_any("", {"x"}));
}

// A one-layer model whose attention and MLP add nothing, so each position's logits depend on its own token
// only: lm_head maps token t to next[t]. Greedy decoding then follows the chain we write into it.
wr::Llama successor_model(const std::map<int, int>& next, int fallback) {
  const auto& tok = wr::test::fixture_tokenizer();
  wr::ModelConfig c;
  c.vocab_size = tok.vocab_size();
  c.dim = c.vocab_size;  // one-hot embeddings
  c.n_layers = 1;
  c.n_heads = 4;
  c.n_kv_heads = 4;
  c.ffn_dim = 8;
  c.max_seq_len = 96;
  wr::Llama m(c);
  torch::NoGradGuard no_grad;
  for (auto& p : m->parameters()) p.zero_();
  m->model->norm->weight.fill_(1);
  m->layer(0).input_layernorm->weight.fill_(1);
  m->layer(0).post_attention_layernorm->weight.fill_(1);
  m->model->embed_tokens->weight.copy_(torch::eye(c.vocab_size));
  auto head = m->lm_head->weight;
  for (int t = 0; t < c.vocab_size; ++t) head[next.count(t) ? next.at(t) : fallback][t] = 10.0;
  m->eval();
  return m;
}

TEST(Generative, KnownAnswerThroughTheTriviaqaRules) {
  const auto& tok = wr::test::fixture_tokenizer();
  const std::string dir = wr::test::temp_dir();
  std::filesystem::create_directories(dir + "/triviaqa");
  wr::write_file_atomic(dir + "/triviaqa/rc.nocontext-validation.jsonl",
                        R"({"question": "What does the cat like", "answer": {"aliases": ["The Ball", "a ball"], "value": "The Ball"}})" "\n"
                        R"({"question": "Who sees the map", "answer": {"aliases": ["The dog"], "value": "The dog"}})" "\n");
  const std::string prompt = "Question: What does the cat like?\nAnswer:";
  const auto prompt_ids = tok.encode(prompt), answer_ids = tok.encode("the ball.");
  // Chain: the prompt's last token -> "the ball." -> EOS. The pieces must be distinct for the chain to be a map.
  std::map<int, int> next;
  int prev = prompt_ids.back();
  for (int id : answer_ids) {
    ASSERT_EQ(next.count(prev), 0u) << "token " << prev << " repeats; pick another answer";
    next[prev] = id;
    prev = id;
  }
  auto model = successor_model(next, tok.eos_id());

  wr::EvalOptions opt;
  opt.tasks = {"triviaqa"};
  opt.data_dir = dir;
  std::vector<nlohmann::json> samples;
  opt.on_sample = [&](const nlohmann::json& s) { samples.push_back(s); };
  auto results = wr::evaluate(model, tok, opt);
  ASSERT_EQ(results.size(), 1u);
  const auto& r = results[0];
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0]["generation"], "the ball.");  // stopped at the first stop string
  EXPECT_EQ(samples[0]["answer"], "the ball");
  EXPECT_EQ(samples[0]["exact_match"], true);        // "The Ball" up to case
  EXPECT_EQ(samples[1]["exact_match"], false);       // same prompt ending, same generation, other answer
  EXPECT_EQ(r.metrics[0].name, "exact_match");
  EXPECT_DOUBLE_EQ(r.metrics[0].value, 0.5);
  EXPECT_NEAR(r.metrics[0].stderr_, 0.5, 1e-12);  // sqrt(p(1-p)/(n-1)) with p = 0.5, n = 2
}

TEST(Groups, MmluMeansAreWeightedBySize) {
  const auto group = wr::load_task("mmlu");
  auto result = [](const std::string& name, double acc, int64_t n) {
    wr::TaskResult r;
    r.task.name = name;
    r.n_docs = n;
    r.metrics.push_back({"acc", acc, -1});
    r.metrics.push_back({"bpb", 2 * acc, 0.1});  // any value: it is averaged the same way
    return r;
  };
  auto out = wr::group_results(group, {result("mmlu_anatomy", 0.5, 2), result("mmlu_astronomy", 1.0 / 3, 3),
                                       result("mmlu_philosophy", 1.0, 4)}, wr::GroupMean::kWeightBySize);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].task.name, "mmlu_humanities");
  EXPECT_EQ(out[1].task.name, "mmlu_stem");
  EXPECT_EQ(out[2].task.name, "mmlu");
  EXPECT_NEAR(out[1].metrics[0].value, 2.0 / 5, 1e-12);  // (1 + 1) correct of 5, not the mean of 0.5 and 0.333
  EXPECT_EQ(out[1].n_docs, 5);
  EXPECT_NEAR(out[2].metrics[0].value, 6.0 / 9, 1e-12);
  EXPECT_NEAR(out[2].metrics[0].stderr_, std::sqrt((6.0 / 9) * (3.0 / 9) / 8), 1e-12);
  EXPECT_DOUBLE_EQ(out[0].metrics[0].value, 1.0);
  ASSERT_EQ(out[2].metrics.size(), 2u);
  EXPECT_EQ(out[2].metrics[1].name, "bpb");
  EXPECT_NEAR(out[2].metrics[1].value, 2 * 6.0 / 9, 1e-12);
  EXPECT_LT(out[2].metrics[1].stderr_, 0);  // not the subtasks' stderrs pooled: not computed
}

}  // namespace
