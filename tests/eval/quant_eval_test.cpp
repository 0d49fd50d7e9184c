// Simulated quantization in scoring and in wr-eval (--quant): the variants' scores do not depend on batching,
// threads or shared contexts and match a per-request forward pass through the variant; a scheme that is the
// identity on the weights leaves every log-likelihood as it was; the outputs name each scheme; bad options fail
// before the model loads; a CSV written before the quant column is appended to.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "common/file.h"
#include "eval/report.h"
#include "eval/score.h"
#include "model/io/native.h"
#include "model/quant.h"
#include "tests/eval/eval_fixtures.h"

namespace {

using wr::test::contains;
using wr::test::fixture_model;
using wr::test::fixture_tokenizer;

const wr::RuleSet kLmEval = wr::load_rules("lm-eval");

std::vector<std::vector<wr::TokenizedRequest>> sample_docs() {
  std::vector<std::vector<wr::Request>> raw = {
      {{"The cat likes", " the ball."}, {"The cat likes", " a red apple."}, {"The cat likes", " water."}},
      {{"Question: A dog sees\nAnswer:", " the question?"}, {"Question: A dog sees\nAnswer:", " an old map."}},
      {{"My friend paints", " the blue sky."}, {"Our neighbour paints", " the blue sky."}},
      {{"The river", " answers"}},
      {{"The cat sees", " water."}, {"The cat sees", " the ball."}, {"The cat sees", " water."}},
  };
  std::vector<std::vector<wr::TokenizedRequest>> docs;
  for (const auto& d : raw) {
    docs.emplace_back();
    for (const auto& r : d) docs.back().push_back(wr::tokenize_request(fixture_tokenizer(), r, true, kLmEval));
  }
  return docs;
}

// Every scheme of the fixture model, a8t calibrated on its own text.
std::vector<wr::ScoreVariant> all_variants(wr::Llama& m) {
  const auto windows = wr::calibration_windows(fixture_tokenizer(), "The cat likes the ball.\nA dog sees water.\n", true,
                                               m->config.max_seq_len);
  static wr::InputRanges ranges;
  ranges = wr::calibrate_input_ranges(m, windows);
  std::vector<wr::ScoreVariant> out;
  for (const auto& s : wr::parse_quant_list("w8,w4g128,w8a8,a8t,fp8"))
    for (bool head : {false, true})
      out.push_back({s.name + (head ? "+head" : ""), wr::quantized_copy(m, s.weights, head), wr::input_quantizer(s, head, &ranges)});
  return out;
}

// The request alone through the variant: (ctx + cont)[:-1] in one causal forward pass, its inputs rounded.
double naive_logprob(wr::ScoreVariant& v, const wr::TokenizedRequest& r) {
  torch::NoGradGuard ng;
  std::vector<int64_t> full = r.context;
  full.insert(full.end(), r.continuation.begin(), r.continuation.end());
  full.pop_back();
  wr::ForwardArgs args;
  if (v.linear_input) args.linear_input = &v.linear_input;
  const auto logp = torch::log_softmax(v.model->forward(torch::tensor(full).unsqueeze(0), args)[0], -1);
  double lp = 0;
  const int64_t start = static_cast<int64_t>(r.context.size()) - 1;
  for (size_t j = 0; j < r.continuation.size(); ++j) lp += logp[start + j][r.continuation[j]].item<double>();
  return lp;
}

struct ThreadsFor {
  explicit ThreadsFor(int n) : before(torch::get_num_threads()) { torch::set_num_threads(n); }
  ~ThreadsFor() { torch::set_num_threads(before); }
  int before;
};

// No scale spans tokens, so no variant's score depends on what else is in its batch.
TEST(QuantScore, VariantsAgreeAcrossBatchingThreadsSharingAndWithTheRequestAlone) {
  auto m = fixture_model();
  auto variants = all_variants(m);
  const auto docs = sample_docs();
  std::vector<std::vector<std::vector<wr::RequestScore>>> first;
  for (int threads : {1, 3}) {
    ThreadsFor t(threads);
    for (bool share : {true, false})
      for (int64_t budget : {1, 40, 4096}) {
        wr::ScoreOptions opt;
        opt.share = share;
        opt.batch_tokens = budget;
        auto s = wr::score_variants(m, variants, docs, opt);
        ASSERT_EQ(s.size(), 1 + variants.size());
        if (first.empty()) first = s;
        for (size_t v = 0; v < s.size(); ++v)
          for (size_t d = 0; d < docs.size(); ++d)
            for (size_t r = 0; r < docs[d].size(); ++r) {
              const std::string where = (v ? variants[v - 1].name : "none") + " doc " + std::to_string(d) + " req " +
                                        std::to_string(r) + " threads " + std::to_string(threads) + " share " +
                                        std::to_string(share) + " budget " + std::to_string(budget);
              EXPECT_NEAR(s[v][d][r].logprob, first[v][d][r].logprob, 1e-4) << where;
              EXPECT_NEAR(s[v][d][r].kl, first[v][d][r].kl, 1e-5) << where;
              EXPECT_EQ(s[v][d][r].top1_agree, first[v][d][r].top1_agree) << where;
              EXPECT_EQ(s[v][d][r].is_greedy, first[v][d][r].is_greedy) << where;
            }
      }
  }
  for (size_t v = 0; v < variants.size(); ++v)
    for (size_t d = 0; d < docs.size(); ++d)
      for (size_t r = 0; r < docs[d].size(); ++r) {
        EXPECT_NEAR(first[1 + v][d][r].logprob, naive_logprob(variants[v], docs[d][r]), 1e-4) << variants[v].name;
        EXPECT_GE(first[1 + v][d][r].kl, -1e-6);
      }
  // the schemes move the scores (w4g128 most), and the model's own row is score_requests'
  const auto alone = wr::score_requests(m, docs, {});
  double moved_w8 = 0, moved_w4 = 0;
  for (size_t d = 0; d < docs.size(); ++d)
    for (size_t r = 0; r < docs[d].size(); ++r) {
      EXPECT_NEAR(first[0][d][r].logprob, alone[d][r].logprob, 1e-4);
      moved_w8 += std::fabs(first[1][d][r].logprob - first[0][d][r].logprob);
      moved_w4 += std::fabs(first[3][d][r].logprob - first[0][d][r].logprob);
    }
  EXPECT_GT(moved_w8, 0);
  EXPECT_GT(moved_w4, moved_w8);
}

// Weights already on w8's grid: the variant's log-likelihoods are the model's, bit for bit, with KL 0 and every
// argmax agreeing.
TEST(QuantScore, IdentityOnTheGridLeavesEveryLogLikelihood) {
  torch::NoGradGuard ng;
  auto m = fixture_model();
  for (auto& lm : wr::layer_matrices(m)) lm.weight.set_data(wr::quantize_int8_rows(lm.weight));
  const auto docs = sample_docs();
  std::vector<wr::ScoreVariant> variants = {{"w8", wr::quantized_copy(m, wr::WeightQuant::kInt8Rows, false), {}}};
  for (bool share : {true, false}) {
    wr::ScoreOptions opt;
    opt.share = share;
    const auto s = wr::score_variants(m, variants, docs, opt);
    for (size_t d = 0; d < docs.size(); ++d)
      for (size_t r = 0; r < docs[d].size(); ++r) {
        EXPECT_EQ(s[1][d][r].logprob, s[0][d][r].logprob);
        EXPECT_EQ(s[1][d][r].kl, 0.0);
        EXPECT_EQ(s[1][d][r].top1_agree, static_cast<int64_t>(docs[d][r].continuation.size()));
      }
  }
}

struct Outcome {
  int code;
  std::string out, err;
};

// One thread (ctest runs two tests at once on two cores) unless `threads` is empty (compare takes no options).
Outcome wr_eval(const std::string& args, const std::string& dir, const std::string& threads = " --threads 1") {
  const int status = std::system(
      (std::string(WR_EVAL_BIN) + threads + " " + args + " > " + dir + "/stdout.txt 2> " + dir + "/stderr.txt").c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, wr::read_file(dir + "/stdout.txt"),
          wr::read_file(dir + "/stderr.txt")};
}

// The fixture model as a checkpoint, and mmlu_anatomy's file with a few questions.
std::string fixture_run(const std::string& dir) {
  const std::string path = dir + "/ckpt.pt";
  auto m = fixture_model();
  wr::save_native(path, m, {{"step", 3}}, fixture_tokenizer().model_bytes());
  std::filesystem::create_directories(dir + "/data/mmlu");
  std::ofstream out(dir + "/data/mmlu/anatomy.jsonl");
  const char* words[] = {"bone", "river", "apple", "teacher", "blue", "map", "water"};
  for (int i = 0; i < 30; ++i)
    out << "{\"question\": \"Which " << words[i % 7] << " is " << words[(i / 7) % 7] << "?\", \"subject\": \"anatomy\", "
        << "\"choices\": [\"" << words[i % 5] << "\", \"" << words[(i + 1) % 7] << "\", \"the " << words[(i + 2) % 7]
        << "\", \"" << i << "\"], \"answer\": " << i % 4 << "}\n";
  std::ofstream(dir + "/calibration.txt") << "The cat likes the ball.\nA dog sees water.\nMy friend paints the sky.\n";
  return "--tasks mmlu_anatomy --offline --data-dir " + dir + "/data " + path;
}

TEST(QuantCli, OneRunScoresEachSchemeAndTheOutputsNameIt) {
  const std::string dir = wr::test::temp_dir();
  const std::string run = fixture_run(dir);
  auto r = wr_eval(run + " --quant w8,a8t,fp8 --quant-calibration " + dir + "/calibration.txt --output " + dir +
                       "/r.csv --json " + dir + "/r.json --log-samples " + dir + "/s.jsonl",
                   dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "mmlu_anatomy [a8t]")) << r.out;
  EXPECT_TRUE(contains(r.out, "exact McNemar")) << r.out;
  EXPECT_TRUE(contains(r.err, "--quant w8,a8t,fp8")) << r.err;
  const auto rows = wr::parse_csv(wr::read_file(dir + "/r.csv"), "r.csv");
  ASSERT_EQ(rows[0].text, wr::kCsvHeader);
  std::map<std::string, std::set<std::string>> metrics_of;  // quant -> metrics
  for (size_t i = 1; i < rows.size(); ++i) metrics_of[rows[i].fields[14]].insert(rows[i].fields[5]);  // quant, metric
  EXPECT_EQ(metrics_of.size(), 4u);
  EXPECT_TRUE(metrics_of["none"].count("acc") && !metrics_of["none"].count("kl"));
  for (const char* q : {"w8", "a8t", "fp8"})
    for (const char* m : {"acc", "bpb", "kl", "top1_agree", "acc_delta", "acc_delta_p", "bpb_delta", "bpb_delta_p"})
      EXPECT_TRUE(metrics_of[q].count(m)) << q << " " << m;
  const auto json = nlohmann::json::parse(wr::read_file(dir + "/r.json"));
  EXPECT_TRUE(json["results"]["mmlu_anatomy"].contains("acc,none"));
  EXPECT_EQ(json["config"]["quant"]["schemes"], nlohmann::json({"w8", "a8t", "fp8"}));
  EXPECT_EQ(json["config"]["quant"]["scope"], "decoder");
  EXPECT_TRUE(json["config"]["quant"]["calibration"]["file"].is_string());
  const auto& fp8 = json["quant"]["results"]["fp8"]["mmlu_anatomy"];
  EXPECT_TRUE(fp8.contains("kl,none") && fp8["paired"].contains("acc") && fp8["paired"]["bpb"].contains("p")) << fp8.dump();
  std::map<std::string, int> lines_of;
  std::ifstream in(dir + "/s.jsonl");
  for (std::string line; std::getline(in, line);) {
    const auto s = nlohmann::json::parse(line);
    lines_of[s["quant"].get<std::string>()] += 1;
    EXPECT_EQ(s.contains("kl"), s["quant"] != "none");
  }
  EXPECT_EQ(lines_of, (std::map<std::string, int>{{"none", 120}, {"w8", 120}, {"a8t", 120}, {"fp8", 120}}));
  // compare tells the schemes' columns apart, and pairs each scheme's samples with the same scheme's
  std::filesystem::copy_file(dir + "/s.jsonl", dir + "/t.jsonl");
  auto c = wr_eval("compare " + dir + "/r.csv --samples " + dir + "/s.jsonl," + dir + "/t.jsonl", dir, "");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_TRUE(contains(c.out, "quant=fp8")) << c.out;
  EXPECT_TRUE(contains(c.out, "each scheme minus its own run's unquantized score")) << c.out;
  EXPECT_TRUE(contains(c.out, "mmlu_anatomy [quant fp8]")) << c.out;
}

TEST(QuantCli, BadOptionsFailBeforeTheModelLoads) {
  const std::string dir = wr::test::temp_dir();
  const std::string run = fixture_run(dir);
  auto expect = [&](const std::string& args, const std::string& message) {
    auto r = wr_eval(run + " " + args, dir);
    EXPECT_EQ(r.code, 1) << args;
    EXPECT_TRUE(contains(r.err, message)) << args << ": " << r.err;
  };
  expect("--quant w4", "unknown scheme 'w4' (did you mean w8?)");
  expect("--quant a8t", "--quant a8t needs --quant-calibration FILE");
  expect("--quant a8t --quant-calibration " + dir + "/none.txt", "no such file");
  expect("--quant w8 --quant-calibration " + dir + "/calibration.txt", "applies to --quant a8t only");
  expect("--quant-scope all", "apply to --quant only");
  expect("--quant w8 --quant-scope some", "--quant-scope");
  expect("--quant w8 --dtype bf16", "float32");
  auto generative = wr_eval("--tasks triviaqa --offline --data-dir " + dir + "/data --quant w8 " + dir + "/ckpt.pt", dir);
  EXPECT_TRUE(contains(generative.err, "triviaqa is generative")) << generative.err;
}

// A CSV written before the quant column is appended to: its rows come back with quant "none".
TEST(QuantCli, CsvWithTheHeaderBeforeTheQuantColumnIsAppendedTo) {
  const std::string dir = wr::test::temp_dir();
  const std::string run = fixture_run(dir);
  const std::string old_header =
      "run,checkpoint,checkpoint_sha256,step,task,metric,value,stderr,n,num_fewshot,bos,rules,wr_version,date";
  const std::string old_row = "old,ckpt.pt,,3,arc_easy,acc,0.25,0.01,100,0,on,\"lm-eval sha\",v,2024-01-01T00:00:00Z";
  wr::write_file_atomic(dir + "/r.csv", old_header + "\n" + old_row + "\n");
  auto r = wr_eval(run + " --quant w8 --output " + dir + "/r.csv", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto rows = wr::parse_csv(wr::read_file(dir + "/r.csv"), "r.csv");
  EXPECT_EQ(rows[0].text, wr::kCsvHeader);
  EXPECT_EQ(rows[1].text, old_row + ",none,,");  // and the tokens and subset columns, unknown
  for (const auto& row : rows) EXPECT_EQ(row.fields.size(), rows[0].fields.size()) << row.text;
  // a training run's eval.csv of the old header keeps its rows through a step, now with the column
  wr::write_file_atomic(dir + "/eval.csv", old_header + "\n" + old_row + "\n" + old_row.substr(0, 13) + "9" + old_row.substr(14) + "\n");
  wr::keep_csv_rows_through_step(dir + "/eval.csv", 5);
  EXPECT_EQ(wr::read_file(dir + "/eval.csv"), std::string(wr::kCsvHeader) + "\n" + old_row + ",none,,\n");
}

}  // namespace
