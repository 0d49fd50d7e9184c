// wr-train's configuration: one JSON file (configs/train/*.json; it may `"include": "base.json"`, found relative
// to it, and override the base's values) over built-in defaults, then command-line overrides `section.key=value`.
// Every key must exist in the defaults: a misspelt key is an error naming it (with the closest known key), never
// silently ignored. The resolved JSON is saved with the run.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/config.h"
#include "model/init.h"
#include "model/variance.h"
#include "trainer/mixture.h"
#include "trainer/shards.h"

namespace wr {

enum class TrainDtype { f32, bf16 };  // bf16: autocast (CPU or CUDA) over f32 master weights

// The typed form of a resolved config. It has no defaults of its own: every field is set from the JSON, whose
// keys, defaults and help live in one table (kKeys in train_config.cpp; default_train_config() gives them typed).
struct TrainConfig {
  // run
  std::string run_dir, run_name;
  uint64_t seed{};              // initialisation and data order
  std::string device;           // cpu | cuda | cuda:N
  TrainDtype dtype{};
  int threads{};                // CPU threads; 0: all cores
  int max_bad_steps{};          // consecutive non-finite losses before the run stops
  // data parallel: how long a process waits in a collective for the others (a dead or hung rank) before failing;
  // longer than rank 0's longest evaluation + checkpoint, which the others wait through
  int64_t dist_timeout_s{};
  // model and init
  ModelConfig model;
  InitConfig init;
  // data: data.dir, or data.sources [{dir, weight}] drawn from in proportion (trainer/mixture.h); data_dir is the
  // first source, whose validation split and tokenizer the run uses
  std::string data_dir;
  std::vector<DataSource> data_sources;
  DataMode data_mode{};
  // batch: micro_batch sequences of seq_len tokens, accumulation micro-batches per optimizer step
  int64_t seq_len{}, micro_batch{}, accumulation{};
  // optimizer (AdamW) and schedule (linear warmup, cosine to min_lr); grad_clip 0: no clipping
  double lr{}, min_lr{}, beta1{}, beta2{}, eps{}, weight_decay{}, grad_clip{};
  bool decay_embeddings{};
  int64_t steps{}, warmup_steps{};
  // TVR (model/variance.h), applied after every `interval`-th optimizer step; interval_tokens > 0 states the
  // interval in tokens instead (the paper's unit), and tvr_interval is then the nearest whole number of steps
  bool tvr_enabled{};
  int64_t tvr_interval{}, tvr_interval_tokens{};
  TvrConfig tvr;
  // periodic evaluation (0: never); validation loss on val_batches batches, tasks on their first `limit`
  // documents or a random `sample` of them drawn with `seed` (the same documents at every evaluation)
  int64_t eval_interval{}, val_batches{}, eval_limit{}, eval_sample{};
  uint64_t eval_seed{};
  std::vector<std::string> eval_tasks;
  std::string eval_data_dir;
  std::string eval_rules;  // the rule set the tasks are formulated and scored by (tasks/rules.h)
  bool eval_bos{};
  // simulated quantization schemes scored beside the model at each evaluation (model/quant.h; a8t calibrates on
  // the validation split)
  std::vector<std::string> eval_quant;
  // checkpoints every `interval` steps (0: only at the end), the last `keep` kept
  int64_t ckpt_interval{}, ckpt_keep{};
  // logging every `interval` steps, telemetry (matrix statistics, activations) every `telemetry_interval`
  int64_t log_interval{}, telemetry_interval{};
  double peak_tflops{};  // the chip's peak for MFU (989 for H100/H200 bf16 dense); 0: the measured matmul rate
  // the activation probe: "" for the first seq_len tokens of the validation split; else this text after BOS
  // (the authors' style: one short fixed sentence), run in the run's dtype either way
  std::string probe_text;
  bool tensorboard{};  // every telemetry row also as a TensorBoard scalar in run_dir/tb (trainer/tensorboard.h)

  int64_t tokens_per_step() const { return seq_len * micro_batch * accumulation; }
};

// Loads path over the defaults, applies overrides ("optimizer.lr=3e-4"; the value is JSON, or a string when it
// does not parse), resolves the model file, and returns the resolved JSON; *out receives the typed config.
nlohmann::json resolve_train_config(const std::string& path, const std::vector<std::string>& overrides, TrainConfig* out);
// The typed config of an already resolved JSON (a run's saved config.json).
TrainConfig train_config_from_json(const nlohmann::json& resolved, const std::string& source);
// The built-in defaults, typed, for `model` (bench-train's optimizer settings, for one).
TrainConfig default_train_config(const ModelConfig& model);

// The key table every default, reader and printout comes from: "section.key", its default as JSON text, its help.
struct TrainKey {
  std::string name, default_value, help;
};
std::vector<TrainKey> train_config_keys();
// The defaults as one JSON tree (every key of the table).
const nlohmann::json& train_config_defaults();
// The resolved config as a table for people: key, value, help; a '*' and the default where the value differs.
std::string describe_train_config(const nlohmann::json& resolved);

// Learning rate for optimizer step `step` (0-based): linear warmup to lr over warmup_steps, then cosine
// decay to min_lr at `steps`.
double lr_at(const TrainConfig& c, int64_t step);

}  // namespace wr
