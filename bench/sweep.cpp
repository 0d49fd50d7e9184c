// bench-sweep: wr-eval over a run directory of N checkpoints (one process) against N wr-eval processes of one
// checkpoint each, and the sweep's peak RSS as N grows. The checkpoints are random models of stories15M's shape
// (dim 288, 6 layers, 6 heads, FFN 768, the Llama 2 vocabulary of 32000; 24.4M parameters with its untied head),
// each with its own weights (the time does not depend on their values), named ckpt_<step>.pt as wr-train names
// them. Each wr-eval scores the first --limit HellaSwag documents; wall time per process, peak RSS from wait4's
// ru_maxrss (the checkpoints are written by a child that exits, so this process stays small: Linux carries a
// parent's peak into its children's).
// Usage: bench-sweep [--dir DIR] [--n 8] [--limit N] [--threads N] [--wr-eval BIN] [--shared DIR] [--keep]
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "common/cli.h"
#include "common/error.h"
#include "common/file.h"
#include "common/process.h"
#include "model/init.h"
#include "model/io/native.h"
#include "model/backend/torch_compat.h"

namespace {

namespace fs = std::filesystem;

wr::ModelConfig bench_config() {
  wr::ModelConfig c;
  c.dim = 288;
  c.n_layers = 6;
  c.n_heads = 6;
  c.n_kv_heads = 6;
  c.ffn_dim = 768;
  c.vocab_size = 32000;
  c.max_seq_len = 256;
  c.tie_embeddings = false;
  return c;
}

std::string checkpoint_name(int step) {
  char name[32];
  std::snprintf(name, sizeof name, "ckpt_%08d.pt", step);
  return name;
}

// The run directory's n checkpoints (steps 100, 200, ...), written by a child that exits.
void write_run_in_a_child(const std::string& run, int n, const std::string& tokenizer) {
  std::fflush(stdout);
  const pid_t pid = ::fork();
  if (pid < 0) wr::fail("fork: ", std::strerror(errno));
  if (pid == 0) {
    try {
      fs::create_directories(run);
      for (int k = 1; k <= n; ++k) {
        wr::Llama model(bench_config());
        wr::init_weights(model, {wr::InitScheme::normal, 0.02}, 1000 + k);
        wr::save_native(run + "/" + checkpoint_name(100 * k), model, {{"step", 100 * k}, {"tokens", 100 * k * 65536}},
                        tokenizer);
      }
      std::_Exit(0);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench-sweep: error: %s\n", e.what());
      std::_Exit(1);
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) wr::fail("writing the checkpoints into ", run, " failed");
}

struct Measured {
  double seconds, peak_mb;
};

Measured measure(const std::vector<std::string>& argv, const std::string& log) {
  const auto t0 = std::chrono::steady_clock::now();
  const wr::Finished f = wr::run_logged(argv, log);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (f.exit_code != 0) {
    const std::string text = wr::read_file(log);
    wr::fail(argv[0], " failed (", f.how(), "); its output is in ", log, ":\n", text.substr(text.size() > 2000 ? text.size() - 2000 : 0));
  }
  return {s, f.peak_rss_mb};
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<wr::Option> options = {
      {"--dir", "DIR", "where the checkpoints and logs go (created; about 100 MB a checkpoint)", "bench-sweep", ""},
      {"--n", "N", "checkpoints in the run", "8", ""},
      {"--limit", "N", "HellaSwag documents each checkpoint scores", "40", ""},
      {"--threads", "N", "wr-eval's --threads", "2", ""},
      {"--wr-eval", "BIN", "the wr-eval to measure", WR_EVAL_BIN, ""},
      {"--shared", "DIR", "the shared data folder (datasets/, models/)", WR_SHARED_DIR, ""},
      {"--keep", "", "keep the checkpoints", "", ""},
      {"--help", "", "show this help", "", ""},
  };
  try {
    const auto args = wr::Args::parse(options, argc, argv);
    if (args.flag("--help") || !args.positional.empty()) {
      std::cout << wr::usage("bench-sweep [options]", options);
      return args.flag("--help") ? 0 : 2;
    }
    const std::string dir = args.get("--dir"), shared = args.get("--shared"), run = dir + "/run";
    const int n = static_cast<int>(args.get_int("--n", 2));
    fs::remove_all(run);
    write_run_in_a_child(run, n, wr::read_file(shared + "/models/llama2-tokenizer/tokenizer.model"));
    const auto c = bench_config();
    std::printf("%d checkpoints of dim %ld, %ld layers, vocabulary %ld (%.1fM parameters); HellaSwag (llama.cpp's file), first %s "
                "documents; wr-eval --threads %s\n", n, long(c.dim), long(c.n_layers), long(c.vocab_size),
                c.n_params() / 1e6, args.get("--limit").c_str(), args.get("--threads").c_str());
    auto eval_argv = [&](const std::vector<std::string>& models, const std::string& csv) {
      std::vector<std::string> a = {args.get("--wr-eval"), "--tasks", "hellaswag_llamacpp", "--offline", "--data-dir",
                                    shared + "/datasets", "--limit", args.get("--limit"), "--threads",
                                    args.get("--threads"), "--output", csv};
      a.insert(a.end(), models.begin(), models.end());
      return a;
    };
    // N processes of one checkpoint each (each its own run name: none skips another's rows)
    fs::remove(dir + "/single.csv");
    double singles = 0, single_peak = 0;
    for (int k = 1; k <= n; ++k) {
      const std::string ckpt = run + "/" + checkpoint_name(100 * k);
      const Measured m = measure(eval_argv({ckpt}, dir + "/single.csv"), dir + "/single.log");
      singles += m.seconds;
      single_peak = std::max(single_peak, m.peak_mb);
    }
    // sweeps of the first 1, 2 and N checkpoints (a folder of links to them each)
    std::printf("\n%-34s %10s %12s %12s\n", "", "seconds", "s/checkpoint", "peak RSS MB");
    std::printf("%-34s %10.1f %12.2f %12.0f\n", (std::to_string(n) + " processes of one checkpoint").c_str(), singles,
                singles / n, single_peak);
    Measured full{0, 0};
    std::vector<int> sizes;
    for (const int k : {1, 2})
      if (k < n) sizes.push_back(k);
    sizes.push_back(n);
    for (const int k : sizes) {
      const std::string part = dir + "/first" + std::to_string(k);
      fs::remove_all(part);
      fs::create_directories(part);
      for (int j = 1; j <= k; ++j)
        fs::create_symlink(fs::absolute(run + "/" + checkpoint_name(100 * j)), part + "/" + checkpoint_name(100 * j));
      fs::remove(dir + "/sweep.csv");
      const Measured m = measure(eval_argv({part}, dir + "/sweep.csv"), dir + "/sweep" + std::to_string(k) + ".log");
      std::printf("%-34s %10.1f %12.2f %12.0f\n", ("one sweep of " + std::to_string(k)).c_str(), m.seconds,
                  m.seconds / k, m.peak_mb);
      full = m;
      fs::remove_all(part);
    }
    std::printf("\nsweep of %d / %d single runs: %.3f (the issue's bound: at most 1.10)\n", n, n, full.seconds / singles);
    std::printf("command: ");
    for (const auto& a : eval_argv({run}, "sweep.csv")) std::printf("%s ", a.c_str());
    std::printf("\n");
    if (!args.flag("--keep")) fs::remove_all(run);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench-sweep: error: " << e.what() << "\n";
    return 1;
  }
}
