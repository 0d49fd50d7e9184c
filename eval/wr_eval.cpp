// wr-eval: score checkpoints on benchmark tasks the way lm-evaluation-harness does, evaluating each shared
// context once; a wr-train run directory is each of its checkpoints, in step order (a sweep).
//   wr-eval --tasks arc_easy,hellaswag ckpt.pt [--output results.csv] [--json results.json]
//   wr-eval --tasks arc_easy,hellaswag runs/baseline runs/tvr --output sweep.csv [--tensorboard tb]
//   torchrun --nproc-per-node 8 --no-python wr-eval --tasks hellaswag runs/baseline --output sweep.csv
//   wr-eval tasks list | tasks show NAME [--n 3]
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "common/allocator.h"
#include "common/cli.h"
#include "common/error.h"
#include "common/file.h"
#include "common/strings.h"
#include "eval/compare.h"
#include "eval/evaluate.h"
#include "eval/quant_variants.h"
#include "eval/report.h"
#include "model/io/model_file.h"
#include "model/io/model_tokenizer.h"
#include "model/quant.h"
#include "model/backend/torch_compat.h"
#include "tasks/download_cli.h"
#include "trainer/checkpointer.h"
#include "trainer/distributed.h"
#include "trainer/tensorboard.h"

namespace {

const std::vector<wr::Option> kOptions = wr::with_download_options({
    {"--tasks", "LIST", "comma-separated task names (wr-eval tasks list)", "", "WR_TASKS"},
    {"--rules", "NAME", "the harness whose task formulations and request rules to follow: lm-eval or lighteval (the "
                        "SmolLM suite, likely the paper's)", "lm-eval", "WR_RULES"},
    {"--tokenizer", "PATH", "SentencePiece .model, tokenizer.json or HF directory (default: the one the checkpoint carries)", "", "WR_TOKENIZER"},
    {"--format", "F", "model format: native, hf or llama2c (default: from the path)", "", ""},
    {"--data-dir", "DIR", "task data directory", "~/.cache/wr/tasks", "WR_DATA_DIR"},
    {"--limit", "N", "score only the first N documents of each task (0: all)", "0", ""},
    {"--sample", "N", "score a seeded random N documents of each task, the same for every model (0: off)", "0", ""},
    {"--bos", "on|off", "prepend BOS to every context (default: as the model and its tokenizer say; the outputs "
                        "record which and why)", "", ""},
    {"--num-fewshot", "K", "K examples from the same split before each context (0: zero-shot, the paper's setting)", "0", ""},
    {"--seed", "N", "seed of the few-shot draws and of --sample", "1234", ""},
    {"--no-share", "", "score every request as its own sequence (the harness's way) instead of sharing contexts", "", ""},
    {"--batch-tokens", "N", "padded tokens per forward pass", "4096", "WR_BATCH_TOKENS"},
    {"--output", "CSV", "append one row per task and metric to this CSV; rows it already holds (same run, step, task "
                        "and settings) are not scored again", "", ""},
    {"--force", "", "score again what --output already holds (its rows are replaced)", "", ""},
    {"--tensorboard", "DIR", "also write each run's metrics as TensorBoard scalars in DIR/RUN, at the checkpoint's "
                             "step", "", ""},
    {"--json", "PATH", "write lm-evaluation-harness style results JSON", "", ""},
    {"--log-samples", "PATH", "write per-request JSONL (context, continuation, tokens, ll, is_greedy, pred, gold)", "", ""},
    {"--run", "NAME", "run name in the CSV (default: a run directory's name; a checkpoint's folder and file name, "
                      "dir/ckpt.pt)", "", ""},
    {"--device", "D", "cpu or cuda", "cpu", "WR_DEVICE"},
    {"--dtype", "f32|bf16", "model dtype (log-softmax is always float32)", "f32", ""},
    {"--threads", "N", "CPU threads (0: all cores)", "0", "WR_THREADS"},
    {"--dist-timeout", "S", "data parallel (torchrun): seconds a process waits for the others before failing", "1800", ""},
    {"--quant", "LIST", "also score under simulated quantization, paired with the model: w8, w4g128, w8a8, a8t, fp8 "
                        "(docs/EVALUATION.md)", "", ""},
    {"--quant-scope", "decoder|all", "the linear layers --quant rounds: the decoder's seven per layer, or also lm_head",
     "decoder", ""},
    {"--quant-calibration", "FILE", "a8t's static input scales: the first 64 windows of up to 512 tokens of this text",
     "", ""},
    {"--n", "N", "tasks show: documents to print", "3", ""},
    {"--samples", "A,B", "compare: per-sample logs of two runs for a paired significance test", "", ""},
    {"--help", "", "show this help", "", ""},
});

const char* kSynopsis =
    "wr-eval --tasks T1,T2 [options] MODEL...\n"
    "       wr-eval tasks list [--rules R]\n"
    "       wr-eval tasks show NAME [--rules R] [--n 3] [--data-dir DIR]\n"
    "       wr-eval tasks download NAME... [--rules R] [--data-dir DIR] [--mirror URL] [--offline]\n"
    "       wr-eval compare A.csv B.csv ... [--samples A.jsonl,B.jsonl]\n"
    "MODEL: a native ckpt.pt, a Hugging Face LLaMA directory, a llama2.c .bin, or a wr-train run directory (each\n"
    "of its checkpoints in step order; with --output a rerun scores only what the CSV lacks)\n"
    "Data parallel: torchrun --nproc-per-node N --no-python wr-eval ... splits each task's documents across the N\n"
    "processes (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT as wr-train reads them); rank 0 writes every output";

std::string data_dir(const wr::Args& args) {
  return args.given("--data-dir") ? args.get("--data-dir") : wr::default_data_dir();
}

// The task a name means under --rules.
wr::TaskDef load_task(const std::string& name, const wr::Args& args) {
  return wr::load_task(wr::load_rules(args.get("--rules")).definition_of(name));
}

// The data files a task reads (its subtasks' too), under the data directory: inputs no output may replace.
void add_task_files(const wr::TaskDef& task, const std::string& dir, std::vector<std::string>& out) {
  for (const auto& sub : task.subtasks) add_task_files(wr::load_task(sub), dir, out);
  for (const auto& f : task.files) out.push_back(dir + "/" + f.path);
}

// Fails before any work when the outputs could not be written: each must be a regular file (or new) in a
// writable directory, no two may be one file, none may be an input (the model, tokenizer, task data), and a CSV to
// append to must carry wr's header.
void check_outputs(const wr::Args& args, const std::vector<std::string>& inputs) {
  std::vector<std::pair<std::string, std::string>> outputs;  // option, path
  for (const char* o : {"--output", "--json", "--log-samples"})
    if (!args.get(o).empty()) outputs.emplace_back(o, args.get(o));
  for (size_t i = 0; i < outputs.size(); ++i) {
    const auto& [option, path] = outputs[i];
    wr::check_output_path(path, option);
    for (size_t k = 0; k < i; ++k)
      if (wr::same_file(path, outputs[k].second))
        wr::fail(outputs[k].first, " and ", option, " name the same file ", path, "; give each output its own path");
    wr::check_not_an_input(path, option, inputs);
  }
  if (!args.get("--output").empty()) wr::read_csv_to_append(args.get("--output"));
}

// Fetches whatever the tasks need and the data directory lacks (or names it, offline).
void ensure_task_files(const std::vector<std::string>& names, const wr::Args& args) {
  const auto opt = wr::download_options_from_args(args, data_dir(args));
  for (const auto& name : names) {
    for (const auto& path : wr::download_task(load_task(name, args), opt)) {
      if (opt.progress) std::fprintf(stderr, "\n");
      std::fprintf(stderr, "fetched %s\n", path.c_str());
    }
  }
}

void tasks_command(const wr::Args& args) {
  const auto& p = args.positional;
  if (p.size() == 2 && p[1] == "list") {  // the tasks under --rules, by the names --tasks takes
    const auto rules = wr::load_rules(args.get("--rules"));
    std::printf("rules %s: %s\n", rules.id().c_str(), rules.description.c_str());
    for (const auto& definition : wr::task_names()) {
      const bool mine = rules.definitions.empty() ? definition.find('/') == std::string::npos
                                                  : wr::starts_with(definition, rules.definitions + "/");
      if (!mine) continue;
      auto t = wr::load_task(definition);
      std::printf("%-20s %s\n", t.name.c_str(), t.description.c_str());
    }
    return;
  }
  if (p.size() >= 3 && p[1] == "download") {
    std::vector<std::string> names;
    for (size_t i = 2; i < p.size(); ++i)
      for (auto& n : wr::split_list(p[i], ',')) names.push_back(n);
    if (std::count(names.begin(), names.end(), "all")) {  // every task with files to fetch
      names.clear();
      for (const auto& definition : wr::task_names()) {
        const auto t = wr::load_task(definition);
        if (t.definition == t.name && (!t.subtasks.empty() || t.files[0].generated_by.empty())) names.push_back(t.name);
      }
    }
    for (const auto& n : names) load_task(n, args);  // unknown names fail before any download
    ensure_task_files(names, args);
    for (const auto& n : names) {
      const auto t = load_task(n, args);
      for (const auto& leaf : t.subtasks.empty() ? std::vector<std::string>{t.definition} : t.subtasks) {
        const auto task = wr::load_task(leaf);
        std::printf("%-20s %zu documents in %s\n", task.name.c_str(), wr::build_docs(task, data_dir(args)).size(),
                    data_dir(args).c_str());
      }
    }
    return;
  }
  if (p.size() == 3 && p[1] == "show") {
    auto t = load_task(p[2], args);
    if (!t.subtasks.empty()) {  // a group: its members, each shown by name
      std::cout << t.name << ": " << t.description << "\n";
      for (const auto& sub : t.subtasks) {
        const std::string name = wr::load_task(sub).name;
        std::cout << "  " << name << " (" << t.category_of.at(name) << ")\n";
      }
      return;
    }
    ensure_task_files({p[2]}, args);
    auto docs = wr::build_docs(t, data_dir(args), args.get_int("--n", 0));
    std::cout << t.name << ": " << t.description << "\nrules: " << t.harness << "\n";
    for (const auto& d : docs) {
      std::cout << "\n--- doc " << d.id << " (gold " << d.gold << ")\n";
      if (t.generative) {
        std::cout << "context: " << nlohmann::json(d.requests[0].context).dump() << "\ngenerate until "
                  << nlohmann::json(t.until).dump() << "; accepted answers: " << nlohmann::json(d.choices).dump() << "\n";
        continue;
      }
      for (size_t i = 0; i < d.requests.size(); ++i)
        std::cout << "[" << i << "] context: " << nlohmann::json(d.requests[i].context).dump()
                  << "\n    continuation: " << nlohmann::json(d.requests[i].continuation).dump() << "\n";
    }
    return;
  }
  wr::fail("usage: wr-eval tasks list | tasks show NAME | tasks download NAME...");
}

// --quant's variants of the model (weights rounded once, here; a8t's input ranges from --quant-calibration), and
// what they were for the outputs.
std::vector<wr::ScoreVariant> requested_quant_variants(const wr::Args& args, wr::Llama& model, const wr::Tokenizer& tok, bool bos,
                                                       nlohmann::json& config, bool say) {
  if (args.get("--quant").empty()) return {};
  const auto t0 = std::chrono::steady_clock::now();
  const auto schemes = wr::parse_quant_list(args.get("--quant"));
  const bool head = args.get("--quant-scope") == "all";
  config = {{"schemes", nlohmann::json::array()}, {"scope", head ? "all" : "decoder"}, {"calibration", nullptr}};
  for (const auto& s : schemes) config["schemes"].push_back(s.name);
  bool calibrated = false;
  auto out = wr::quant_variants(model, schemes, head, [&] {
    const std::string file = args.get("--quant-calibration");
    const auto windows = wr::calibration_windows(tok, wr::read_file(file), bos, model->config.max_seq_len);
    config["calibration"] = {{"file", file}, {"windows", windows.size()}, {"tokens", windows[0].size()}};
    calibrated = true;
    return windows;
  });
  if (say)
    std::fprintf(stderr, "wr-eval: --quant %s (%s): weights rounded%s in %.1f s\n", args.get("--quant").c_str(),
               head ? "decoder and lm_head" : "decoder", calibrated ? ", a8t calibrated" : "",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return out;
}

// A one-line progress bar on a terminal; silent otherwise.
std::function<void(int64_t, int64_t)> progress_bar(const std::string& task) {
  if (!isatty(STDERR_FILENO)) return nullptr;
  auto start = std::chrono::steady_clock::now();
  return [task, start](int64_t done, int64_t total) {
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    double rate = done / std::max(s, 1e-9);
    std::fprintf(stderr, "\r%-16s %7ld/%-7ld docs %8.1f docs/s  ETA %5.0fs ", task.c_str(), static_cast<long>(done),
                 static_cast<long>(total), rate, (total - done) / std::max(rate, 1e-9));
    if (done == total) std::fprintf(stderr, "\n");
  };
}

// A MODEL argument as the checkpoints it means: a wr-train run directory (one holding ckpt_<step>.pt files) each
// of them in step order under the directory's name, anything else itself under --run or default_run_name.
struct ModelArg {
  std::string path, run;
  int64_t step = -1;  // a run directory's checkpoint: the step its name says; -1 otherwise
};

std::vector<ModelArg> expand_models(const wr::Args& args) {
  const auto& paths = args.positional;
  if (paths.empty()) wr::fail("expected a MODEL argument; see wr-eval --help");
  if (args.given("--run") && paths.size() > 1)
    wr::fail("--run names one model's rows; with ", paths.size(), " MODEL arguments each is named after its file or "
             "run directory");
  std::vector<ModelArg> out;
  std::map<std::string, std::string> argument_of;  // run name -> the argument it names
  for (const auto& p : paths) {
    const auto checkpoints = wr::is_directory(p) ? wr::list_checkpoints(p) : std::vector<std::string>{};
    std::string run = args.get("--run");
    if (run.empty()) {
      auto dir = std::filesystem::absolute(p).lexically_normal();
      if (dir.filename().empty()) dir = dir.parent_path();  // "runs/a/" names the folder a
      run = checkpoints.empty() ? wr::default_run_name(p) : dir.filename().string();
    }
    const auto [named, added] = argument_of.emplace(run, p);
    if (!added && named->second == p) wr::fail(p, " is named twice");
    if (!added)
      wr::fail(named->second, " and ", p, " would both be run '", run, "' in the outputs; score them in two commands "
               "with --run");
    if (checkpoints.empty()) out.push_back({p, run, -1});
    for (const auto& c : checkpoints)  // ckpt_<8 digits>.pt
      out.push_back({c, run, std::stoll(std::filesystem::path(c).filename().string().substr(5, 8))});
  }
  return out;
}

// The tasks of `tasks` whose rows `done` (the keys of the rows --output holds) lacks for this checkpoint, under
// the model's own name ("none") or any --quant scheme.
std::vector<std::string> tasks_left(const std::vector<std::string>& tasks, const std::vector<std::string>& row_names,
                                    const std::vector<std::string>& quants, const wr::RunInfo& info,
                                    const std::set<std::string>& done) {
  std::vector<std::string> left;
  for (size_t t = 0; t < tasks.size(); ++t)
    for (const auto& q : quants)
      if (!done.count(wr::row_key(info, row_names[t], q))) {
        left.push_back(tasks[t]);
        break;
      }
  return left;
}

// TensorBoard's tags for a row: wr-train's ("eval.<task>/<metric>", its stderr as <metric>_stderr), a --quant
// scheme's under "eval.<task>.<scheme>".
void write_scalars(wr::EventWriter& events, int64_t step, const std::vector<wr::TaskResult>& results) {
  for (const auto& r : results) {
    const std::string prefix = "eval." + r.task.name + (r.quant == "none" ? "" : "." + r.quant) + "/";
    for (const auto& m : r.metrics) {
      events.scalar(step, prefix + m.name, m.value);
      if (m.stderr_ >= 0) events.scalar(step, prefix + m.name + "_stderr", m.stderr_);
    }
  }
  events.flush();
}

// Rank 0's choice of `options` (which tasks a checkpoint still needs: it alone reads --output), on every process.
std::vector<std::string> rank0s_choice(const wr::EvalRanks& ranks, const std::vector<std::string>& options,
                                       const std::vector<std::string>& chosen) {
  if (ranks.world <= 1) return chosen;
  auto mask = torch::zeros({static_cast<int64_t>(options.size())}, torch::kInt64);
  if (ranks.rank == 0)
    for (size_t k = 0; k < options.size(); ++k) mask[static_cast<int64_t>(k)] = std::count(chosen.begin(), chosen.end(), options[k]) > 0;
  ranks.sum(mask);
  std::vector<std::string> out;
  for (size_t k = 0; k < options.size(); ++k)
    if (mask[static_cast<int64_t>(k)].item<int64_t>() > 0) out.push_back(options[k]);
  return out;
}

// What the command line asks for, checked on every process before the process group forms.
struct Request {
  std::vector<ModelArg> models;
  std::vector<std::string> tasks;
  std::vector<std::string> row_names;  // the task column of each task's rows (a group's: its overall row)
  std::vector<std::string> quants;     // "none", then each --quant scheme
  wr::RuleSet rules;
  std::string bos;                     // on, off (the option table checks) or "": as the model says
  std::string dtype;                   // f32 or bf16 (the option table checks enumerated values)
  std::string csv, tensorboard;
  torch::Device device = torch::kCPU;
};

Request check_request(const wr::Args& args) {
  Request q;
  q.models = expand_models(args);
  q.tasks = wr::split_list(args.get("--tasks"), ',');
  if (q.tasks.empty()) wr::fail("no tasks given (--tasks arc_easy,hellaswag; see wr-eval tasks list)");
  q.rules = wr::load_rules(args.get("--rules"));
  std::set<std::string> named;
  for (const auto& t : q.tasks) {
    q.row_names.push_back(wr::load_task(q.rules.definition_of(t)).name);  // unknown names fail before the model loads
    if (!named.insert(t).second) wr::fail("--tasks names ", t, " twice");
  }
  if (q.models.size() > 1)
    for (const char* o : {"--json", "--log-samples"})
      if (!args.get(o).empty())
        wr::fail(o, " holds one model's results; a sweep of ", q.models.size(), " checkpoints writes --output (and "
                 "--tensorboard)");
  q.device = wr::parse_device(args.get("--device"), "--device");
  q.bos = args.get("--bos");
  q.csv = args.get("--output");
  q.tensorboard = args.get("--tensorboard");
  if (!q.tensorboard.empty() && std::filesystem::exists(q.tensorboard) && !wr::is_directory(q.tensorboard))
    wr::fail("--tensorboard ", q.tensorboard, ": not a directory");
  q.dtype = args.get("--dtype");
  for (const char* o : {"--num-fewshot", "--limit", "--sample", "--threads", "--seed"}) args.get_int(o, 0);
  if (args.get_int("--limit") > 0 && args.get_int("--sample") > 0)
    wr::fail("--limit and --sample are exclusive (the first N documents, or a seeded random N)");
  args.get_int("--batch-tokens", 1);
  q.quants = {"none"};
  if (!args.get("--quant").empty()) {  // simulated quantization
    bool a8t = false;
    for (const auto& s : wr::parse_quant_list(args.get("--quant"))) {
      a8t |= s.inputs == wr::InputQuant::kInt8Static;
      q.quants.push_back(s.name);
    }
    const std::string calibration = args.get("--quant-calibration");
    if (a8t && calibration.empty()) wr::fail("--quant a8t needs --quant-calibration FILE (text for its static input scales)");
    if (a8t && !wr::file_exists(calibration)) wr::fail("--quant-calibration ", calibration, ": no such file");
    if (!a8t && !calibration.empty()) wr::fail("--quant-calibration applies to --quant a8t only");
    if (q.dtype != "f32") wr::fail("--quant simulates quantization in float32; --dtype ", q.dtype, " would round again");
    for (const auto& t : q.tasks)
      if (load_task(t, args).generative) wr::fail("--quant scores log-likelihood tasks; ", t, " is generative");
  } else if (args.given("--quant-scope") || args.given("--quant-calibration")) {
    wr::fail("--quant-scope and --quant-calibration apply to --quant only");
  }
  return q;
}

// A checkpoint as scored: the model, its tokenizer (--tokenizer, else the one it carries; a Hugging Face folder's
// tokenizer_config.json read beside it) and the BOS rule (--bos, else what the model and tokenizer say).
struct Checkpoint {
  wr::LoadedModel loaded;
  wr::Tokenizer tok;
  wr::BosRule bos;
};

Checkpoint load_checkpoint(const wr::Args& args, const std::string& path, const std::string& bos, bool say) {
  auto loaded = wr::load_model(path, args.get("--format"));
  auto tok = wr::model_tokenizer(loaded, path, args.get("--tokenizer"));
  // Allowed (a model may pad its vocabulary), but rarely meant: say so.
  if (say && tok.vocab_size() < loaded.model->config.vocab_size)
    std::fprintf(stderr, "wr-eval: note: the tokenizer has %d pieces, the model's vocabulary %ld\n", tok.vocab_size(),
                 static_cast<long>(loaded.model->config.vocab_size));
  if (say && !args.get("--tokenizer").empty() && !loaded.tokenizer_model.empty() && tok.model_bytes() != loaded.tokenizer_model)
    std::fprintf(stderr, "wr-eval: note: --tokenizer %s is not the tokenizer %s was trained with (it carries its own)\n",
                 args.get("--tokenizer").c_str(), path.c_str());
  const wr::BosRule rule = bos.empty() ? wr::default_bos(loaded.format, tok) : wr::BosRule{bos == "on", "--bos " + bos};
  return {std::move(loaded), std::move(tok), rule};
}

// The options every task of one checkpoint is scored with.
wr::EvalOptions eval_options(const wr::Args& args, const Request& q, Checkpoint& c, const wr::EvalRanks& ranks,
                             wr::RunInfo& info, bool is_main) {
  wr::EvalOptions opt;
  opt.rules = q.rules;
  opt.data_dir = data_dir(args);
  opt.limit = args.get_int("--limit");
  opt.sample = args.get_int("--sample");
  opt.sample_seed = static_cast<uint64_t>(args.get_int("--seed", 0));
  opt.bos = c.bos.add;
  opt.num_fewshot = static_cast<int>(args.get_int("--num-fewshot"));
  opt.fewshot_seed = static_cast<uint64_t>(args.get_int("--seed", 0));
  opt.score.share = !args.flag("--no-share");
  opt.score.batch_tokens = args.get_int("--batch-tokens");
  opt.variants = requested_quant_variants(args, c.loaded.model, c.tok, opt.bos, info.quant, is_main);
  opt.ranks = ranks;
  return opt;
}

// One checkpoint's table on stdout (with --quant, the paired table after it) and its notes on stderr.
void print_results(const std::vector<wr::TaskResult>& results, bool quantized) {
  const int task_width = quantized ? 26 : 16;  // with --quant: "task [scheme]"
  std::printf("%-*s %-16s %8s %8s %6s %8s\n", task_width, "task", "metric", "value", "stderr", "n", "docs/s");
  for (const auto& r : results)
    for (const auto& mv : r.metrics)
      std::printf("%-*s %-16s %8.4f %8s %6ld %8.1f\n", task_width,
                  (r.task.name + (r.quant == "none" ? "" : " [" + r.quant + "]")).c_str(), mv.name.c_str(), mv.value,
                  mv.stderr_ >= 0 ? std::to_string(mv.stderr_).substr(0, 6).c_str() : "", static_cast<long>(r.n_docs),
                  r.n_docs / std::max(r.seconds, 1e-9));
  for (const auto& r : results)
    if (r.context_not_prefix > 0 && r.task.subtasks.empty())
      std::fprintf(stderr,
                   "wr-eval: note: %s: in %ld of %ld requests enc(context) is not a prefix of enc(context + "
                   "continuation); scored as both harnesses do, continuation = the tokens after len(enc(context))\n",
                   r.task.name.c_str(), static_cast<long>(r.context_not_prefix), static_cast<long>(r.requests));
  if (quantized) std::printf("\n%s", wr::paired_table(results).c_str());
  std::fflush(stdout);
}

// The loop over checkpoints: for each, skip it where --output holds its rows, load it, score the tasks it still
// needs, print and write. Data parallel under torchrun, every process scores its share of each task's documents
// and loads every checkpoint; rank 0 alone reads --output's rows, prints and writes.
int run(const wr::Args& args, const std::string& command_line) {
  const Request q = check_request(args);
  wr::DataParallel dp = wr::DataParallel::from_environment(q.device, std::chrono::seconds(args.get_int("--dist-timeout", 1)),
                                                           "--dist-timeout");
  const bool is_main = dp.is_main();
  const wr::EvalRanks ranks = dp.eval_ranks();
  std::string models_text;
  for (const auto& m : q.models) models_text += m.path + "\n";
  dp.check_same("command line and checkpoints", command_line + "\n" + models_text);
  std::vector<std::string> inputs = {args.get("--tokenizer")};
  for (const auto& m : q.models) inputs.push_back(m.path);
  for (const auto& t : q.tasks) add_task_files(load_task(t, args), data_dir(args), inputs);
  if (is_main) check_outputs(args, inputs);
  wr::set_threads(args.get_int("--threads"));
  for (const auto& m : q.models)  // before any work: a sweep does not stop at its tenth checkpoint for a typo
    if (!std::filesystem::exists(m.path)) wr::fail(m.path, ": no such file or directory");

  // What --output already holds is not scored again, unless --force or an output that needs every score.
  const bool skip = !q.csv.empty() && !args.flag("--force") && args.get("--json").empty() && args.get("--log-samples").empty();
  const std::set<std::string> done = skip && is_main ? wr::csv_row_keys(q.csv) : std::set<std::string>{};
  wr::RunInfo settings;  // what every checkpoint's rows share
  settings.rules = q.rules.id();
  settings.num_fewshot = static_cast<int>(args.get_int("--num-fewshot"));
  settings.subset = wr::subset_name(args.get_int("--limit"), args.get_int("--sample"), static_cast<uint64_t>(args.get_int("--seed", 0)));
  std::optional<wr::AtomicFile> samples;  // published only when the whole run succeeds
  if (is_main && !args.get("--log-samples").empty()) samples.emplace(args.get("--log-samples"));
  std::map<std::string, std::unique_ptr<wr::EventWriter>> events;  // per run
  // A sweep's task files read and requests tokenized once per tokenizer (its bytes) and BOS
  std::map<std::string, wr::PreparedTasks> prepared;
  bool fetched = false;
  for (size_t i = 0; i < q.models.size(); ++i) {
    // The last checkpoint's weights and activations, freed, back to the kernel: keep_freed_memory keeps them for
    // the next batch, and a sweep's peak RSS grew with its length (bench-sweep: 452 MB after 2 checkpoints, 513
    // after 8).
    if (i > 0) malloc_trim(0);
    const ModelArg& m = q.models[i];
    const std::string which = q.models.size() > 1 ? "[" + std::to_string(i + 1) + "/" + std::to_string(q.models.size()) + "] " : "";
    auto skipped = [&](int64_t step) {
      if (is_main)
        std::fprintf(stderr, "wr-eval: %s%s (run %s, step %ld): skipped, %s holds its rows (--force scores it again)\n",
                   which.c_str(), m.path.c_str(), m.run.c_str(), static_cast<long>(step), q.csv.c_str());
    };
    wr::RunInfo info = settings;
    info.run = m.run;
    if (skip && m.step >= 0) {  // a run directory's checkpoint: a wr checkpoint of the step its name says
      info.step = m.step;
      info.bos = q.bos.empty() || q.bos == "on";
      if (rank0s_choice(ranks, q.tasks, tasks_left(q.tasks, q.row_names, q.quants, info, done)).empty()) {
        skipped(m.step);
        continue;
      }
    }

    // The model and tokenizer before any download: a wrong path or a mismatched tokenizer fails at once.
    Checkpoint c = load_checkpoint(args, m.path, q.bos, is_main);
    info.checkpoint = m.path;
    info.checkpoint_sha256 = c.loaded.sha256;  // of the bytes scored, even if the path now names another file
    info.step = c.loaded.meta.value("step", int64_t{-1});
    info.tokens = c.loaded.meta.value("tokens", int64_t{-1});
    info.bos = c.bos.add;
    info.bos_why = c.bos.why;
    if (m.step >= 0 && info.step != m.step)
      wr::fail(m.path, ": its meta says step ", info.step, "; wr-train names each checkpoint after its step");
    if (!q.tensorboard.empty() && info.step < 0)
      wr::fail(m.path, ": no training step in it (a wr checkpoint has one); --tensorboard draws against the step");
    const auto left = skip ? rank0s_choice(ranks, q.tasks, tasks_left(q.tasks, q.row_names, q.quants, info, done)) : q.tasks;
    if (left.empty()) {
      skipped(info.step);
      continue;
    }
    c.loaded.model->to(dp.device(), q.dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32);
    if (!fetched) {  // rank 0 first, the others after it (on one machine, they find the files it fetched)
      if (is_main) ensure_task_files(q.tasks, args);
      dp.any(false);
      if (!is_main) ensure_task_files(q.tasks, args);
    }
    fetched = true;
    if (is_main && q.models.size() > 1)
      std::fprintf(stderr, "wr-eval: %s%s (run %s, step %ld)\n", which.c_str(), m.path.c_str(), m.run.c_str(),
                   static_cast<long>(info.step));
    if (is_main) std::fprintf(stderr, "wr-eval: BOS %s: %s\n", c.bos.add ? "on" : "off", c.bos.why.c_str());

    wr::EvalOptions opt = eval_options(args, q, c, ranks, info, is_main);
    if (samples) opt.on_sample = [&samples](const nlohmann::json& s) { samples->write(s.dump() + "\n"); };
    if (q.models.size() > 1) opt.prepared = &prepared[std::string(1, opt.bos ? '1' : '0') + c.tok.model_bytes()];
    std::vector<wr::TaskResult> results;
    for (const auto& t : left) {
      opt.tasks = {t};
      opt.score.progress = is_main ? progress_bar(t) : nullptr;
      for (auto& r : wr::evaluate(c.loaded.model, c.tok, opt)) results.push_back(std::move(r));  // a group: all its rows
    }
    opt.tasks = left;
    info.date = wr::utc_now_iso8601();
    if (!is_main) continue;  // rank 0 prints and writes

    if (q.models.size() > 1) std::printf("%s%s (run %s, step %ld)\n", i > 0 ? "\n" : "", m.path.c_str(), m.run.c_str(),
                                         static_cast<long>(info.step));
    print_results(results, !opt.variants.empty());
    // Each checkpoint's rows as soon as it is scored: a sweep killed part way keeps them, and its rerun skips them.
    if (!q.csv.empty()) wr::append_csv(q.csv, info, results);
    if (!q.tensorboard.empty()) {
      auto& writer = events[m.run];
      // every earlier event kept: a rerun adds the steps it scores to what the earlier runs wrote
      if (!writer) writer = std::make_unique<wr::EventWriter>(q.tensorboard + "/" + m.run, std::numeric_limits<int64_t>::max());
      write_scalars(*writer, info.step, results);
    }
    if (!args.get("--json").empty())
      wr::write_file_atomic(args.get("--json"), wr::harness_json(info, opt, results).dump(2) + "\n");
  }
  if (samples) samples->commit();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  wr::keep_freed_memory();
  try {
    auto args = wr::Args::parse(kOptions, argc, argv);
    if (args.flag("--help")) {
      std::cout << wr::usage(kSynopsis, kOptions);
      return 0;
    }
    if (!args.positional.empty() && args.positional[0] == "compare") {
      for (const auto& o : args.named())
        if (o != "--samples") wr::fail("compare takes --samples only; ", o, " does not apply to it");
      wr::compare_runs({args.positional.begin() + 1, args.positional.end()}, wr::split_list(args.get("--samples"), ','));
      return 0;
    }
    if (!args.positional.empty() && args.positional[0] == "tasks") {
      tasks_command(args);
      return 0;
    }
    std::string command_line;
    for (int i = 0; i < argc; ++i) command_line += std::string(argv[i]) + "\n";
    return run(args, command_line);
  } catch (const std::exception& e) {
    std::cerr << "wr-eval: error: " << e.what() << "\n";
    return 1;
  }
}
