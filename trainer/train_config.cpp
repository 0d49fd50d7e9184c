// wr-train's configuration: the key table (name, default, help, member), the include chain, the overrides and the
// checks. What it does not do: train (trainer/train.cpp) or parse a model file (model/config.cpp).
#include "trainer/train_config.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
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

// One key's value in a resolved JSON, read as its member's type: a wrong type is an error naming the key.
struct Value {
  const nlohmann::json& j;
  const std::string& source;
  const char* key;

  std::string where() const { return source + ": '" + key + "'"; }
  [[noreturn]] void wrong_type() const { fail(where(), " has the wrong type (", j.dump(), ")"); }
  template <typename T>  // 20.5 is not a step count
  T integer() const {
    return static_cast<T>(json_integer(j, where(), std::is_unsigned_v<T> ? 0 : std::numeric_limits<T>::min(),
                                       static_cast<int64_t>(std::min<uint64_t>(std::numeric_limits<T>::max(),
                                                                               std::numeric_limits<int64_t>::max()))));
  }
  double number() const { return j.is_number() ? j.get<double>() : (wrong_type(), 0.0); }
  bool boolean() const { return j.is_boolean() ? j.get<bool>() : (wrong_type(), false); }
  std::string text() const { return j.is_string() ? j.get<std::string>() : (wrong_type(), std::string()); }
  std::vector<std::string> texts() const {
    if (!j.is_array() || !std::all_of(j.begin(), j.end(), [](const nlohmann::json& e) { return e.is_string(); }))
      wrong_type();
    return j.get<std::vector<std::string>>();
  }
};

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

// Every key wr-train knows, once: its name, its default (JSON text), what it means, and the member it sets.
// The defaults JSON (defaults()), the reader (read_fields) and the printed table (describe_train_config) all
// come from here. "model" is a configs/model file name or an inline object (model/config.h checks its keys).
struct Key {
  const char* name;
  const char* default_value;
  const char* help;
  void (*read)(TrainConfig& c, const Value& v);
};

const Key kKeys[] = {
    {"comment", R"("")", "free text saying what the config is for", [](TrainConfig&, const Value&) {}},
    // run
    {"run.dir", R"("runs/run")", "the run's directory: checkpoints, telemetry, config.json",
     [](TrainConfig& c, const Value& v) { c.run_dir = v.text(); }},
    {"run.name", R"("")", "the run's name in logs and results (\"\": the last part of run.dir)",
     [](TrainConfig& c, const Value& v) { c.run_name = v.text(); }},
    {"run.seed", "1", "seed of the initialisation and the data order",
     [](TrainConfig& c, const Value& v) { c.seed = v.integer<uint64_t>(); }},
    {"run.device", R"("cpu")", "cpu | cuda | cuda:N", [](TrainConfig& c, const Value& v) { c.device = v.text(); }},
    {"run.dtype", R"("f32")", "f32 | bf16 (autocast over f32 master weights, CPU or CUDA)",
     [](TrainConfig& c, const Value& v) {
       const std::string d = v.text();
       if (d != "f32" && d != "bf16") fail(v.source, ": run.dtype must be \"f32\" or \"bf16\", got \"", d, "\"");
       c.dtype = d == "bf16" ? TrainDtype::bf16 : TrainDtype::f32;
     }},
    {"run.threads", "0", "CPU threads (0: all cores)", [](TrainConfig& c, const Value& v) { c.threads = v.integer<int>(); }},
    {"run.max_bad_steps", "5", "consecutive non-finite losses before the run stops",
     [](TrainConfig& c, const Value& v) { c.max_bad_steps = v.integer<int>(); }},
    {"run.dist_timeout_s", "1800", "data parallel: seconds a process waits in a collective before failing",
     [](TrainConfig& c, const Value& v) { c.dist_timeout_s = v.integer<int64_t>(); }},
    // model and init
    {"model", "{}", "a configs/model file name (relative to the config file) or an inline object",
     [](TrainConfig& c, const Value& v) {
       if (!v.j.is_object()) fail(v.source, ": 'model' is not resolved to an object");
       c.model = config_from_json(v.j, v.source + " (model)");
     }},
    {"init.scheme", R"("lir")", "lir | normal (model/init.h)",
     [](TrainConfig& c, const Value& v) { c.init.scheme = init_scheme_from_name(v.text(), v.source + ": init.scheme"); }},
    {"init.std", "0.006", "the initial weights' standard deviation", [](TrainConfig& c, const Value& v) { c.init.std = v.number(); }},
    // data
    {"data.dir", R"("")", "shards made by `wr-data tokenize`", [](TrainConfig& c, const Value& v) { c.data_dir = v.text(); }},
    {"data.sources", "[]", "instead of data.dir: [{\"dir\": DIR, \"weight\": W}, ...] drawn from in proportion",
     [](TrainConfig& c, const Value& v) { c.data_sources = read_sources(v.j, v.source); }},
    {"data.mode", R"("random")", "random | sequential (trainer/shards.h)",
     [](TrainConfig& c, const Value& v) { c.data_mode = data_mode_from_name(v.text(), v.source + ": data.mode"); }},
    // batch
    {"batch.seq_len", "256", "tokens a sequence", [](TrainConfig& c, const Value& v) { c.seq_len = v.integer<int64_t>(); }},
    {"batch.micro_batch", "16", "sequences a micro-batch", [](TrainConfig& c, const Value& v) { c.micro_batch = v.integer<int64_t>(); }},
    {"batch.accumulation", "1", "micro-batches an optimizer step",
     [](TrainConfig& c, const Value& v) { c.accumulation = v.integer<int64_t>(); }},
    // optimizer (AdamW) and schedule
    {"optimizer.lr", "6e-4", "peak learning rate (after warmup)", [](TrainConfig& c, const Value& v) { c.lr = v.number(); }},
    {"optimizer.min_lr", "6e-5", "learning rate at the end of the cosine decay",
     [](TrainConfig& c, const Value& v) { c.min_lr = v.number(); }},
    {"optimizer.beta1", "0.9", "AdamW beta1", [](TrainConfig& c, const Value& v) { c.beta1 = v.number(); }},
    {"optimizer.beta2", "0.95", "AdamW beta2", [](TrainConfig& c, const Value& v) { c.beta2 = v.number(); }},
    {"optimizer.eps", "1e-7", "AdamW epsilon", [](TrainConfig& c, const Value& v) { c.eps = v.number(); }},
    {"optimizer.weight_decay", "0.1", "decoupled weight decay (matrices only, never norms)",
     [](TrainConfig& c, const Value& v) { c.weight_decay = v.number(); }},
    {"optimizer.decay_embeddings", "true", "weight decay on the embeddings too",
     [](TrainConfig& c, const Value& v) { c.decay_embeddings = v.boolean(); }},
    {"optimizer.grad_clip", "1.0", "gradient norm clip (0: none)", [](TrainConfig& c, const Value& v) { c.grad_clip = v.number(); }},
    {"schedule.steps", "1000", "optimizer steps (cosine decay ends here)",
     [](TrainConfig& c, const Value& v) { c.steps = v.integer<int64_t>(); }},
    {"schedule.warmup_steps", "100", "linear warmup steps", [](TrainConfig& c, const Value& v) { c.warmup_steps = v.integer<int64_t>(); }},
    // TVR (model/variance.h)
    {"tvr.enabled", "true", "rescale weights to a target std (TVR)", [](TrainConfig& c, const Value& v) { c.tvr_enabled = v.boolean(); }},
    {"tvr.target", "0.01", "the std TVR rescales to", [](TrainConfig& c, const Value& v) { c.tvr.target = v.number(); }},
    {"tvr.interval", "100", "steps between rescales", [](TrainConfig& c, const Value& v) { c.tvr_interval = v.integer<int64_t>(); }},
    {"tvr.interval_tokens", "0", "> 0: the interval in tokens instead (nearest whole number of steps)",
     [](TrainConfig& c, const Value& v) { c.tvr_interval_tokens = v.integer<int64_t>(); }},
    {"tvr.threshold", "1.0", "rescale only where std / target exceeds this",
     [](TrainConfig& c, const Value& v) { c.tvr.threshold = v.number(); }},
    {"tvr.depth_scaled", "false", "target / sqrt(l) for layer l (the paper found it worse)", [](TrainConfig& c, const Value& v) { c.tvr.depth_scaled = v.boolean(); }},
    // periodic evaluation
    {"eval.interval", "0", "steps between evaluations (0: never)", [](TrainConfig& c, const Value& v) { c.eval_interval = v.integer<int64_t>(); }},
    {"eval.val_batches", "8", "validation-loss batches an evaluation", [](TrainConfig& c, const Value& v) { c.val_batches = v.integer<int64_t>(); }},
    {"eval.tasks", "[]", "task names scored at each evaluation", [](TrainConfig& c, const Value& v) { c.eval_tasks = v.texts(); }},
    {"eval.limit", "0", "score each task's first N documents (0: all)", [](TrainConfig& c, const Value& v) { c.eval_limit = v.integer<int64_t>(); }},
    {"eval.sample", "0", "score a seeded random N documents instead (0: off)",
     [](TrainConfig& c, const Value& v) { c.eval_sample = v.integer<int64_t>(); }},
    {"eval.seed", "1234", "seed of eval.sample", [](TrainConfig& c, const Value& v) { c.eval_seed = v.integer<uint64_t>(); }},
    {"eval.data_dir", R"("")", "where the task files are (\"\": the default)", [](TrainConfig& c, const Value& v) { c.eval_data_dir = v.text(); }},
    {"eval.bos", "true", "score with BOS first", [](TrainConfig& c, const Value& v) { c.eval_bos = v.boolean(); }},
    {"eval.rules", R"("lm-eval")", "the rule set tasks are formulated and scored by (tasks/rules.h)",
     [](TrainConfig& c, const Value& v) { c.eval_rules = v.text(); }},
    {"eval.quant", "[]", "also score the tasks under these quantization schemes (w8, w4g128, w8a8, a8t, fp8), paired",
     [](TrainConfig& c, const Value& v) { c.eval_quant = v.texts(); }},
    // checkpoints and logging
    {"checkpoint.interval", "0", "steps between checkpoints (0: only at the end)",
     [](TrainConfig& c, const Value& v) { c.ckpt_interval = v.integer<int64_t>(); }},
    {"checkpoint.keep", "3", "checkpoints kept (the newest)", [](TrainConfig& c, const Value& v) { c.ckpt_keep = v.integer<int64_t>(); }},
    {"log.interval", "10", "steps between log lines", [](TrainConfig& c, const Value& v) { c.log_interval = v.integer<int64_t>(); }},
    {"log.telemetry_interval", "100", "steps between telemetry rows (matrix statistics, activations)",
     [](TrainConfig& c, const Value& v) { c.telemetry_interval = v.integer<int64_t>(); }},
    {"log.peak_tflops", "0", "the chip's peak TFLOP/s for MFU (0: the measured matmul rate)",
     [](TrainConfig& c, const Value& v) { c.peak_tflops = v.number(); }},
    {"log.probe_text", R"("")", "the activation probe (\"\": the validation split's first seq_len tokens)",
     [](TrainConfig& c, const Value& v) { c.probe_text = v.text(); }},
    {"log.tensorboard", "true", "telemetry also as TensorBoard scalars in run.dir/tb",
     [](TrainConfig& c, const Value& v) { c.tensorboard = v.boolean(); }},
};

// The JSON pointer of a dotted key: "optimizer.lr" -> /optimizer/lr.
nlohmann::json::json_pointer pointer_of(const std::string& key) {
  std::string p = "/" + key;
  std::replace(p.begin(), p.end(), '.', '/');
  return nlohmann::json::json_pointer(p);
}

// The defaults as a JSON tree, built from the table.
const nlohmann::json& defaults() {
  static const nlohmann::json d = [] {
    nlohmann::json j = nlohmann::json::object();
    for (const Key& k : kKeys) j[pointer_of(k.name)] = nlohmann::json::parse(k.default_value);
    return j;
  }();
  return d;
}

std::vector<std::string> known_keys() {
  std::vector<std::string> keys;
  for (const Key& k : kKeys) keys.push_back(k.name);
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
      std::string hint = closest(key, known_keys());
      fail(source, ": unknown key '", key, "'", hint.empty() ? "" : " (did you mean '" + hint + "'?)");
    }
    if (!check || key == "model" || !base[k].is_object()) base[k] = v;
    else merge(base[k], v, key + ".", source);
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

// `over`'s values over `base`'s, object by object (a non-object value replaces what was there).
void overlay(nlohmann::json& base, const nlohmann::json& over) {
  for (const auto& [k, v] : over.items()) {
    if (v.is_object() && base.contains(k) && base[k].is_object()) overlay(base[k], v);
    else base[k] = v;
  }
}

// A config file with its `"include": "base.json"` applied (found relative to the including file, itself maybe
// including another): the base's values first, the file's over them. `chain` holds the files being read, so a
// cycle is an error naming them. A model named by file is found relative to the file that names it.
nlohmann::json load_config_json(const std::string& path, std::vector<std::string>& chain) {
  const std::string id = std::filesystem::weakly_canonical(path).string();
  if (std::find(chain.begin(), chain.end(), id) != chain.end()) {
    std::string cycle;
    for (const auto& f : chain) cycle += f + " -> ";
    fail(path, ": include cycle: ", cycle, id);
  }
  nlohmann::json file;
  try {
    file = parse_json(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": not valid JSON: ", e.what());
  }
  if (!file.is_object()) fail(path, ": '(top level)' must be an object");
  if (file.contains("model") && file["model"].is_string()) {
    const std::string m = file["model"].get<std::string>();
    const std::string rel = (std::filesystem::path(path).parent_path() / m).string();
    if (!file_exists(m) && file_exists(rel)) file["model"] = rel;
  }
  if (!file.contains("include")) return file;
  if (!file["include"].is_string() || file["include"].get<std::string>().empty())
    fail(path, ": 'include' must name a config file (relative to this one), got ", file["include"].dump());
  const std::string base_path =
      (std::filesystem::path(path).parent_path() / file["include"].get<std::string>()).string();
  if (!file_exists(base_path)) fail(path, ": include '", file["include"].get<std::string>(), "' not found (", base_path, ")");
  chain.push_back(id);
  nlohmann::json merged = load_config_json(base_path, chain);
  chain.pop_back();
  file.erase("include");
  overlay(merged, file);
  return merged;
}

// The fields of a resolved JSON, read and typed by the table; train_config_from_json checks them. A key missing
// from a saved config.json (a run from before the key existed) takes its default.
TrainConfig read_fields(const nlohmann::json& j, const std::string& source) {
  TrainConfig c;
  for (const Key& k : kKeys) {
    const auto at = pointer_of(k.name);
    k.read(c, Value{j.contains(at) ? j.at(at) : defaults().at(at), source, k.name});
  }
  if (c.run_name.empty()) c.run_name = std::filesystem::path(c.run_dir).filename().string();
  if (!c.data_dir.empty() && !c.data_sources.empty())
    fail(source, ": data.dir and data.sources are both set; give one (data.sources: [{\"dir\": DIR, \"weight\": W}, ",
         "...])");
  if (c.data_sources.empty() && !c.data_dir.empty()) c.data_sources = {{c.data_dir, 1}};
  if (!c.data_sources.empty()) c.data_dir = c.data_sources[0].dir;
  // The paper states TVR's interval in tokens (10 MT ... 1 GT between rescales): the nearest whole number of steps.
  if (c.tvr_interval_tokens > 0 && c.tokens_per_step() > 0)
    c.tvr_interval = std::max<int64_t>(1, std::llround(static_cast<double>(c.tvr_interval_tokens) /
                                                      static_cast<double>(c.tokens_per_step())));
  return c;
}

}  // namespace

std::vector<TrainKey> train_config_keys() {
  std::vector<TrainKey> keys;
  for (const Key& k : kKeys) keys.push_back({k.name, k.default_value, k.help});
  return keys;
}

const nlohmann::json& train_config_defaults() { return defaults(); }

std::string describe_train_config(const nlohmann::json& resolved) {
  std::string out;
  for (const Key& k : kKeys) {
    const auto at = pointer_of(k.name);
    const nlohmann::json& d = defaults().at(at);
    const nlohmann::json& v = resolved.contains(at) ? resolved.at(at) : d;
    if (std::string(k.name) == "comment") continue;  // free text, often a paragraph
    std::string value = v.dump();
    if (value.size() < 16) value.resize(16, ' ');
    char name[32];
    std::snprintf(name, sizeof(name), "%-26s", k.name);
    out += std::string(name) + " " + value + (v == d ? "   " : " * ") + k.help;
    if (v != d) out += " (default " + d.dump() + ")";
    out += "\n";
  }
  return out;
}

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
    std::vector<std::string> chain;
    merge(j, load_config_json(path, chain), "", path);
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
