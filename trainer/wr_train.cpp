// wr-train: pre-train a LLaMA model from wr-data shards (see trainer/train.h).
//   wr-train CONFIG.json [section.key=value ...]      a new run (configs/train/*.json)
//   wr-train --resume RUN_DIR [section.key=value ...] continue a run from its newest checkpoint
// SIGINT/SIGTERM: finish the current step, write a checkpoint, exit 0; a second signal kills.
#include <cmath>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "common/allocator.h"
#include "common/cli.h"
#include "common/error.h"
#include "common/file.h"
#include "tasks/download_cli.h"
#include "trainer/train.h"
#include "trainer/train_config.h"

namespace {

// The download options as in wr-eval, for the periodic evaluation's task files (fetched before the first step).
const std::vector<wr::Option> kOptions = wr::with_download_options({
    {"--resume", "", "continue from the newest checkpoint in the run directory", "", ""},
    {"--print-config", "", "print the resolved config as a table (key, value, help, default) and exit", "", ""},
    {"--print-json", "", "print the resolved config as JSON (the run's config.json) and exit", "", ""},
    {"--help", "", "show this help", "", ""},
});

const char* kSynopsis =
    "wr-train CONFIG.json [section.key=value ...]\n"
    "       wr-train --resume RUN_DIR|CONFIG.json [section.key=value ...]\n"
    "e.g.   wr-train configs/train/cpu-25m.json data.dir=data/shards run.dir=runs/tiny optimizer.lr=1e-3";

void on_signal(int) { wr::request_stop(); }

}  // namespace

int main(int argc, char** argv) {
  wr::keep_freed_memory();
  try {
    auto args = wr::Args::parse(kOptions, argc, argv);
    if (args.flag("--help") || args.positional.empty()) {
      std::cout << wr::usage(kSynopsis, kOptions);
      return args.flag("--help") ? 0 : 2;
    }
    std::string config = args.positional[0];
    if (config.find('=') != std::string::npos) wr::fail("the first argument must be a config file or run directory, got '", config, "'");
    std::vector<std::string> overrides(args.positional.begin() + 1, args.positional.end());
    if (wr::is_directory(config)) {
      if (!args.flag("--resume")) wr::fail(config, " is a directory: pass --resume to continue that run, or a CONFIG.json");
      // The directory named is the run, wherever its config.json says it was made: a copied or moved run
      // continues in place (and prunes only its own checkpoints).
      overrides.insert(overrides.begin(), "run.dir=" + config);
      config += "/config.json";
    }
    wr::TrainConfig typed;
    const auto resolved = wr::resolve_train_config(config, overrides, &typed);
    if (args.flag("--print-json")) {
      std::cout << resolved.dump(2) << "\n";
      return 0;
    }
    std::cout << wr::describe_train_config(resolved) << std::flush;  // at start-up too (llm.c prints its table)
    if (args.flag("--print-config")) return 0;
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;  // a second signal takes the default action
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    wr::TrainOptions opt;
    opt.resume = args.flag("--resume");
    opt.download = wr::download_options_from_args(args, "");  // the data directory comes from the config
    auto summary = wr::train(resolved, opt);
    char loss[32] = "no step trained";
    if (!std::isnan(summary.loss)) std::snprintf(loss, sizeof(loss), "loss %.4f", summary.loss);
    std::printf("%s at step %ld, %s; checkpoint %s\n", summary.interrupted ? "interrupted" : "done",
                static_cast<long>(summary.step), loss, summary.checkpoint.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wr-train: error: %s\n", e.what());
    return 1;
  }
}
