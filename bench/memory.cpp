// bench-memory: peak memory (RSS) of wr-eval with one model stored in each file format wr reads, against the model's
// float32 weights. Each measurement is a wr-eval process of its own, its peak taken from wait4's ru_maxrss.
// The model is random (memory does not depend on the weights' values) and big enough that its weights dominate:
// dim 768, 12 layers, 12 query and 4 key/value heads, FFN 2048, the Llama 2 vocabulary (32000), untied: 124.7M
// parameters, W = 476 MiB in float32 (MB below are MiB, as ru_maxrss counts them). Formats: ckpt.pt, safetensors
// f32 and bf16, a folder of 4 safetensors shards with model.safetensors.index.json, llama2.c .bin. Per format and
// wr-eval build:
//   load   the peak of wr-eval loading the model and stopping (its HellaSwag file is missing from an empty
//          --data-dir under --offline: wr-eval loads the model first, then looks for task files, and fails)
//   score  the peak of wr-eval loading it and scoring the first --limit HellaSwag documents (default --batch-tokens)
// and, once per build, `base`: the load peak for stories260K (0.26M parameters), the process's own memory (LibTorch,
// the tokenizer). The weights' share of a load is load - base; what scoring adds, bounded by --batch-tokens, is
// score - load. With --before BIN, a second wr-eval (the code before a change) is measured in the same run.
// Usage: bench-memory [--dir DIR] [--limit N] [--threads N] [--wr-eval BIN] [--before BIN] [--shared DIR] [--keep]
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "common/cli.h"
#include "common/error.h"
#include "common/file.h"
#include "common/process.h"
#include "model/io/native.h"
#include "model/init.h"
#include "model/io/llama2c.h"
#include "model/io/safetensors.h"
#include "model/backend/torch_compat.h"

namespace {

namespace fs = std::filesystem;

wr::ModelConfig bench_config() {
  wr::ModelConfig c;
  c.dim = 768;
  c.n_layers = 12;
  c.n_heads = 12;
  c.n_kv_heads = 4;
  c.ffn_dim = 2048;
  c.vocab_size = 32000;
  c.max_seq_len = 2048;
  c.tie_embeddings = false;
  return c;
}

struct Format {
  std::string name, path;
};

// A folder of `shards` safetensors files of about equal size and the index that names them, as transformers
// writes a large model.
void save_sharded(const std::string& dir, wr::Llama& model, const std::string& tokenizer, int shards) {
  fs::create_directories(dir);
  const auto sd = wr::state_dict(model);
  int64_t total = 0;
  for (const auto& [name, t] : sd) total += t.numel() * 4;
  nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", nlohmann::json::object()}};
  size_t next = 0;
  for (int s = 1; s <= shards; ++s) {
    char file[64];
    std::snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", s, shards);
    wr::StateDict part;
    int64_t bytes = 0;
    while (next < sd.size() && (s == shards || bytes < total / shards)) {
      part.push_back(sd[next]);
      bytes += sd[next].second.numel() * 4;
      index["weight_map"][sd[next].first] = file;
      ++next;
    }
    wr::write_file_atomic(dir + "/" + file, wr::encode_safetensors(part, torch::kFloat32));
  }
  auto config = wr::config_to_hf_json(model->config);
  config["torch_dtype"] = "float32";
  wr::write_file_atomic(dir + "/config.json", config.dump(2) + "\n");
  wr::write_file_atomic(dir + "/model.safetensors.index.json", index.dump(2) + "\n");
  wr::write_file_atomic(dir + "/tokenizer.model", tokenizer);
}

std::vector<Format> format_paths(const std::string& dir) {
  return {{"ckpt.pt", dir + "/ckpt.pt"},
          {"safetensors f32", dir + "/hf-f32"},
          {"safetensors bf16", dir + "/hf-bf16"},
          {"sharded safetensors (4)", dir + "/hf-sharded"},
          {"llama2.c .bin", dir + "/model.bin"}};
}

void write_formats(const std::string& dir, const std::string& tokenizer) {
  fs::create_directories(dir);
  wr::Llama model(bench_config());
  wr::init_weights(model, {wr::InitScheme::normal, 0.02}, 1234);
  const auto out = format_paths(dir);
  wr::save_native(out[0].path, model, {{"step", 0}}, tokenizer);
  wr::save_hf(out[1].path, model, "f32", tokenizer);
  wr::save_hf(out[2].path, model, "bf16", tokenizer);
  save_sharded(out[3].path, model, tokenizer, 4);
  wr::save_llama2c(out[4].path, model);
}

// Linux carries a process's peak RSS across fork and exec into ru_maxrss: a wr-eval started by a process that held
// the model would report at least that process's size. The model is built and written by a child that exits, and
// this process stays small (its own peak is printed with the results).
std::vector<Format> write_formats_in_a_child(const std::string& dir, const std::string& tokenizer) {
  std::vector<Format> formats;
  std::fflush(stdout);
  const pid_t pid = ::fork();
  if (pid < 0) wr::fail("fork: ", std::strerror(errno));
  if (pid == 0) {
    try {
      write_formats(dir, tokenizer);
      std::_Exit(0);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench-memory: error: %s\n", e.what());
      std::_Exit(1);
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) wr::fail("writing the model files into ", dir, " failed");
  return format_paths(dir);
}

uint64_t bytes_on_disk(const std::string& path) {
  if (!fs::is_directory(path)) return fs::file_size(path);
  uint64_t n = 0;
  for (const auto& e : fs::directory_iterator(path))
    if (e.is_regular_file() && e.path().extension() == ".safetensors") n += e.file_size();
  return n;
}

// Runs argv to its end, stdout and stderr to log; its peak RSS in MB. expect_fail: the run must exit 1 with
// `expect` in its log (a load-only run); otherwise it must succeed.
double peak_mb(const std::vector<std::string>& argv, const std::string& log, bool expect_fail = false,
               const std::string& expect = "") {
  const wr::Finished f = wr::run_logged(argv, log);
  const std::string text = wr::read_file(log);
  if (f.exit_code != (expect_fail ? 1 : 0) || (expect_fail && text.find(expect) == std::string::npos))
    wr::fail(argv[0], " did not end as expected (", f.how(), "); its output is in ", log, ":\n",
             text.substr(text.size() > 2000 ? text.size() - 2000 : 0));
  return f.peak_rss_mb;
}

struct Build {
  std::string label, bin;
  double base = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const std::vector<wr::Option> options = {
      {"--dir", "DIR", "where the model files and logs go (created; about 2.3 GB)", "bench-memory", ""},
      {"--limit", "N", "HellaSwag documents each scoring run scores", "20", ""},
      {"--threads", "N", "wr-eval's --threads", "2", ""},
      {"--wr-eval", "BIN", "the wr-eval to measure", WR_EVAL_BIN, ""},
      {"--before", "BIN", "a second wr-eval, measured beside the first (e.g. built from the code before a change)", "", ""},
      {"--shared", "DIR", "the shared data folder (datasets/, models/)", WR_SHARED_DIR, ""},
      {"--keep", "", "keep the model files", "", ""},
      {"--help", "", "show this help", "", ""},
  };
  try {
    const auto args = wr::Args::parse(options, argc, argv);
    if (args.flag("--help") || !args.positional.empty()) {
      std::cout << wr::usage("bench-memory [options]", options);
      return args.flag("--help") ? 0 : 2;
    }
    const std::string dir = args.get("--dir"), shared = args.get("--shared");
    const std::string tokenizer = shared + "/models/llama2-tokenizer/tokenizer.model";
    const std::string stories = shared + "/models/stories260K/stories260K.bin";
    const std::string empty = dir + "/no-data";
    fs::create_directories(empty);
    const auto c = bench_config();
    const double weights_mb = c.n_params() * 4.0 / (1 << 20);
    std::printf("model: dim %ld, %ld layers, %ld heads (%ld kv), FFN %ld, vocabulary %ld, untied: %.1fM parameters, "
                "float32 weights W = %.0f MB\n", long(c.dim), long(c.n_layers), long(c.n_heads), long(c.n_kv_heads),
                long(c.ffn_dim), long(c.vocab_size), c.n_params() / 1e6, weights_mb);
    std::fflush(stdout);
    const auto formats = write_formats_in_a_child(dir, wr::read_file(tokenizer));

    std::vector<Build> builds = {{"after", args.get("--wr-eval")}};
    if (args.given("--before")) builds.insert(builds.begin(), {"before", args.get("--before")});
    const std::string threads = args.get("--threads");
    auto eval_argv = [&](const Build& b, const std::string& model, bool score, const std::string& tok) {
      std::vector<std::string> a = {b.bin, "--tasks", "hellaswag_llamacpp", "--offline", "--threads", threads,
                                    "--tokenizer", tok, "--data-dir", score ? shared + "/datasets" : empty};
      if (score) a.insert(a.end(), {"--limit", args.get("--limit")});
      a.push_back(model);
      return a;
    };
    const std::string missing = "is missing";  // wr-eval's offline error for a task file it does not find
    for (auto& b : builds)
      b.base = peak_mb(eval_argv(b, stories, false, shared + "/models/stories260K/tok512.model"),
                       dir + "/" + b.label + "-base.log", true, missing);
    for (const auto& b : builds) std::printf("%s: %s, base (stories260K loaded) %.0f MB\n", b.label.c_str(), b.bin.c_str(), b.base);

    std::printf("\nMB of RSS (MiB); load - base and score - base against W; score - load: what scoring adds\n");
    std::printf("%-24s %8s %-7s %8s %8s %13s %14s %11s\n", "format", "file MB", "build", "load", "score",
                "(load-base)/W", "(score-base)/W", "score-load");
    for (const auto& f : formats) {
      for (const auto& b : builds) {
        const std::string log = dir + "/" + b.label + "-" + fs::path(f.path).filename().string();
        const double load = peak_mb(eval_argv(b, f.path, false, tokenizer), log + "-load.log", true, missing);
        const double score = peak_mb(eval_argv(b, f.path, true, tokenizer), log + "-score.log");
        std::printf("%-24s %8.0f %-7s %8.0f %8.0f %13.2f %14.2f %11.0f\n", f.name.c_str(),
                    bytes_on_disk(f.path) / double(1 << 20), b.label.c_str(), load, score, (load - b.base) / weights_mb,
                    (score - b.base) / weights_mb, score - load);
        std::fflush(stdout);
      }
    }
    std::printf("\ncommands (MODEL each format's file or folder):\n");
    for (bool score : {false, true}) {
      std::printf(" ");
      for (const auto& a : eval_argv(builds.back(), "MODEL", score, tokenizer)) std::printf(" %s", a.c_str());
      std::printf("\n");
    }
    rusage self{};
    ::getrusage(RUSAGE_SELF, &self);
    std::printf("bench-memory's own peak RSS (each run starts from it): %.0f MB\n", self.ru_maxrss / 1024.0);
    if (!args.flag("--keep"))
      for (const auto& f : formats) fs::remove_all(f.path);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench-memory: error: " << e.what() << "\n";
    return 1;
  }
}
