// wr-train's outlier telemetry (model/outliers.h) and eval.quant's paired rows (model/quant.h): what a run logs
// at its last step is what the statistics give on the checkpoint it saved there, and each scheme scores the tasks
// beside the model, with a8t calibrated on the validation split.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/file.h"
#include "eval/report.h"
#include "model/io/native.h"
#include "model/outliers.h"
#include "tests/eval/eval_fixtures.h"
#include "tests/test_util.h"
#include "tests/trainer/train_fixtures.h"
#include "trainer/synth.h"
#include "trainer/train.h"

namespace {

using wr::test::contains;
using wr::test::error_of;
using wr::test::quiet_options;
using wr::test::tiny_config;
constexpr auto series = wr::test::telemetry_series;

// Telemetry's CSV holds 9 significant digits.
void expect_logged(double logged, double expected, const std::string& what) {
  if (std::isnan(expected)) EXPECT_TRUE(std::isnan(logged)) << what;
  else EXPECT_NEAR(logged, expected, 1e-7 * std::max(1.0, std::fabs(expected))) << what;
}

TEST(OutlierTelemetry, LastStepsRowsAreTheStatisticsOfTheSavedCheckpoint) {
  const std::string dir = wr::test::temp_dir(), probe = "the red ball sees a map.";
  const auto s = wr::train(tiny_config(dir + "/r", {"schedule.steps=4", "log.probe_text=" + probe}), quiet_options());
  auto loaded = wr::load_native(s.checkpoint);
  loaded.model->eval();
  const auto& tok = wr::test::fixture_tokenizer();
  std::vector<int64_t> ids = {tok.bos_id()};
  for (int id : tok.encode(probe)) ids.push_back(id);
  const auto acts = wr::activation_outliers(loaded.model, {torch::tensor(ids, torch::kInt64)});
  ASSERT_EQ(acts.layers.size(), 2u);
  for (size_t l = 0; l < 2; ++l) {
    const std::string name = "layer." + std::to_string(l + 1);
    ASSERT_EQ(series(dir + "/r", name, "kurtosis").size(), 2u) << name;  // steps 2 and 4
    expect_logged(series(dir + "/r", name, "kurtosis").at(4), acts.layers[l].kurtosis, name + " kurtosis");
    expect_logged(series(dir + "/r", name, "act_max").at(4), acts.layers[l].max_abs, name + " act_max");
    expect_logged(series(dir + "/r", name, "massive").at(4), static_cast<double>(acts.layers[l].massive_count),
                  name + " massive");
  }
  for (const auto& in : acts.inputs) {
    const std::string name = in.layer > 0 ? "layer." + std::to_string(in.layer) : "lm_head";
    const std::string stat = std::string(wr::linear_input_key(in.which)) + "_input_ratio";
    expect_logged(series(dir + "/r", name, stat).at(4), in.ratio, name + " " + stat);
  }
  const auto weights = wr::weight_outliers(loaded.model);
  ASSERT_EQ(weights.size(), 2u * 7 + 2);
  for (const auto& w : weights) {
    expect_logged(series(dir + "/r", w.name, "kurtosis").at(4), w.kurtosis, w.name + " kurtosis");
    expect_logged(series(dir + "/r", w.name, "max_over_std").at(4), w.max_over_std, w.name + " max_over_std");
  }
}

// eval.csv's rows as "step,task,metric,quant" -> value.
std::map<std::string, double> eval_rows(const std::string& run_dir) {
  const std::string path = run_dir + "/eval.csv";
  const auto rows = wr::parse_csv(wr::read_file(path), path);
  const auto& header = rows.at(0).fields;
  std::map<std::string, double> out;
  for (size_t r = 1; r < rows.size(); ++r) {
    std::map<std::string, std::string> f;
    for (size_t c = 0; c < header.size(); ++c) f[header[c]] = rows[r].fields.at(c);
    out[f["step"] + "," + f["task"] + "," + f["metric"] + "," + f["quant"]] = std::stod(f["value"]);
  }
  return out;
}

TEST(OutlierTelemetry, EvalQuantScoresEachSchemeBesideTheModel) {
  const std::string dir = wr::test::temp_dir();
  wr::SynthOptions so;
  so.documents = 10;
  wr::write_synth(dir + "/synth", so);
  const std::vector<std::string> eval = {"eval.interval=4", "eval.val_batches=2", "eval.tasks=[\"synth_facts\"]",
                                         "eval.sample=8", "eval.data_dir=" + dir + "/synth"};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), eval.begin(), eval.end());
    more.push_back("schedule.steps=4");
    return more;
  };
  wr::train(tiny_config(dir + "/r", with({"eval.quant=[\"w8\",\"a8t\",\"w4g128\"]"})), quiet_options());
  const auto rows = eval_rows(dir + "/r");
  for (const char* quant : {"none", "w8", "a8t", "w4g128"})
    EXPECT_EQ(rows.count(std::string("4,synth_facts,acc_norm,") + quant), 1u) << quant;
  // each scheme's divergence from the model: near 0 for int8 (float32 log-softmax leaves it within 1e-6 of 0,
  // either side), an order of magnitude more for int4 (this barely trained model's outputs are near uniform, so
  // both are small: 2.6e-9 and 5.4e-7 when written)
  const double kl_w8 = rows.at("4,synth_facts,kl,w8"), kl_w4 = rows.at("4,synth_facts,kl,w4g128");
  EXPECT_GE(kl_w8, -1e-6);
  EXPECT_GT(kl_w4, 10 * std::fabs(kl_w8));
  EXPECT_GT(rows.at("4,synth_facts,kl,a8t"), -1e-6);
  // telemetry: the scheme's metrics (eval.csv holds 6 significant digits, telemetry 9) and its difference from the
  // model's
  EXPECT_NEAR(series(dir + "/r", "eval.synth_facts.w8", "kl").at(4), kl_w8, 1e-5 * std::fabs(kl_w8));
  EXPECT_EQ(series(dir + "/r", "eval.synth_facts.w4g128", "bpb_delta").size(), 1u);

  auto e = error_of([&] { wr::train(tiny_config(dir + "/x", with({"eval.quant=[\"w9\"]"})), quiet_options()); });
  EXPECT_TRUE(contains(e, "eval.quant") && contains(e, "did you mean w8")) << e;
  e = error_of([&] { wr::train(tiny_config(dir + "/y", with({"eval.quant=[\"a8t\"]", "eval.val_batches=0"})), quiet_options()); });
  EXPECT_TRUE(contains(e, "eval.quant a8t") && contains(e, "validation split")) << e;
}

}  // namespace
