#include "trainer/train_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <set>
#include <type_traits>

#include "common/cli.h"
#include "common/error.h"
#include "common/file.h"
#include "common/json.h"
#include "common/json_number.h"
#include "common/strings.h"
#include "tasks/rules.h"
#include "tasks/task.h"

namespace wr {
namespace {

// Every key wr-train knows, with its default. "model" is a configs/model file path or an inline object.
const nlohmann::json& defaults() {
  static const nlohmann::json d = nlohmann::json::parse(R"({
    "comment": "",
    "run": {"dir": "runs/run", "name": "", "seed": 1, "device": "cpu", "dtype": "f32", "threads": 0, "max_bad_steps": 5,
             "dist_timeout_s": 1800},
    "model": {},
    "init": {"scheme": "lir", "std": 0.006},
    "data": {"dir": "", "sources": [], "mode": "random"},
    "batch": {"seq_len": 256, "micro_batch": 16, "accumulation": 1},
    "optimizer": {"lr": 6e-4, "min_lr": 6e-5, "beta1": 0.9, "beta2": 0.95, "eps": 1e-7, "weight_decay": 0.1,
                  "decay_embeddings": true, "grad_clip": 1.0},
    "schedule": {"steps": 1000, "warmup_steps": 100},
    "tvr": {"enabled": true, "target": 0.01, "interval": 100, "interval_tokens": 0, "threshold": 1.0, "depth_scaled": false},
    "eval": {"interval": 0, "val_batches": 8, "tasks": [], "limit": 0, "sample": 0, "seed": 1234, "data_dir": "", "bos": true,
             "rules": "lm-eval"},
    "checkpoint": {"interval": 0, "keep": 3},
    "log": {"interval": 10, "telemetry_interval": 100, "peak_tflops": 0, "probe_text": "", "tensorboard": true}
  })");
  return d;
}

std::vector<std::string> known_keys(const nlohmann::json& node, const std::string& prefix) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : node.items()) {
    if (v.is_object()) for (auto& sub : known_keys(v, prefix + k + ".")) keys.push_back(sub);
    else keys.push_back(prefix + k);
  }
  return keys;
}

// Merges `over` into `base`, rejecting keys the defaults do not have. Keys inside "model" are checked by
// config_from_json instead (a model file path replaces the object; an object updates it key by key).
void merge(nlohmann::json& base, const nlohmann::json& over, const std::string& prefix, const std::string& source,
           bool check = true) {
  if (!over.is_object()) fail(source, ": '", prefix.empty() ? "(top level)" : prefix, "' must be an object");
  for (const auto& [k, v] : over.items()) {
    const std::string key = prefix + k;
    if (key == "model" && v.is_object() && base[k].is_object()) {
      merge(base[k], v, key + ".", source, /*check=*/false);
      continue;
    }
    if (check && !base.contains(k)) {
      std::string hint = closest(key, known_keys(defaults(), ""));
      fail(source, ": unknown key '", key, "'", hint.empty() ? "" : " (did you mean '" + hint + "'?)");
    }
    if (!check || key == "model" || !base[k].is_object()) base[k] = v;
    else merge(base[k], v, key + ".", source);
  }
}

template <typename T>
T get(const nlohmann::json& j, const char* section, const char* key, const std::string& source) {
  try {
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)  // 20.5 is not a step count
      return static_cast<T>(json_integer(j.at(section).at(key), source + ": '" + section + "." + key + "'",
                                         std::is_unsigned_v<T> ? 0 : std::numeric_limits<T>::min(),
                                         static_cast<int64_t>(std::min<uint64_t>(std::numeric_limits<T>::max(),
                                                                                 std::numeric_limits<int64_t>::max()))));
    return j.at(section).at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    fail(source, ": '", section, ".", key, "' has the wrong type (", j.at(section).at(key).dump(), ")");
  }
}

// A model given as a file name becomes its contents, found relative to the working directory, then to the
// config file's directory.
void resolve_model(nlohmann::json& j, const std::string& config_path) {
  if (j["model"].is_object()) {
    j["model"] = config_to_json(config_from_json(j["model"], config_path.empty() ? "model" : config_path));
    return;
  }
  if (!j["model"].is_string()) fail(config_path, ": 'model' must be a configs/model file name or an object");
  std::string m = j["model"].get<std::string>();
  if (!file_exists(m) && !config_path.empty()) {
    std::string rel = (std::filesystem::path(config_path).parent_path() / m).string();
    if (file_exists(rel)) m = rel;
  }
  j["model"] = config_to_json(load_config_file(m));
}


// data.sources: [{"dir": D, "weight": W}, ...], each entry checked here (the defaults hold no entry to check against).
std::vector<DataSource> read_sources(const nlohmann::json& list, const std::string& source) {
  if (!list.is_array()) fail(source, ": 'data.sources' must be a list of {\"dir\": DIR, \"weight\": W}");
  std::vector<DataSource> out;
  for (size_t i = 0; i < list.size(); ++i) {
    const auto& e = list[i];
    const std::string at = source + ": 'data.sources[" + std::to_string(i) + "]'";
    if (!e.is_object() || !e.contains("dir") || !e["dir"].is_string() || e["dir"].get<std::string>().empty() ||
        !e.contains("weight") || !e["weight"].is_number())
      fail(at, " is ", e.dump(), ", expected {\"dir\": DIR, \"weight\": W}");
    for (const auto& [k, v] : e.items())
      if (k != "dir" && k != "weight") fail(at, ": unknown key '", k, "' (a source has dir and weight)");
    const double w = e["weight"].get<double>();
    if (!(w > 0) || !std::isfinite(w)) fail(at, ": weight ", e["weight"].dump(), ", expected a positive number");
    out.push_back({e["dir"].get<std::string>(), w});
  }
  return out;
}

// The fields of a resolved JSON, read and typed; train_config_from_json checks them.
TrainConfig read_fields(const nlohmann::json& j, const std::string& source) {
  TrainConfig c;
  c.run_dir = get<std::string>(j, "run", "dir", source);
  c.run_name = get<std::string>(j, "run", "name", source);
  if (c.run_name.empty()) c.run_name = std::filesystem::path(c.run_dir).filename().string();
  c.seed = get<uint64_t>(j, "run", "seed", source);
  c.device = get<std::string>(j, "run", "device", source);
  const auto dtype = get<std::string>(j, "run", "dtype", source);
  if (dtype != "f32" && dtype != "bf16") fail(source, ": run.dtype must be \"f32\" or \"bf16\", got \"", dtype, "\"");
  c.dtype = dtype == "bf16" ? TrainDtype::bf16 : TrainDtype::f32;
  c.threads = get<int>(j, "run", "threads", source);
  c.max_bad_steps = get<int>(j, "run", "max_bad_steps", source);
  c.dist_timeout_s = get<int64_t>(j, "run", "dist_timeout_s", source);
  if (!j.at("model").is_object()) fail(source, ": 'model' is not resolved to an object");
  c.model = config_from_json(j.at("model"), source + " (model)");
  c.init.scheme = init_scheme_from_name(get<std::string>(j, "init", "scheme", source), source + ": init.scheme");
  c.init.std = get<double>(j, "init", "std", source);
  c.data_dir = get<std::string>(j, "data", "dir", source);
  c.data_sources = read_sources(j.at("data").value("sources", nlohmann::json::array()), source);
  if (!c.data_dir.empty() && !c.data_sources.empty())
    fail(source, ": data.dir and data.sources are both set; give one (data.sources: [{\"dir\": DIR, \"weight\": W}, ",
         "...])");
  if (c.data_sources.empty() && !c.data_dir.empty()) c.data_sources = {{c.data_dir, 1}};
  if (!c.data_sources.empty()) c.data_dir = c.data_sources[0].dir;
  c.data_mode = data_mode_from_name(get<std::string>(j, "data", "mode", source), source + ": data.mode");
  c.seq_len = get<int64_t>(j, "batch", "seq_len", source);
  c.micro_batch = get<int64_t>(j, "batch", "micro_batch", source);
  c.accumulation = get<int64_t>(j, "batch", "accumulation", source);
  c.lr = get<double>(j, "optimizer", "lr", source);
  c.min_lr = get<double>(j, "optimizer", "min_lr", source);
  c.beta1 = get<double>(j, "optimizer", "beta1", source);
  c.beta2 = get<double>(j, "optimizer", "beta2", source);
  c.eps = get<double>(j, "optimizer", "eps", source);
  c.weight_decay = get<double>(j, "optimizer", "weight_decay", source);
  c.decay_embeddings = get<bool>(j, "optimizer", "decay_embeddings", source);
  c.grad_clip = get<double>(j, "optimizer", "grad_clip", source);
  c.steps = get<int64_t>(j, "schedule", "steps", source);
  c.warmup_steps = get<int64_t>(j, "schedule", "warmup_steps", source);
  c.tvr_enabled = get<bool>(j, "tvr", "enabled", source);
  c.tvr.target = get<double>(j, "tvr", "target", source);
  c.tvr_interval = get<int64_t>(j, "tvr", "interval", source);
  c.tvr_interval_tokens = get<int64_t>(j, "tvr", "interval_tokens", source);
  c.tvr.threshold = get<double>(j, "tvr", "threshold", source);
  c.tvr.depth_scaled = get<bool>(j, "tvr", "depth_scaled", source);
  c.eval_interval = get<int64_t>(j, "eval", "interval", source);
  c.val_batches = get<int64_t>(j, "eval", "val_batches", source);
  c.eval_tasks = get<std::vector<std::string>>(j, "eval", "tasks", source);
  c.eval_limit = get<int64_t>(j, "eval", "limit", source);
  c.eval_sample = get<int64_t>(j, "eval", "sample", source);
  c.eval_seed = get<uint64_t>(j, "eval", "seed", source);
  c.eval_data_dir = get<std::string>(j, "eval", "data_dir", source);
  c.eval_bos = get<bool>(j, "eval", "bos", source);
  c.eval_rules = get<std::string>(j, "eval", "rules", source);
  c.ckpt_interval = get<int64_t>(j, "checkpoint", "interval", source);
  c.ckpt_keep = get<int64_t>(j, "checkpoint", "keep", source);
  c.log_interval = get<int64_t>(j, "log", "interval", source);
  c.telemetry_interval = get<int64_t>(j, "log", "telemetry_interval", source);
  c.peak_tflops = get<double>(j, "log", "peak_tflops", source);
  c.probe_text = get<std::string>(j, "log", "probe_text", source);
  c.tensorboard = get<bool>(j, "log", "tensorboard", source);
  // The paper states TVR's interval in tokens (10 MT ... 1 GT between rescales): the nearest whole number of steps.
  if (c.tvr_interval_tokens > 0 && c.tokens_per_step() > 0)
    c.tvr_interval = std::max<int64_t>(1, std::llround(static_cast<double>(c.tvr_interval_tokens) /
                                                      static_cast<double>(c.tokens_per_step())));
  return c;
}

}  // namespace

TrainConfig default_train_config(const ModelConfig& model) {
  nlohmann::json j = defaults();
  j["model"] = config_to_json(model);
  return read_fields(j, "wr-train's defaults");
}

TrainConfig train_config_from_json(const nlohmann::json& j, const std::string& source) {
  TrainConfig c = read_fields(j, source);
  auto need = [&](bool ok, const char* what) {
    if (!ok) fail(source, ": ", what);
  };
  need(c.dist_timeout_s > 0, "run.dist_timeout_s must be positive (seconds)");
  need(c.dtype == TrainDtype::f32 || starts_with(c.device, "cuda"), "run.dtype \"bf16\" needs run.device \"cuda\" (CPU trains in f32)");
  need(c.init.std > 0, "init.std must be positive");
  need(!c.data_dir.empty(), "data.dir is empty (a directory made by `wr-data tokenize`; or data.sources)");
  need(c.data_sources.size() == 1 || c.data_mode == DataMode::random,
       "data.mode \"sequential\" reads one folder in order; a mixture (data.sources) draws at random");
  need(c.seq_len >= 1 && c.seq_len <= c.model.max_seq_len, "batch.seq_len must be in [1, model.max_seq_len]");
  need(c.micro_batch >= 1 && c.accumulation >= 1, "batch.micro_batch and batch.accumulation must be >= 1");
  need(c.lr > 0 && c.min_lr >= 0 && c.min_lr <= c.lr, "optimizer: need lr > 0 and 0 <= min_lr <= lr");
  need(c.beta1 >= 0 && c.beta1 < 1 && c.beta2 >= 0 && c.beta2 < 1 && c.eps > 0, "optimizer: betas in [0, 1), eps > 0");
  need(c.weight_decay >= 0 && c.grad_clip >= 0, "optimizer: weight_decay and grad_clip must be >= 0 (grad_clip 0: off)");
  need(c.steps >= 1 && c.warmup_steps >= 0 && c.warmup_steps <= c.steps, "schedule: need steps >= 1 and 0 <= warmup_steps <= steps");
  need(c.tvr.target > 0 && c.tvr.threshold > 0 && c.tvr_interval >= 1 && c.tvr_interval_tokens >= 0,
       "tvr: target, threshold and interval must be positive, interval_tokens >= 0");
  need(c.eval_interval >= 0 && c.val_batches >= 0 && c.eval_limit >= 0 && c.eval_sample >= 0,
       "eval: interval, val_batches, limit and sample must be >= 0");
  need(c.eval_limit == 0 || c.eval_sample == 0, "eval: limit (the first N documents) and sample (a seeded random N) are exclusive");
  need(c.ckpt_interval >= 0 && c.ckpt_keep >= 1, "checkpoint: interval >= 0 and keep >= 1");
  need(c.log_interval >= 1 && c.telemetry_interval >= 1, "log: interval and telemetry_interval must be >= 1");
  need(c.max_bad_steps >= 1, "run.max_bad_steps must be >= 1");
  need(c.threads >= 0, "run.threads must be >= 0 (0: all cores)");
  need(!c.run_dir.empty(), "run.dir must name a directory (the run's checkpoints, telemetry and config go there)");
  try {  // the rule set and each task under it, so a misspelt name fails before hours of training
    const RuleSet rules = load_rules(c.eval_rules);
    std::set<std::string> named;
    for (const auto& t : c.eval_tasks) {
      if (!named.insert(t).second) fail("tasks names ", t, " twice");
      load_task(rules.definition_of(t));
    }
  } catch (const Error& e) {
    fail(source, ": eval: ", e.what());
  }
  return c;
}

nlohmann::json resolve_train_config(const std::string& path, const std::vector<std::string>& overrides, TrainConfig* out) {
  nlohmann::json j = defaults();
  if (!path.empty()) {
    nlohmann::json file;
    try {
      file = parse_json(read_file(path));
    } catch (const nlohmann::json::exception& e) {
      fail(path, ": not valid JSON: ", e.what());
    }
    merge(j, file, "", path);
  }
  resolve_model(j, path);
  for (const auto& o : overrides) {
    const auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0) fail("override '", o, "': expected key=value, e.g. optimizer.lr=3e-4");
    const std::string key = o.substr(0, eq), text = o.substr(eq + 1);
    nlohmann::json value;
    try {
      value = parse_json(text);
    } catch (const nlohmann::json::exception&) {
      value = text;  // not JSON (or nested beyond the bound): a string, which the typed check refuses where it must
    }
    // "a.b.c=v" becomes {"a": {"b": {"c": v}}} and goes through the same key check as the file.
    nlohmann::json nested = value;
    for (size_t end = key.size(); end != std::string::npos;) {
      size_t dot = key.rfind('.', end - 1);
      std::string part = key.substr(dot == std::string::npos ? 0 : dot + 1, end - (dot == std::string::npos ? 0 : dot + 1));
      nested = nlohmann::json{{part, nested}};
      end = dot;
    }
    merge(j, nested, "", "override '" + o + "'");
  }
  resolve_model(j, path);
  try {
    *out = train_config_from_json(j, path.empty() ? "wr-train config" : path);
  } catch (const Error& e) {
    // A bad value from the command line is not the file's fault: name the override that set it.
    std::string message = e.what();
    for (const auto& o : overrides)
      if (message.find(o.substr(0, o.find('='))) != std::string::npos) message += " (from the override '" + o + "')";
    throw Error(message);
  }
  return j;
}

double lr_at(const TrainConfig& c, int64_t step) {
  if (step < c.warmup_steps) return c.lr * static_cast<double>(step + 1) / static_cast<double>(c.warmup_steps);
  const int64_t decay_steps = c.steps - c.warmup_steps;
  if (decay_steps <= 0) return c.lr;
  const double progress = std::min(1.0, static_cast<double>(step - c.warmup_steps) / static_cast<double>(decay_steps));
  return c.min_lr + 0.5 * (c.lr - c.min_lr) * (1.0 + std::cos(M_PI * progress));
}

}  // namespace wr
