// wr-train: config checks, the schedule, and the training loop end to end on a tiny model: bitwise resume,
// TVR in the loop, non-finite losses, stop requests (in-process and by SIGTERM), periodic evaluation.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "common/file.h"
#include "common/lock.h"
#include "model/io/native.h"
#include "model/tokenizer/tokenizer.h"
#include "model/variance.h"
#include "tests/eval/eval_fixtures.h"
#include "tests/lock_util.h"
#include "tests/test_util.h"
#include "tests/trainer/train_fixtures.h"
#include "trainer/distributed.h"
#include "trainer/synth.h"
#include "trainer/tokenize_corpus.h"
#include "trainer/train.h"
#include "trainer/train_config.h"
#include "trainer/tvr_schedule.h"

namespace {

using wr::test::contains;
using wr::test::error_of;
using wr::test::fixture_shards;
using wr::test::quiet_options;
using wr::test::tiny_config;

// The telemetry rows name,stat as {step: value}.
constexpr auto series = wr::test::telemetry_series;

TEST(TrainConfig, UnknownKeysAreRejectedByName) {
  const std::string dir = wr::test::temp_dir();
  auto e = error_of([&] { tiny_config(dir + "/r", {"optimizer.lrr=1e-3"}); });
  EXPECT_TRUE(contains(e, "'optimizer.lrr'") && contains(e, "did you mean 'optimizer.lr'")) << e;
  e = error_of([&] { tiny_config(dir + "/r", {"model.dimm=3"}); });
  EXPECT_TRUE(contains(e, "dimm")) << e;
  e = error_of([&] { tiny_config(dir + "/r", {"optimizer.lr"}); });
  EXPECT_TRUE(contains(e, "key=value")) << e;
  e = error_of([&] { tiny_config(dir + "/r", {"optimizer.lr=\"fast\""}); });
  EXPECT_TRUE(contains(e, "optimizer.lr") && contains(e, "wrong type")) << e;
}

TEST(TrainConfig, OverridesApply) {
  const std::string dir = wr::test::temp_dir();
  wr::TrainConfig c;
  auto j = tiny_config(dir + "/r", {"optimizer.lr=0.5", "model.dim=64", "run.name=abc", "eval.tasks=[\"arc_easy\"]"});
  c = wr::train_config_from_json(j, "test");
  EXPECT_EQ(c.lr, 0.5);
  EXPECT_EQ(c.model.dim, 64);
  EXPECT_EQ(c.model.n_layers, 2);  // the rest of the model object is kept
  EXPECT_EQ(c.run_name, "abc");
  EXPECT_EQ(c.eval_tasks, std::vector<std::string>{"arc_easy"});
}

// A task named twice would be scored twice; a nesting bomb in a value is a named error, not a crash or a 200 MB
// config.json; an empty run.dir is named.
TEST(TrainConfig, RepeatedTasksDeepValuesAndEmptyRunDirAreNamed) {
  const std::string dir = wr::test::temp_dir();
  auto e = error_of([&] { tiny_config(dir + "/r", {"eval.tasks=[\"arc_easy\",\"piqa\",\"arc_easy\"]"}); });
  EXPECT_TRUE(contains(e, "eval: tasks names arc_easy twice")) << e;
  const std::string deep = std::string(30000, '[') + std::string(30000, ']');
  e = error_of([&] { tiny_config(dir + "/r", {"optimizer.lr=" + deep}); });
  EXPECT_TRUE(contains(e, "'optimizer.lr' has the wrong type")) << e.substr(0, 200);
  wr::write_file_atomic(dir + "/deep.json", "{\"run\": " + deep + "}");
  wr::TrainConfig c;
  e = error_of([&] { wr::resolve_train_config(dir + "/deep.json", {}, &c); });
  EXPECT_TRUE(contains(e, dir + "/deep.json: not valid JSON") && contains(e, "nested deeper than 128 levels")) << e;
  e = error_of([&] { tiny_config(dir + "/r", {"run.dir="}); });
  EXPECT_TRUE(contains(e, "run.dir must name a directory")) << e;
}

TEST(TrainConfig, ShippedConfigsResolve) {
  for (const char* name : {"quickstart", "cpu-25m", "study", "llama-1b-baseline", "llama-1b-lir-tvr"}) {
    wr::TrainConfig c;
    const std::string path = std::string(WR_SOURCE_DIR) + "/configs/train/" + name + ".json";
    EXPECT_EQ(error_of([&] { wr::resolve_train_config(path, {"run.device=cpu", "run.dtype=f32"}, &c); }), "") << name;
  }
  wr::TrainConfig base, lir;
  auto base_json = wr::resolve_train_config(std::string(WR_SOURCE_DIR) + "/configs/train/llama-1b-baseline.json", {"run.device=cpu", "run.dtype=f32"}, &base);
  auto lir_json = wr::resolve_train_config(std::string(WR_SOURCE_DIR) + "/configs/train/llama-1b-lir-tvr.json", {"run.device=cpu", "run.dtype=f32"}, &lir);
  // both include configs/train/base/llama-1b.json and differ in init and TVR only (and their name and comment)
  for (auto* j : {&base_json, &lir_json}) {
    for (const char* key : {"init", "tvr", "comment"}) j->erase(key);
    (*j)["run"].erase("dir");
  }
  EXPECT_EQ(base_json, lir_json);
  // The paper's two runs: 2048 x 4032 tokens a step, 100B tokens, 1B warmup tokens; they differ in init and TVR only.
  EXPECT_EQ(base.tokens_per_step(), 2048 * 4032);
  EXPECT_NEAR(static_cast<double>(base.steps * base.tokens_per_step()), 100e9, 0.01 * 100e9);
  EXPECT_NEAR(static_cast<double>(base.warmup_steps * base.tokens_per_step()), 1e9, 0.01 * 1e9);
  EXPECT_EQ(base.init.std, 0.02);
  EXPECT_EQ(base.init.scheme, wr::InitScheme::normal);
  EXPECT_FALSE(base.tvr_enabled);
  EXPECT_EQ(lir.init.std, 0.006);
  EXPECT_EQ(lir.init.scheme, wr::InitScheme::lir);
  EXPECT_TRUE(lir.tvr_enabled);
  // both evaluate as the paper's table was (most likely) made: lighteval's SmolLM suite
  EXPECT_EQ(base.eval_rules, "lighteval");
  EXPECT_EQ(lir.eval_rules, "lighteval");
  EXPECT_EQ(lir.tvr.target, 0.01);
  EXPECT_EQ(base.eps, 1e-7);
  EXPECT_EQ(base.beta2, 0.95);
  EXPECT_EQ(base.weight_decay, 0.1);
  EXPECT_EQ(base.lr, 6e-4);
  EXPECT_EQ(base.min_lr, 6e-5);
}

// One set of defaults: what bench-train takes (default_train_config) is what a config stating only its model and
// data resolves to, and both are the paper's LIR + TVR setting with its AdamW (the struct once said normal 0.02).
TEST(TrainConfig, OneSetOfDefaults) {
  const std::string dir = wr::test::temp_dir();
  wr::ModelConfig model;
  model.dim = 64, model.n_layers = 2, model.n_heads = 4, model.n_kv_heads = 4, model.ffn_dim = 96, model.vocab_size = 300;
  wr::write_file_atomic(dir + "/c.json",
                        nlohmann::json{{"model", wr::config_to_json(model)}, {"data", {{"dir", dir}}}}.dump());
  wr::TrainConfig resolved;
  wr::resolve_train_config(dir + "/c.json", {}, &resolved);
  for (const wr::TrainConfig& c : {resolved, wr::default_train_config(model)}) {
    EXPECT_EQ(c.init.scheme, wr::InitScheme::lir);
    EXPECT_EQ(c.init.std, 0.006);
    EXPECT_TRUE(c.tvr_enabled);
    EXPECT_EQ(c.tvr.target, 0.01);
    EXPECT_EQ(c.data_mode, wr::DataMode::random);
    EXPECT_EQ(c.dtype, wr::TrainDtype::f32);
    EXPECT_EQ(c.lr, 6e-4);
    EXPECT_EQ(c.beta2, 0.95);
    EXPECT_EQ(c.eps, 1e-7);
    EXPECT_EQ(c.weight_decay, 0.1);
    EXPECT_EQ(c.grad_clip, 1.0);
    EXPECT_EQ(c.model.dim, 64);
  }
}

// tvr.interval_tokens states the interval in the paper's unit; the run uses the nearest whole number of steps.
// Every key is described once, in one table: each has a default and a help line, the defaults JSON holds exactly
// the table's keys with the table's values, and the typed defaults read from that JSON are the table's values.
TEST(TrainConfig, OneTableOfKeys) {
  const auto keys = wr::train_config_keys();
  const nlohmann::json& d = wr::train_config_defaults();
  size_t leaves = 0;
  const nlohmann::json flat = d.flatten();  // an empty list or object is one leaf
  for (const auto& item : flat.items()) leaves += item.key() != "/model";  // counted below
  EXPECT_EQ(leaves + 1, keys.size());
  for (const auto& k : keys) {
    EXPECT_FALSE(k.help.empty()) << k.name;
    std::string pointer = "/" + k.name;
    std::replace(pointer.begin(), pointer.end(), '.', '/');
    ASSERT_TRUE(d.contains(nlohmann::json::json_pointer(pointer))) << k.name;
    EXPECT_EQ(d.at(nlohmann::json::json_pointer(pointer)), nlohmann::json::parse(k.default_value)) << k.name;
  }
  wr::ModelConfig model;
  const wr::TrainConfig c = wr::default_train_config(model);
  EXPECT_EQ(c.lr, d["optimizer"]["lr"].get<double>());
  EXPECT_EQ(c.init.std, d["init"]["std"].get<double>());
  EXPECT_EQ(c.steps, d["schedule"]["steps"].get<int64_t>());
  EXPECT_EQ(c.eval_seed, d["eval"]["seed"].get<uint64_t>());
  EXPECT_EQ(c.tensorboard, d["log"]["tensorboard"].get<bool>());
  EXPECT_EQ(c.eval_rules, d["eval"]["rules"].get<std::string>());
  // the printed table names every key but the free-text comment, and marks a changed value with its default
  nlohmann::json changed = d;
  changed["optimizer"]["lr"] = 0.5;
  const std::string table = wr::describe_train_config(changed);
  for (const auto& k : keys)
    if (k.name != "comment") {
      EXPECT_TRUE(contains(table, k.name + " ")) << k.name;
    }
  EXPECT_TRUE(contains(table, "(default 0.0006)")) << table;
}

// `"include": "base.json"`: the base (found relative to the including file, with a model file found relative to
// the base) comes first, the file's values over it, the command line over both; a cycle or a missing base is named.
TEST(TrainConfig, IncludeOverridesABaseAndRefusesCycles) {
  const std::string dir = wr::test::temp_dir();
  std::filesystem::create_directories(dir + "/sub/models");
  wr::ModelConfig model;
  model.dim = 64, model.n_layers = 2, model.n_heads = 4, model.n_kv_heads = 4, model.ffn_dim = 96, model.vocab_size = 300;
  wr::write_file_atomic(dir + "/sub/models/m.json", wr::config_to_json(model).dump());
  wr::write_file_atomic(dir + "/sub/base.json", R"({"model": "models/m.json", "data": {"dir": "shards"},
      "optimizer": {"lr": 0.1, "min_lr": 0.01}, "schedule": {"steps": 50, "warmup_steps": 5}, "log": {"interval": 7}})");
  wr::write_file_atomic(dir + "/c.json", R"({"include": "sub/base.json", "optimizer": {"lr": 0.2},
      "schedule": {"steps": 60}})");
  wr::TrainConfig c;
  auto j = wr::resolve_train_config(dir + "/c.json", {"schedule.steps=70"}, &c);
  EXPECT_EQ(c.lr, 0.2);             // the file over the base
  EXPECT_EQ(c.min_lr, 0.01);        // the base's value where the file says nothing
  EXPECT_EQ(c.warmup_steps, 5);
  EXPECT_EQ(c.steps, 70);           // the command line over both
  EXPECT_EQ(c.log_interval, 7);
  EXPECT_EQ(c.model.dim, 64);       // models/m.json relative to sub/base.json
  EXPECT_FALSE(j.contains("include"));
  // a chain: c2 -> c.json -> sub/base.json
  wr::write_file_atomic(dir + "/sub/c2.json", R"({"include": "../c.json", "log": {"interval": 3}})");
  wr::resolve_train_config(dir + "/sub/c2.json", {}, &c);
  EXPECT_EQ(c.steps, 60);
  EXPECT_EQ(c.log_interval, 3);
  // a cycle, and a base that is not there, are errors naming the files
  wr::write_file_atomic(dir + "/a.json", R"({"include": "b.json"})");
  wr::write_file_atomic(dir + "/b.json", R"({"include": "a.json"})");
  auto e = error_of([&] { wr::resolve_train_config(dir + "/a.json", {}, &c); });
  EXPECT_TRUE(contains(e, "include cycle") && contains(e, "a.json") && contains(e, "b.json")) << e;
  wr::write_file_atomic(dir + "/self.json", R"({"include": "self.json"})");
  e = error_of([&] { wr::resolve_train_config(dir + "/self.json", {}, &c); });
  EXPECT_TRUE(contains(e, "include cycle")) << e;
  wr::write_file_atomic(dir + "/missing.json", R"({"include": "nowhere.json"})");
  e = error_of([&] { wr::resolve_train_config(dir + "/missing.json", {}, &c); });
  EXPECT_TRUE(contains(e, "missing.json: include 'nowhere.json' not found")) << e;
  // keys in a base are checked as in any config
  wr::write_file_atomic(dir + "/sub/bad.json", R"({"optimizer": {"lrr": 1}})");
  wr::write_file_atomic(dir + "/d.json", R"({"include": "sub/bad.json"})");
  e = error_of([&] { wr::resolve_train_config(dir + "/d.json", {}, &c); });
  EXPECT_TRUE(contains(e, "unknown key 'optimizer.lrr'")) << e;
}

TEST(TrainConfig, TvrIntervalInTokens) {
  const std::string dir = wr::test::temp_dir();
  wr::TrainConfig c;
  tiny_config(dir + "/r");  // 32 x 4 x 2 = 256 tokens a step
  wr::resolve_train_config(dir + "/r.json", {"tvr.interval_tokens=1000"}, &c);
  EXPECT_EQ(c.tvr_interval, 4);  // 3.9 steps
  wr::resolve_train_config(dir + "/r.json", {"tvr.interval_tokens=10"}, &c);
  EXPECT_EQ(c.tvr_interval, 1);
  wr::resolve_train_config(std::string(WR_SOURCE_DIR) + "/configs/train/llama-1b-lir-tvr.json", {}, &c);
  EXPECT_EQ(c.tokens_per_step(), 2048 * 4032);
  EXPECT_EQ(c.tvr_interval, 121);  // 1 GT / 8.26 MT
}

// A rescale that falls on a skipped (non-finite) step happens at the next finite step, not an interval later.
TEST(TvrSchedule, ARescaleDueOnASkippedStepWaitsForTheNextFiniteOne) {
  wr::TvrSchedule s(4);
  std::vector<int64_t> rescaled;
  const std::set<int64_t> non_finite = {4, 5, 11};
  for (int64_t step = 1; step <= 12; ++step)
    if (s.rescale_after(step, !non_finite.count(step))) rescaled.push_back(step);
  EXPECT_EQ(rescaled, (std::vector<int64_t>{6, 8, 12}));
  wr::TvrSchedule pending(4);
  pending.rescale_after(4, false);
  EXPECT_TRUE(pending.pending());  // saved in the checkpoint, so a resumed run still owes the rescale
  wr::TvrSchedule resumed(4, pending.pending());
  EXPECT_TRUE(resumed.rescale_after(5, true));
}

TEST(Schedule, WarmupThenCosine) {
  wr::TrainConfig c;
  c.lr = 1.0;
  c.min_lr = 0.1;
  c.steps = 110;
  c.warmup_steps = 10;
  EXPECT_DOUBLE_EQ(wr::lr_at(c, 0), 0.1);
  EXPECT_DOUBLE_EQ(wr::lr_at(c, 4), 0.5);
  EXPECT_DOUBLE_EQ(wr::lr_at(c, 10), 1.0);
  EXPECT_NEAR(wr::lr_at(c, 60), 0.55, 1e-12);  // halfway through the decay: the mean of lr and min_lr
  EXPECT_NEAR(wr::lr_at(c, 110), 0.1, 1e-12);
  EXPECT_NEAR(wr::lr_at(c, 500), 0.1, 1e-12);
}

TEST(Train, ResumedRunIsBitwiseTheSame) {
  const std::string dir = wr::test::temp_dir();
  auto straight = wr::train(tiny_config(dir + "/straight"), quiet_options());
  EXPECT_EQ(straight.step, 12);

  // Stop after step 5 (a request, as SIGINT makes), then resume to the end.
  wr::TrainOptions stop_at_5 = quiet_options();
  stop_at_5.log = [](const std::string& line) {
    if (line.rfind("step      5/", 0) == 0) wr::request_stop();
  };
  auto first = wr::train(tiny_config(dir + "/resumed"), stop_at_5);
  EXPECT_TRUE(first.interrupted);
  EXPECT_EQ(first.step, 5);
  wr::TrainOptions resume = quiet_options();
  resume.resume = true;
  auto second = wr::train(tiny_config(dir + "/resumed"), resume);
  EXPECT_EQ(second.step, 12);

  auto a = series(dir + "/straight", "train", "loss"), b = series(dir + "/resumed", "train", "loss");
  ASSERT_EQ(a.size(), 12u);
  ASSERT_EQ(b.size(), 12u);  // the resumed run's telemetry reads as one run
  for (auto& [step, loss] : a) EXPECT_EQ(loss, b[step]) << "step " << step;
  auto wa = wr::load_native(straight.checkpoint), wb = wr::load_native(second.checkpoint);
  auto sa = wr::state_dict(wa.model), sb = wr::state_dict(wb.model);
  for (size_t i = 0; i < sa.size(); ++i) EXPECT_TRUE(torch::equal(sa[i].second, sb[i].second)) << sa[i].first;
  EXPECT_EQ(wa.meta["step"], 12);
  EXPECT_EQ(wa.meta["tokens"], 12 * 32 * 4 * 2);
  EXPECT_EQ(wa.tokenizer_model, wr::test::fixture_tokenizer().model_bytes());
}

TEST(Train, TvrRescalesEveryIntervalAndLogsWhatItSaw) {
  const std::string dir = wr::test::temp_dir();
  auto s = wr::train(tiny_config(dir + "/r", {"schedule.steps=8"}), quiet_options());
  // TVR ran at steps 4 and 8, not at 0: the checkpoint's matrices sit exactly at the target.
  auto loaded = wr::load_native(s.checkpoint);
  for (const auto& m : wr::layer_matrices(loaded.model)) {
    EXPECT_NEAR(m.weight.std().item<double>(), 0.01, 1e-6) << m.name;
  }
  const std::string q = "model.layers.0.self_attn.q_proj.weight";
  auto rescaled = series(dir + "/r", q, "rescaled"), ratio = series(dir + "/r", q, "std_over_target");
  EXPECT_EQ(rescaled.count(0), 0u);
  EXPECT_EQ(rescaled.at(4), 1);
  EXPECT_EQ(rescaled.at(8), 1);
  EXPECT_EQ(rescaled.at(2), 0);  // telemetry-only steps never rescale
  EXPECT_GT(ratio.at(4), 1.0);    // logged before rescaling (LIR std 0.02 > target 0.01)
  // Embeddings are logged, never rescaled.
  EXPECT_GT(series(dir + "/r", "model.embed_tokens.weight", "std").at(8), 0.015);
  // Activation telemetry: one max and median per layer, max >= median.
  auto mx = series(dir + "/r", "layer.2", "act_max"), md = series(dir + "/r", "layer.2", "act_median");
  ASSERT_EQ(mx.size(), 4u);
  EXPECT_GE(mx.at(2), md.at(2));
  // RMSNorm gains, each layer's two and the final one: logged (they start at 1 and train), never rescaled.
  for (const char* norm : {"model.layers.0.input_layernorm.weight", "model.layers.1.post_attention_layernorm.weight",
                           "model.norm.weight"}) {
    const auto mean = series(dir + "/r", norm, "mean"), std = series(dir + "/r", norm, "std");
    ASSERT_EQ(mean.size(), 4u) << norm;  // steps 2, 4, 6, 8
    EXPECT_NEAR(mean.at(2), 1.0, 0.2) << norm;
    EXPECT_GT(std.at(8), 0.0) << norm;
    EXPECT_TRUE(series(dir + "/r", norm, "rescaled").empty()) << norm;
  }
}

// The activation probe in the authors' style: one fixed sentence after BOS instead of a validation window.
TEST(Train, ActivationProbeCanBeAFixedSentence) {
  const std::string dir = wr::test::temp_dir();
  wr::train(tiny_config(dir + "/window", {"schedule.steps=4"}), quiet_options());
  wr::train(tiny_config(dir + "/sentence", {"schedule.steps=4", "log.probe_text=the red ball sees a map."}), quiet_options());
  // The median, not the max: both inputs start with BOS, whose position (which sees only itself) holds the max.
  const auto window = series(dir + "/window", "layer.1", "act_median"), sentence = series(dir + "/sentence", "layer.1", "act_median");
  ASSERT_EQ(sentence.size(), 2u);
  EXPECT_NE(window.at(4), sentence.at(4));  // same weights (same seed and data), another input
  EXPECT_EQ(series(dir + "/window", "train", "loss"), series(dir + "/sentence", "train", "loss"));
  const auto long_text = std::vector<std::string>(200, "the red ball");
  std::string text;
  for (const auto& w : long_text) text += w + " ";
  const auto e = error_of([&] { wr::train(tiny_config(dir + "/long", {"log.probe_text=" + text}), quiet_options()); });
  EXPECT_TRUE(contains(e, "log.probe_text is")) << e;
}

TEST(Train, NonFiniteLossesSkipThenStopWithTheLastCheckpointIntact) {
  const std::string dir = wr::test::temp_dir();
  // lr 1e30: the first update throws every weight to +-1e30, so every later loss is inf or NaN.
  auto cfg = tiny_config(dir + "/r", {"optimizer.lr=1e30", "optimizer.min_lr=1e30", "schedule.warmup_steps=0",
                                      "checkpoint.interval=1", "run.max_bad_steps=3", "tvr.enabled=false"});
  auto e = error_of([&] { wr::train(cfg, quiet_options()); });
  EXPECT_TRUE(contains(e, "3 non-finite losses in a row at step 4")) << e;
  EXPECT_TRUE(contains(e, "ckpt_00000003.pt")) << e;
  auto skipped = series(dir + "/r", "train", "skipped");
  EXPECT_EQ(skipped.size(), 3u);
  EXPECT_EQ(skipped.count(2) + skipped.count(3) + skipped.count(4), 3u);
  auto loaded = wr::load_native(dir + "/r/ckpt_00000003.pt");  // written after a skipped step: still loadable
  EXPECT_EQ(loaded.meta["step"], 3);
  EXPECT_FALSE(std::filesystem::exists(dir + "/r/ckpt_00000004.pt"));
}

// lr 1e308: the first update overflows the weights to NaN while the loss and gradient norm it came from were
// finite; no checkpoint may hold them, and the run fails naming the last good one (before: exit 0 and an all-NaN
// checkpoint named good).
TEST(Train, WeightsThatOverflowAreNeverCheckpointed) {
  const std::string dir = wr::test::temp_dir();
  auto cfg = tiny_config(dir + "/r", {"optimizer.lr=1e308", "schedule.steps=4", "schedule.warmup_steps=0",
                                      "checkpoint.interval=2", "tvr.enabled=false"});
  const auto e = error_of([&] { wr::train(cfg, quiet_options()); });
  EXPECT_TRUE(contains(e, "step 2: ") && contains(e, "holds NaN or Inf after the update") &&
              contains(e, "no checkpoint written. Last good checkpoint: none"))
      << e;
  EXPECT_TRUE(wr::list_checkpoints(dir + "/r").empty());
}

// Two wr-train on one run directory: the second is refused naming the first, instead of mixing one run's config
// and telemetry with the other's checkpoints.
TEST(Train, ASecondRunOnTheSameDirectoryIsRefused) {
  const std::string dir = wr::test::temp_dir();
  std::filesystem::create_directories(dir + "/r");
  const pid_t holder = wr::test::hold_lock_in_child(dir + "/r", 3000);
  tiny_config(dir + "/r", {"schedule.steps=4"});
  const std::string cmd = std::string(WR_TRAIN_BIN) + " " + dir + "/r.json run.threads=1 > " + dir + "/log 2>&1";
  EXPECT_NE(std::system(cmd.c_str()), 0);
  const std::string log = wr::read_file(dir + "/log");
  EXPECT_TRUE(contains(log, "run.dir " + dir + "/r is in use by pid " + std::to_string(holder))) << log;
  EXPECT_FALSE(std::filesystem::exists(dir + "/r/config.json"));
  waitpid(holder, nullptr, 0);
  EXPECT_EQ(std::system(cmd.c_str()), 0) << wr::read_file(dir + "/log");
}

TEST(Train, RunDirectoryMistakesAreClearErrors) {
  const std::string dir = wr::test::temp_dir();
  wr::train(tiny_config(dir + "/r", {"schedule.steps=2", "schedule.warmup_steps=0"}), quiet_options());
  auto e = error_of([&] { wr::train(tiny_config(dir + "/r"), quiet_options()); });
  EXPECT_TRUE(contains(e, "already holds checkpoints") && contains(e, "--resume")) << e;
  wr::TrainOptions resume = quiet_options();
  resume.resume = true;
  e = error_of([&] { wr::train(tiny_config(dir + "/fresh"), resume); });
  EXPECT_TRUE(contains(e, "no checkpoint in")) << e;
  e = error_of([&] { wr::train(tiny_config(dir + "/r2", {"model.vocab_size=100"}), quiet_options()); });
  EXPECT_TRUE(contains(e, "model.vocab_size 100")) << e;
  e = error_of([&] { wr::train(tiny_config("/proc/wr-no-such-dir/r"), quiet_options()); });
  EXPECT_TRUE(contains(e, "/proc/wr-no-such-dir")) << e;
  // offline, an evaluation task whose file is missing is named before the first step
  wr::TrainOptions offline = quiet_options();
  offline.download.offline = true;
  e = error_of([&] {
    wr::train(tiny_config(dir + "/r3", {"eval.interval=2", "eval.tasks=[\"arc_easy\"]", "eval.data_dir=" + dir + "/none"}),
              offline);
  });
  EXPECT_TRUE(contains(e, "offline") && contains(e, dir + "/none/arc/ARC-Easy-Test.jsonl")) << e;
  EXPECT_TRUE(wr::list_checkpoints(dir + "/r3").empty());
}

TEST(Train, PeriodicEvaluationAppendsToTheRunsCsv) {
  const std::string dir = wr::test::temp_dir();
  wr::SynthOptions so;
  so.documents = 10;
  wr::write_synth(dir + "/synth", so);
  auto cfg = tiny_config(dir + "/r", {"schedule.steps=4", "eval.interval=2", "eval.val_batches=2",
                                      "eval.tasks=[\"synth_facts\"]", "eval.sample=8", "eval.seed=3", "eval.data_dir=" + dir + "/synth"});
  wr::train(cfg, quiet_options());
  std::istringstream in(wr::read_file(dir + "/r/eval.csv"));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line.rfind("run,checkpoint,checkpoint_sha256,step,task,metric", 0), 0u);
  std::map<std::string, int> rows;  // "step,task,metric" -> count
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    rows[f[3] + "," + f[4] + "," + f[5]]++;
    if (f[4] == "synth_facts") {
      EXPECT_EQ(f[8], "8");  // n: the eval sample
    }
  }
  for (const char* key : {"2,val,loss", "4,val,loss", "2,synth_facts,acc", "4,synth_facts,acc_norm", "2,synth_facts,bpb",
                          "4,synth_facts,prob_gold"})
    EXPECT_EQ(rows[key], 1) << key;
  EXPECT_EQ(series(dir + "/r", "val", "loss").size(), 2u);
}

TEST(Train, SigtermCheckpointsAndExitsCleanly) {
  const std::string dir = wr::test::temp_dir();
  tiny_config(dir + "/r", {"schedule.steps=100000", "tvr.enabled=false"});  // writes dir/r.json
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    execl(WR_TRAIN_BIN, WR_TRAIN_BIN, (dir + "/r.json").c_str(), nullptr);
    _exit(127);
  }
  // Wait until it is training (telemetry has loss rows), then ask it to stop.
  auto losses_logged = [&] {
    return std::filesystem::exists(dir + "/r/telemetry.csv") ? series(dir + "/r", "train", "loss").size() : 0;
  };
  for (int i = 0; i < 1200 && losses_logged() < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_GE(series(dir + "/r", "train", "loss").size(), 3u) << "wr-train did not start training";
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  auto ckpts = wr::list_checkpoints(dir + "/r");
  ASSERT_EQ(ckpts.size(), 1u);
  auto loaded = wr::load_native(ckpts[0]);
  const int64_t step = loaded.meta["step"];
  EXPECT_GE(step, 3);
  EXPECT_LT(step, 100000);
}

// wr-train on run `name` (dir/name.json, or --resume dir/name) in `world` processes on this CPU (c10d Gloo over
// loopback), with the overrides in args; the exit status (0 when every process succeeded). Logs: dir/name*.log.
int train_in(const std::string& dir, const std::string& name, int world, bool resume, const std::string& args) {
  const std::string cmd = std::string("timeout 300 ") + WR_TRAIN_BIN + (resume ? " --resume " : " ") + dir + "/" + name +
                          (resume ? "" : ".json") + " run.threads=1 " + args + " > ";
  if (world == 1) return std::system((cmd + dir + "/" + name + ".log 2>&1").c_str());
  const std::string env = wr::test::two_rank_env();
  const std::string both = env + "RANK=1 " + cmd + dir + "/" + name + ".rank1.log 2>&1 & r1=$!; " + env + "RANK=0 " + cmd +
                           dir + "/" + name + ".log 2>&1; r0=$?; wait $r1; exit $((r0 + $?))";
  return std::system(("bash -c '" + both + "'").c_str());
}

std::string logs_of(const std::string& dir, const std::string& name) {
  const std::string rank1 = dir + "/" + name + ".rank1.log";
  return wr::read_file(dir + "/" + name + ".log") + (std::filesystem::exists(rank1) ? wr::read_file(rank1) : "");
}

// Two processes (c10d Gloo on this CPU) each run one of the two micro-batches of every step: with two
// gradients the all-reduced sum is the one a single process accumulates, so the runs agree bit for bit.
TEST(DataParallel, TwoProcessesComputeWhatOneDoes) {
  if (!wr::DataParallel::gloo_available()) GTEST_SKIP() << "this build has no c10d Gloo backend (no gloo headers at configure)";
  const std::string dir = wr::test::temp_dir();
  tiny_config(dir + "/one");
  tiny_config(dir + "/two");
  const std::string args = "schedule.steps=6";  // TVR at step 4, telemetry every 2
  ASSERT_EQ(train_in(dir, "one", 1, false, args), 0) << logs_of(dir, "one");
  ASSERT_EQ(train_in(dir, "two", 2, false, args), 0) << logs_of(dir, "two");
  auto one = wr::load_native(dir + "/one/ckpt_00000006.pt");
  auto two = wr::load_native(dir + "/two/ckpt_00000006.pt");
  auto sd_two = wr::state_dict(two.model);
  auto sd_one = wr::state_dict(one.model);
  ASSERT_EQ(sd_one.size(), sd_two.size());
  for (size_t i = 0; i < sd_one.size(); ++i) EXPECT_TRUE(torch::equal(sd_one[i].second, sd_two[i].second)) << sd_one[i].first;
  EXPECT_EQ(series(dir + "/one", "train", "loss"), series(dir + "/two", "train", "loss"));
  EXPECT_EQ(series(dir + "/one", "train", "grad_norm"), series(dir + "/two", "train", "grad_norm"));
  // only rank 0 logs
  EXPECT_TRUE(wr::test::contains(wr::read_file(dir + "/two.log"), "step      6/6"));
  EXPECT_FALSE(wr::test::contains(wr::read_file(dir + "/two.rank1.log"), "step      6/6"));
}

// The same on GPUs through NCCL, where this build has it and two GPUs are visible (each process on
// cuda:LOCAL_RANK, gradients all-reduced on the device); within float rounding, as GPU kernels need not be
// bitwise reproducible.
TEST(DataParallel, TwoGpuProcessesComputeWhatOneDoes) {
  if (!wr::DataParallel::nccl_available()) GTEST_SKIP() << "this build has no c10d NCCL backend (LibTorch without CUDA?)";
  if (torch::cuda::device_count() < 2) GTEST_SKIP() << "needs two CUDA devices, " << torch::cuda::device_count() << " visible";
  const std::string dir = wr::test::temp_dir();
  tiny_config(dir + "/one");
  tiny_config(dir + "/two");
  const std::string args = "schedule.steps=6 run.device=cuda";
  ASSERT_EQ(train_in(dir, "one", 1, false, args), 0) << logs_of(dir, "one");
  ASSERT_EQ(train_in(dir, "two", 2, false, args), 0) << logs_of(dir, "two");
  EXPECT_TRUE(contains(wr::read_file(dir + "/two.log"), "x 2 processes (nccl)")) << logs_of(dir, "two");
  const auto loss_one = series(dir + "/one", "train", "loss"), loss_two = series(dir + "/two", "train", "loss");
  ASSERT_EQ(loss_one.size(), 6u);
  for (const auto& [step, l] : loss_one) EXPECT_NEAR(loss_two.at(step), l, 1e-4) << "step " << step;
}

// Two micro-batches a process (accumulation 4): each process's gradient is the sum of its two before the
// all-reduce starts during the second backward pass; the sums differ from one process's only in rounding.
TEST(DataParallel, AccumulatingProcessesComputeWhatOneDoes) {
  if (!wr::DataParallel::gloo_available()) GTEST_SKIP() << "this build has no c10d Gloo backend (no gloo headers at configure)";
  const std::string dir = wr::test::temp_dir();
  tiny_config(dir + "/one");
  tiny_config(dir + "/two");
  const std::string args = "schedule.steps=6 batch.accumulation=4 batch.micro_batch=2";
  ASSERT_EQ(train_in(dir, "one", 1, false, args), 0) << logs_of(dir, "one");
  ASSERT_EQ(train_in(dir, "two", 2, false, args), 0) << logs_of(dir, "two");
  auto one = wr::load_native(dir + "/one/ckpt_00000006.pt");
  auto two = wr::load_native(dir + "/two/ckpt_00000006.pt");
  auto sd_one = wr::state_dict(one.model), sd_two = wr::state_dict(two.model);
  ASSERT_EQ(sd_one.size(), sd_two.size());
  for (size_t i = 0; i < sd_one.size(); ++i)
    EXPECT_TRUE(torch::allclose(sd_one[i].second, sd_two[i].second, 1e-4, 1e-5)) << sd_one[i].first;
  const auto loss_one = series(dir + "/one", "train", "loss"), loss_two = series(dir + "/two", "train", "loss");
  ASSERT_EQ(loss_one.size(), 6u);
  for (const auto& [step, l] : loss_one) EXPECT_NEAR(loss_two.at(step), l, 1e-5) << "step " << step;
}

TEST(DataParallel, MisconfiguredWorldIsAClearError) {
  const std::string dir = wr::test::temp_dir();
  tiny_config(dir + "/r");
  auto run = [&](const std::string& env) {
    std::system((env + " " + WR_TRAIN_BIN + " " + dir + "/r.json > " + dir + "/log 2>&1").c_str());
    return wr::read_file(dir + "/log");
  };
  const std::string no_addr = run("WORLD_SIZE=2 RANK=0");
  EXPECT_TRUE(wr::test::contains(no_addr, "MASTER_ADDR is not set")) << no_addr;
  EXPECT_TRUE(wr::test::contains(run("WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=1"), "RANK is not set"));
  EXPECT_TRUE(wr::test::contains(run("WORLD_SIZE=2 RANK=x"), "RANK='x': expected an integer from 0 to 65535"));
  EXPECT_TRUE(wr::test::contains(run("WORLD_SIZE=0"), "WORLD_SIZE='0': expected an integer from 1 to 65535"));
  EXPECT_TRUE(wr::test::contains(run("WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=0"),
                                 "MASTER_PORT='0': expected an integer from 1 to 65535"));
  EXPECT_TRUE(wr::test::contains(run("WORLD_SIZE=3 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=1"),
                                 "batch.accumulation 2 must be a multiple of WORLD_SIZE 3"));
  EXPECT_TRUE(wr::test::contains(run("WORLD_SIZE=2 RANK=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=1"), "RANK 2 is not below"));
}

// A rank alone gives up after run.dist_timeout_s with one line on stderr: rank 0 (rank 1 never started) names the
// missing rank, rank 1 (no rank 0) the address it could not reach. Before, rank 0 waited 2.3 times the timeout
// (TCPStore's wait for workers gave up silently, then the process group waited again) and said "Socket Timeout",
// and glog's "Logging before InitGoogleLogging()" and c10d's own lines came first. The bound is loose (start-up
// under load is counted); 2.3x would fail it.
TEST(DataParallel, ARankAloneGivesUpAfterTheTimeoutNamingWhoIsMissing) {
  if (!wr::DataParallel::gloo_available()) GTEST_SKIP() << "this build has no c10d Gloo backend (no gloo headers at configure)";
  const std::string dir = wr::test::temp_dir();
  tiny_config(dir + "/r");
  constexpr int kTimeout = 8;
  double seconds[2] = {0, 0};
  // Two different ports, taken before either rank starts: rank 1 must find nobody at its address (two threads
  // asking for a free port at once could be given the same one, and the two ranks would meet).
  int ports[2] = {wr::test::free_port(), wr::test::free_port()};
  while (ports[1] == ports[0]) ports[1] = wr::test::free_port();
  std::thread ranks[2];
  for (int rank = 0; rank < 2; ++rank)
    ranks[rank] = std::thread([&, rank] {
      const std::string cmd = "GLOO_SOCKET_IFNAME=lo WORLD_SIZE=2 RANK=" + std::to_string(rank) +
                              " MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(ports[rank]) + " timeout 120 " +
                              WR_TRAIN_BIN + " " + dir + "/r.json run.threads=1 run.dist_timeout_s=" +
                              std::to_string(kTimeout) + " > " + dir + "/out" + std::to_string(rank) + " 2> " + dir +
                              "/err" + std::to_string(rank);
      const auto t0 = std::chrono::steady_clock::now();
      EXPECT_EQ(WEXITSTATUS(std::system(cmd.c_str())), 1) << "rank " << rank;
      seconds[rank] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    });
  for (auto& t : ranks) t.join();
  const std::string err0 = wr::read_file(dir + "/err0"), err1 = wr::read_file(dir + "/err1");
  EXPECT_EQ(std::count(err0.begin(), err0.end(), '\n'), 1) << err0;
  EXPECT_EQ(err0.rfind("wr-train: error: rank 0 of 2: rank 1 did not join at 127.0.0.1:", 0), 0u) << err0;
  EXPECT_TRUE(contains(err0, "within run.dist_timeout_s = 8 s")) << err0;
  EXPECT_EQ(std::count(err1.begin(), err1.end(), '\n'), 1) << err1;
  EXPECT_TRUE(contains(err1, "wr-train: error: joining the process group at 127.0.0.1:")) << err1;
  EXPECT_TRUE(contains(err1, "as rank 1 of 2 (waited up to 8 s")) << err1;
  EXPECT_GE(seconds[0], kTimeout * 0.95);
  EXPECT_LT(seconds[0], kTimeout * 1.6);
  // Rank 1's wait is TCPStore's client connecting, inside LibTorch: 1.13 gives up at about the timeout (7.4 s of
  // 8 measured), but 2.11's client retried for 21 s on an 8 s timeout (clean-clone run of 2026-12-07). Bounded
  // here against giving up at once and against a hang, not against that retry, which wr does not control yet.
  EXPECT_GE(seconds[1], kTimeout * 0.75);
  EXPECT_LT(seconds[1], kTimeout * 4.0);
  EXPECT_TRUE(wr::list_checkpoints(dir + "/r").empty());
}

// Ranks started with different settings are refused on every rank before the first step (an lr mismatch trained
// silently apart; a model mismatch died inside gloo with rc 134).
TEST(DataParallel, RanksWithDifferentConfigsAreRefused) {
  if (!wr::DataParallel::gloo_available()) GTEST_SKIP() << "this build has no c10d Gloo backend (no gloo headers at configure)";
  const std::string dir = wr::test::temp_dir();
  tiny_config(dir + "/r");
  const std::string env = wr::test::two_rank_env();
  const std::string cmd = std::string("timeout 120 ") + WR_TRAIN_BIN + " " + dir + "/r.json run.threads=1 schedule.steps=4 ";
  const std::string both = env + "RANK=1 " + cmd + "optimizer.lr=0.5 > " + dir + "/rank1.log 2>&1 & " + env + "RANK=0 " +
                           cmd + "> " + dir + "/rank0.log 2>&1; r0=$?; wait; exit $r0";
  EXPECT_NE(std::system(("bash -c '" + both + "'").c_str()), 0);
  for (const char* log : {"/rank0.log", "/rank1.log"}) {
    const std::string text = wr::read_file(dir + log);
    EXPECT_TRUE(contains(text, "rank 1's resolved config differs from rank 0's")) << log << ": " << text;
  }
  EXPECT_TRUE(wr::list_checkpoints(dir + "/r").empty());
}

// The directory given to --resume is the run: a copy continues in the copy (its source untouched, none of its
// checkpoints pruned), and a moved run continues where it now is.
TEST(TrainConfig, NonIntegersAndAbsurdSizesAreNamedBeforeAnyAllocation) {
  const std::string dir = wr::test::temp_dir();
  auto e = error_of([&] { tiny_config(dir + "/r", {"schedule.steps=20.5"}); });
  EXPECT_TRUE(contains(e, "'schedule.steps' must be an integer, got 20.5")) << e;
  e = error_of([&] { tiny_config(dir + "/r", {"run.threads=-1"}); });
  EXPECT_TRUE(contains(e, "run.threads must be >= 0 (0: all cores) (from the override 'run.threads=-1')")) << e;
  e = error_of([&] { tiny_config(dir + "/r", {"eval.limit=5", "eval.sample=5"}); });
  EXPECT_TRUE(contains(e, "eval: limit (the first N documents) and sample (a seeded random N) are exclusive")) << e;
  e = error_of([&] { tiny_config(dir + "/r", {"model.ffn_dim=64.5"}); });
  EXPECT_TRUE(contains(e, "ffn_dim must be an integer, got 64.5")) << e;
  e = error_of([&] { tiny_config(dir + "/r", {"model.dim=2147483680", "model.n_heads=4"}); });  // n_params would wrap
  EXPECT_TRUE(contains(e, "parameters, more than the 1e15 wr accepts")) << e;
  e = error_of([&] { wr::train(tiny_config(dir + "/r", {"model.dim=1048576", "model.n_heads=4"}), quiet_options()); });
  EXPECT_TRUE(contains(e, "GB for weights, gradients and AdamW state; this machine has")) << e;
  e = error_of([&] { wr::train(tiny_config(dir + "/r2", {"batch.micro_batch=8589934592"}), quiet_options()); });
  EXPECT_TRUE(contains(e, "batch.micro_batch 8589934592 x batch.seq_len 32: one micro-batch's activations need about")) << e;
}

// Counts and names the tools used to take silently: one line each, exit 1.
TEST(ToolOptions, NegativeCountsAndUnknownDtypesAreRefused) {
  const std::string dir = wr::test::temp_dir();
  auto m = wr::test::fixture_model();
  wr::save_native(dir + "/ckpt.pt", m, {{"step", 1}}, wr::test::fixture_tokenizer().model_bytes());
  for (const auto& [cmd, message] : std::vector<std::pair<std::string, std::string>>{
           {std::string(WR_DATA_BIN) + " synth --documents -1 --out " + dir + "/s", "wr-data: error: --documents must be positive, got -1"},
           {std::string(WR_MODEL_BIN) + " generate " + dir + "/ckpt.pt --max-new-tokens -5",
            "wr-model: error: --max-new-tokens must be >= 0, got -5"},
           {std::string(WR_MODEL_BIN) + " convert " + dir + "/ckpt.pt " + dir + "/hf --to hf --dtype f99",
            "wr-model: error: unknown dtype 'f99' (expected f32, bf16 or f16)"},
           {std::string(WR_MODEL_BIN) + " convert " + dir + "/ckpt.pt " + dir + "/c.pt --dtype bf16",
            "wr-model: error: dtype bf16: only Hugging Face safetensors are written in other dtypes; native files hold f32"}}) {
    const int status = std::system((cmd + " > " + dir + "/out 2>&1").c_str());
    EXPECT_EQ(WEXITSTATUS(status), 1) << cmd;
    EXPECT_EQ(wr::read_file(dir + "/out"), message + "\n") << cmd;
  }
  EXPECT_FALSE(std::filesystem::exists(dir + "/s"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/hf"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/c.pt"));
}

// wr-train takes wr-eval's download options from the same table: a --url-map that is not a JSON object of
// URL -> URL is named before any training.
TEST(ToolOptions, TrainReadsTheUrlMapBeforeTraining) {
  const std::string dir = wr::test::temp_dir();
  tiny_config(dir + "/r");  // writes dir/r.json
  wr::write_file_atomic(dir + "/map.json", "[\"https://a.org/x\"]");
  const int status = std::system((std::string(WR_TRAIN_BIN) + " --url-map " + dir + "/map.json " + dir + "/r.json > " +
                                  dir + "/out 2>&1").c_str());
  EXPECT_EQ(WEXITSTATUS(status), 1);
  const std::string out = wr::read_file(dir + "/out");
  // the start-up table of the resolved config may come first; the error ends the output, before any step
  EXPECT_TRUE(contains(out, "wr-train: error: " + dir + "/map.json: expected a JSON object of URL -> URL")) << out;
  EXPECT_EQ(out.rfind("wr-train: error: "), out.rfind('\n', out.size() - 2) + 1) << out;  // the last line
  EXPECT_TRUE(wr::list_checkpoints(dir + "/r").empty());
}

TEST(Train, ResumeContinuesInTheDirectoryNamed) {
  const std::string dir = wr::test::temp_dir();
  tiny_config(dir + "/a");
  auto train = [&](const std::string& args) {
    return std::system((std::string(WR_TRAIN_BIN) + " " + args + " run.threads=1 > " + dir + "/log 2>&1").c_str());
  };
  ASSERT_EQ(train(dir + "/a.json schedule.steps=8 checkpoint.interval=2 checkpoint.keep=2"), 0) << wr::read_file(dir + "/log");
  const auto a_before = wr::list_checkpoints(dir + "/a");
  ASSERT_EQ(a_before.size(), 2u);
  std::filesystem::copy(dir + "/a", dir + "/b", std::filesystem::copy_options::recursive);
  ASSERT_EQ(train("--resume " + dir + "/b schedule.steps=12"), 0) << wr::read_file(dir + "/log");
  EXPECT_EQ(wr::list_checkpoints(dir + "/a"), a_before);  // nothing written or pruned there
  EXPECT_EQ(wr::list_checkpoints(dir + "/b").back(), dir + "/b/ckpt_00000012.pt");
  std::filesystem::rename(dir + "/a", dir + "/c");
  ASSERT_EQ(train("--resume " + dir + "/c schedule.steps=10"), 0) << wr::read_file(dir + "/log");
  EXPECT_EQ(wr::list_checkpoints(dir + "/c").back(), dir + "/c/ckpt_00000010.pt");
  EXPECT_FALSE(std::filesystem::exists(dir + "/a"));
  // Resuming a finished run trains nothing and names the checkpoint it stands on.
  ASSERT_EQ(train("--resume " + dir + "/c schedule.steps=10"), 0) << wr::read_file(dir + "/log");
  EXPECT_TRUE(contains(wr::read_file(dir + "/log"), "done at step 10, no step trained; checkpoint " + dir + "/c/ckpt_00000010.pt"))
      << wr::read_file(dir + "/log");
}

// A damaged newest checkpoint is named and passed over: the run resumes from the newest one that loads.
TEST(Train, ResumeFallsBackToTheNewestIntactCheckpoint) {
  const std::string dir = wr::test::temp_dir();
  tiny_config(dir + "/r");
  ASSERT_EQ(std::system((std::string(WR_TRAIN_BIN) + " " + dir + "/r.json run.threads=1 checkpoint.interval=4 > " + dir +
                         "/log 2>&1").c_str()), 0)
      << wr::read_file(dir + "/log");
  const std::string newest = dir + "/r/ckpt_00000012.pt";
  std::filesystem::resize_file(newest, std::filesystem::file_size(newest) / 2);
  ASSERT_EQ(std::system((std::string(WR_TRAIN_BIN) + " --resume " + dir + "/r schedule.steps=16 > " + dir + "/log 2>&1").c_str()), 0)
      << wr::read_file(dir + "/log");
  const std::string log = wr::read_file(dir + "/log");
  EXPECT_TRUE(contains(log, "skipping damaged checkpoint: " + newest)) << log;
  EXPECT_TRUE(contains(log, "resumed " + dir + "/r/ckpt_00000008.pt at step 8")) << log;
  auto last = wr::load_native(dir + "/r/ckpt_00000016.pt");
  EXPECT_EQ(last.meta["step"].get<int64_t>(), 16);
}

// "VAR=value ... program args > log" started in the background; its pid is the program's own (sh execs it).
pid_t spawn(const std::string& cmd) {
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec env " + cmd).c_str(), nullptr);
    _exit(127);
  }
  return pid;
}

// The exit status of pid, or -1 if it has not exited within `seconds` (it is then killed).
int wait_exit(pid_t pid, double seconds) {
  int status = 0;
  for (auto t0 = std::chrono::steady_clock::now();
       std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < seconds;) {
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

// Two ranks of a long run; once rank 0 has logged a few steps, rank 1 is sent `signal` (SIGKILL: it died;
// SIGSTOP: it hangs). Rank 0 must stop with a clear error within the configured timeout, not wait forever.
void peer_failure_stops_rank0(int signal, int timeout_s) {
  if (!wr::DataParallel::gloo_available()) GTEST_SKIP() << "this build has no c10d Gloo backend (no gloo headers at configure)";
  const std::string dir = wr::test::temp_dir();
  tiny_config(dir + "/r");
  const std::string env = wr::test::two_rank_env();
  const std::string train = std::string(WR_TRAIN_BIN) + " " + dir +
                            "/r.json schedule.steps=100000 tvr.enabled=false run.threads=1 run.dist_timeout_s=" +
                            std::to_string(timeout_s) + " > ";
  const pid_t rank1 = spawn(env + "RANK=1 " + train + dir + "/rank1.log 2>&1");
  const pid_t rank0 = spawn(env + "RANK=0 " + train + dir + "/rank0.log 2>&1");
  auto steps_logged = [&] {
    return std::filesystem::exists(dir + "/r/telemetry.csv") ? series(dir + "/r", "train", "loss").size() : 0;
  };
  for (int i = 0; i < 1200 && steps_logged() < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_GE(steps_logged(), 3u) << wr::read_file(dir + "/rank0.log") << wr::read_file(dir + "/rank1.log");
  kill(rank1, signal);
  const auto t0 = std::chrono::steady_clock::now();
  const int status = wait_exit(rank0, timeout_s + 30);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  kill(rank1, SIGKILL);
  waitpid(rank1, nullptr, 0);
  const std::string log = wr::read_file(dir + "/rank0.log");
  ASSERT_NE(status, -1) << "rank 0 still waiting " << waited << " s after rank 1 failed:\n" << log;
  EXPECT_EQ(status, 1) << log;
  EXPECT_TRUE(contains(log, "wr-train: error: rank 0 of 2: an all-reduce over gloo failed")) << log;
  EXPECT_LT(waited, timeout_s + 20) << log;
}

TEST(DataParallel, DeadRankStopsTheOthersWithAClearError) { peer_failure_stops_rank0(SIGKILL, 20); }
TEST(DataParallel, HungRankStopsTheOthersAfterTheTimeout) { peer_failure_stops_rank0(SIGSTOP, 3); }

// Checkpoints do not depend on the world size: a run checkpointed at step 4 by two processes and resumed by one
// (and the reverse) ends bit for bit where one process running throughout does.
TEST(DataParallel, CheckpointsResumeInAnyWorldSize) {
  if (!wr::DataParallel::gloo_available()) GTEST_SKIP() << "this build has no c10d Gloo backend (no gloo headers at configure)";
  const std::string dir = wr::test::temp_dir();
  const std::string args = "schedule.steps=6 checkpoint.interval=4";  // TVR at 4, checkpoints at 4 and 6
  tiny_config(dir + "/straight");
  ASSERT_EQ(train_in(dir, "straight", 1, false, args), 0) << logs_of(dir, "straight");
  auto straight = wr::load_native(dir + "/straight/ckpt_00000006.pt");
  const auto reference = wr::state_dict(straight.model);
  for (const auto& [name, first, second] : {std::tuple<std::string, int, int>{"two_then_one", 2, 1}, {"one_then_two", 1, 2}}) {
    tiny_config(dir + "/" + name);
    ASSERT_EQ(train_in(dir, name, first, false, args), 0) << logs_of(dir, name);
    std::filesystem::remove(dir + "/" + name + "/ckpt_00000006.pt");
    ASSERT_EQ(train_in(dir, name, second, true, args), 0) << logs_of(dir, name);
    EXPECT_TRUE(contains(wr::read_file(dir + "/" + name + ".log"), "resumed")) << name;
    auto resumed = wr::load_native(dir + "/" + name + "/ckpt_00000006.pt");
    const auto got = wr::state_dict(resumed.model);
    ASSERT_EQ(got.size(), reference.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(torch::equal(got[i].second, reference[i].second)) << name << " " << got[i].first;
    EXPECT_EQ(series(dir + "/" + name, "train", "loss"), series(dir + "/straight", "train", "loss")) << name;
  }
}

// The whole path on real text: ../shared/corpus -> tokenizer -> shards -> wr-train -> a checkpoint wr-eval scores.
TEST(Pipeline, SharedCorpusToScoredCheckpoint) {
  WR_REQUIRE_SHARED("corpus/brown.jsonl");
  WR_REQUIRE_SHARED("datasets/arc/ARC-Easy-Test.jsonl");
  const std::string dir = wr::test::temp_dir(), corpus = wr::test::shared_path("corpus/brown.jsonl");
  auto run = [&](const std::string& cmd) {
    EXPECT_EQ(std::system((cmd + " > " + dir + "/log.txt 2>&1").c_str()), 0) << cmd << "\n" << wr::read_file(dir + "/log.txt");
  };
  run(std::string(WR_DATA_BIN) + " train-tokenizer --vocab-size 1024 --max-sentences 20000 --out " + dir + "/tok.model " + corpus);
  run(std::string(WR_DATA_BIN) + " tokenize --tokenizer " + dir + "/tok.model --out " + dir + "/shards " + corpus);
  run(std::string(WR_TRAIN_BIN) + " " + WR_SOURCE_DIR + "/configs/train/quickstart.json run.dir=" + dir + "/run data.dir=" +
      dir + "/shards model.vocab_size=1024 schedule.steps=6 schedule.warmup_steps=2 eval.interval=0 checkpoint.interval=0");
  run(std::string(WR_EVAL_BIN) + " --tasks arc_easy --limit 10 --data-dir " + wr::test::shared_path("datasets") + " --output " +
      dir + "/results.csv " + dir + "/run/ckpt_00000006.pt");
  const std::string csv = wr::read_file(dir + "/results.csv");
  EXPECT_TRUE(contains(csv, ",6,arc_easy,acc,")) << csv;  // step 6 from the checkpoint's meta
}

}  // namespace

// The paper's setting in miniature, through the tools as a user runs them: Llama 3's tokenizer.json cut to 2048
// pieces, text -> shards -> a trained checkpoint (which carries the tokenizer.json), converted to a Hugging Face
// folder that wr-eval scores without --tokenizer.
TEST(Train, Llama3TokenizerFromTextToScores) {
  WR_REQUIRE_SHARED("tokenizers/llama3/tokenizer.json");
  WR_REQUIRE_SHARED("datasets/arc/ARC-Easy-Test.jsonl");
  const std::string dir = wr::test::temp_dir();
  auto run = [&](const std::string& cmd) {
    const int rc = std::system((cmd + " > " + dir + "/log 2>&1").c_str());
    return rc == 0 ? std::string() : cmd + "\n" + wr::read_file(dir + "/log");
  };
  ASSERT_EQ(run(std::string(WR_DATA_BIN) + " truncate-tokenizer --vocab-size 2048 " +
                wr::test::shared_path("tokenizers/llama3/tokenizer.json") + " " + dir + "/tok.json"), "");
  const auto tok = wr::Tokenizer::from_file(dir + "/tok.json");
  ASSERT_EQ(tok.vocab_size(), 2048 + 256);
  std::string jsonl;
  const char* sentences[] = {"The quick brown fox jumps over the lazy dog.", "Plants make food from sunlight.",
                             "Water boils at 100 degrees Celsius.", "Which tool measures mass? A balance."};
  for (int d = 0; d < 300; ++d) jsonl += nlohmann::json({{"text", std::string(sentences[d % 4]) + " " + sentences[(d * 3) % 4]}}).dump() + "\n";
  wr::write_file_atomic(dir + "/corpus.jsonl", jsonl);
  ASSERT_EQ(run(std::string(WR_DATA_BIN) + " tokenize --tokenizer " + dir + "/tok.json --out " + dir +
                "/shards --val-fraction 0.1 --threads 1 " + dir + "/corpus.jsonl"), "");
  EXPECT_EQ(wr::read_file(dir + "/shards/tokenizer.json"), tok.model_bytes());
  EXPECT_EQ(nlohmann::json::parse(wr::read_file(dir + "/shards/manifest.json")).at("tokenizer"), "tokenizer.json");

  nlohmann::json cfg = {
      {"run", {{"dir", dir + "/r"}, {"threads", 1}}},
      {"model", {{"dim", 32}, {"n_layers", 2}, {"n_heads", 4}, {"n_kv_heads", 2}, {"ffn_dim", 64},
                 {"vocab_size", tok.vocab_size()}, {"max_seq_len", 64}}},
      {"data", {{"dir", dir + "/shards"}}},
      {"batch", {{"seq_len", 32}, {"micro_batch", 4}, {"accumulation", 1}}},
      {"schedule", {{"steps", 6}, {"warmup_steps", 2}}},
      {"log", {{"interval", 1}}},
  };
  wr::write_file_atomic(dir + "/r.json", cfg.dump());
  ASSERT_EQ(run(std::string(WR_TRAIN_BIN) + " " + dir + "/r.json"), "");
  const std::string ckpt = wr::list_checkpoints(dir + "/r").back();
  EXPECT_EQ(wr::load_native(ckpt).tokenizer_model, tok.model_bytes());

  ASSERT_EQ(run(std::string(WR_MODEL_BIN) + " convert " + ckpt + " " + dir + "/hf"), "");
  EXPECT_EQ(wr::read_file(dir + "/hf/tokenizer.json"), tok.model_bytes());
  ASSERT_EQ(run(std::string(WR_EVAL_BIN) + " --tasks arc_easy --limit 20 --threads 1 --data-dir " +
                wr::test::shared_path("datasets") + " --output " + dir + "/out.csv --json " + dir + "/out.json " + dir + "/hf"), "");
  const auto report = nlohmann::json::parse(wr::read_file(dir + "/out.json"));
  EXPECT_GE(report["results"]["arc_easy"]["acc,none"].get<double>(), 0.0);
  // trained with BOS first, and the export says so: Llama 3's post-processor adds none, tokenizer_config.json does
  EXPECT_TRUE(report["config"]["bos"].get<bool>()) << report["config"].dump();
  EXPECT_EQ(nlohmann::json::parse(wr::read_file(dir + "/hf/tokenizer_config.json")),
            (nlohmann::json{{"add_bos_token", true}, {"bos_token", "<|begin_of_text|>"}}));
  const auto& boundary = report["context_not_prefix"]["arc_easy"];
  EXPECT_GE(boundary["requests"].get<int64_t>(), 60);  // 20 documents of 3 to 5 choices
  EXPECT_LE(boundary["context_not_prefix"].get<int64_t>(), boundary["requests"].get<int64_t>());
  EXPECT_TRUE(contains(wr::read_file(dir + "/out.csv"), ",arc_easy,acc,"));
}
