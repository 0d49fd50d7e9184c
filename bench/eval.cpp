// bench-eval: shared-context scoring against the harness's one-sequence-per-request scoring, side by side in one
// run, on stories260K and on a ~25M-parameter model (random weights; speed does not depend on them), for
// HellaSwag and ARC-Easy from ../shared/datasets. Prints tokens/s, docs/s, the speed-up, the model's achieved
// GFLOP/s as a fraction of a large fp32 matmul on this machine, where the shared mode's time went, and peak RSS.
// Usage: bench-eval [--limit N] [--threads N] [--shared DIR]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "bench/blas_info.h"
#include "common/allocator.h"
#include "common/cli.h"
#include "eval/score.h"
#include "model/io/model_file.h"
#include "model/flops.h"
#include "model/init.h"
#include "model/backend/torch_compat.h"

namespace {

struct Timed {
  double seconds = 0;
  wr::ScoreStats stats;
};

Timed time_scoring(wr::Llama& model, const std::vector<std::vector<wr::TokenizedRequest>>& reqs, bool share) {
  Timed t;
  wr::ScoreOptions opt;
  opt.share = share;
  opt.stats = &t.stats;
  auto t0 = std::chrono::steady_clock::now();
  wr::score_requests(model, reqs, opt);
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return t;
}

// Matmul FLOPs of a forward pass: 2 x (non-embedding matrix parameters) per model token, attention scores and
// values (4 x T x dim per token, T the row length; approximated with the mean row length), lm_head only where
// a token is scored.
double forward_flops(const wr::ModelConfig& c, const wr::ScoreStats& s) {
  const double per_token = 2.0 * (c.n_params() - c.vocab_size * c.dim * (c.tie_embeddings ? 1 : 2) - c.dim);
  const double mean_len = s.rows ? double(s.model_tokens) / s.rows : 0;
  return per_token * s.model_tokens + 4.0 * mean_len * c.dim * c.n_layers * s.model_tokens +
         2.0 * c.dim * c.vocab_size * s.scored_tokens;
}

long peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

}  // namespace

int main(int argc, char** argv) {
  wr::keep_freed_memory();
  const std::vector<wr::Option> options = {
      {"--limit", "N", "documents per task", "300", ""},
      {"--threads", "N", "CPU threads (0: all cores)", "0", "WR_THREADS"},
      {"--shared", "DIR", "the shared data folder (datasets/, models/)", WR_SHARED_DIR, ""},
  };
  try {
    auto args = wr::Args::parse(options, argc, argv);
    const int threads = wr::set_threads(args.get_int("--threads"));
    const std::string shared = args.get("--shared");
    const double gemm = wr::matmul_tflops(torch::kCPU, torch::kFloat32, 2048) * 1e3;
    std::printf("torch %s, %d threads, BLAS %s\nfp32 matmul 2048^3: %.1f GFLOP/s\n\n", wr::torch_version().c_str(),
                threads, wr::bench::loaded_blas().c_str(), gemm);

    auto tok = wr::Tokenizer::from_file(shared + "/models/stories260K/tok512.model");
    auto stories = wr::load_model(shared + "/models/stories260K/stories260K.bin").model;
    auto c25 = wr::load_config_file(std::string(WR_SOURCE_DIR) + "/configs/model/cpu-25m.json");
    wr::Llama m25(c25);
    wr::init_weights(m25, {wr::InitScheme::lir, 0.02}, 1);
    struct Entry {
      const char* name;
      wr::Llama* model;
    } models[] = {{"stories260K", &stories}, {"cpu-25m", &m25}};

    std::printf("%-12s %-19s %6s %-9s %8s %8s %9s %8s %8s %8s %7s %8s\n", "model", "task", "docs", "mode", "tokens",
                "padded", "seconds", "tok/s", "docs/s", "speedup", "GFLOP/s", "of-gemm");
    const auto rules = wr::load_rules(wr::kDefaultRules);
    for (const char* task_name : {"hellaswag_llamacpp", "arc_easy"}) {
      auto docs = wr::build_docs(wr::load_task(task_name), shared + "/datasets", args.get_int("--limit"));
      std::vector<std::vector<wr::TokenizedRequest>> reqs(docs.size());
      for (size_t d = 0; d < docs.size(); ++d)
        for (const auto& r : docs[d].requests) reqs[d].push_back(wr::tokenize_request(tok, r, true, rules));
      for (auto& e : models) {
        e.model->get()->eval();
        time_scoring(*e.model, {reqs.begin(), reqs.begin() + std::min<size_t>(8, reqs.size())}, true);  // warm-up
        Timed unshared = time_scoring(*e.model, reqs, false);
        Timed shared_t = time_scoring(*e.model, reqs, true);
        for (const auto* t : {&unshared, &shared_t}) {
          const double gflops = forward_flops((*e.model)->config, t->stats) / t->seconds / 1e9;
          std::printf("%-12s %-19s %6zu %-9s %8ld %8ld %9.2f %8.0f %8.1f %8s %7.1f %7.0f%%\n", e.name, task_name,
                      docs.size(), t == &unshared ? "no-share" : "shared", long(t->stats.model_tokens),
                      long(t->stats.padded_tokens), t->seconds, t->stats.scored_tokens / t->seconds,
                      docs.size() / t->seconds,
                      t == &unshared ? "1.00x" : (std::to_string(unshared.seconds / shared_t.seconds).substr(0, 4) + "x").c_str(),
                      gflops, 100.0 * gflops / gemm);
        }
        // Batches run side by side on the CPU, one per thread: the stages' seconds are summed over threads.
        const auto& s = shared_t.stats;
        const double thread_seconds = shared_t.seconds * torch::get_num_threads();
        std::printf("%-12s %-19s where the shared time went (of thread-seconds): inputs (tokens, positions, spans) %.0f%%, "
                    "decoder %.0f%%, lm_head and log-softmax %.0f%% (%ld positions for %ld scored tokens), outside %.0f%%\n",
                    e.name, task_name, 100 * s.seconds_inputs / thread_seconds, 100 * s.seconds_decoder / thread_seconds,
                    100 * s.seconds_head / thread_seconds, long(s.head_positions), long(s.scored_tokens),
                    100 * (1 - (s.seconds_inputs + s.seconds_decoder + s.seconds_head) / thread_seconds));
      }
    }
    std::printf("\npeak RSS %ld MB\n", peak_rss_mb());
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench-eval: error: " << e.what() << "\n";
    return 1;
  }
}
