// bench-tokenize: wr's tokenizer.json encoder against Hugging Face `tokenizers` (its Rust core, through the
// project's .venv Python) on the same documents in one run, single thread and all threads; then `wr-data
// tokenize` end to end with the same tokenizer; then, per task in ../shared/datasets, how often lm-eval's request
// rule slices a piece (enc(ctx) not a prefix of enc(ctx + cont)).
// Usage: bench-tokenize [--tokenizer tokenizer.json] [--threads N] [--shared DIR] [--docs N]
#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/cli.h"
#include "common/error.h"
#include "common/file.h"
#include "eval/score.h"
#include "model/tokenizer/tokenizer.h"
#include "tasks/task.h"
#include "trainer/corpus.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Run {
  double seconds = 0;
  int64_t tokens = 0;
};

// A freshly loaded tokenizer per run, so no run starts with words another left in the cache (the reference is a
// fresh process per run too).
Run encode_all(const std::string& tokenizer_path, const std::vector<std::string>& docs, int threads) {
  const auto tok = wr::Tokenizer::from_file(tokenizer_path);
  std::vector<int64_t> counts(docs.size());
  auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads)
  for (int64_t i = 0; i < static_cast<int64_t>(docs.size()); ++i) counts[i] = tok.encode(docs[i]).size();
  Run r{seconds_since(t0), 0};
  for (auto c : counts) r.tokens += c;
  return r;
}

// The reference's runs, {threads: run}; empty (with the reason printed) when it cannot run.
std::map<int, Run> reference_runs(const std::string& tokenizer, const std::string& docs_file, int threads) {
  const std::string python = std::string(WR_SOURCE_DIR) + "/.venv/bin/python";
  std::map<int, Run> runs;
  if (!wr::file_exists(python)) {
    std::printf("(no %s: Hugging Face tokenizers not measured; scripts/setup --torch pypi installs it)\n", python.c_str());
    return runs;
  }
  const std::string cmd = python + " " + WR_SOURCE_DIR + "/bench/tokenize_reference.py '" + tokenizer + "' '" +
                          docs_file + "' " + std::to_string(threads);
  FILE* p = popen(cmd.c_str(), "r");
  char line[4096];
  while (p && std::fgets(line, sizeof line, p)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object()) runs[j.at("threads").get<int>()] = {j.at("seconds").get<double>(), j.at("tokens").get<int64_t>()};
  }
  if (p && pclose(p) != 0) std::printf("(the reference failed: %s)\n", cmd.c_str());
  return runs;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<wr::Option> options = {
      {"--tokenizer", "PATH", "tokenizer.json to measure (default: ../shared's Llama 3)", "", ""},
      {"--threads", "N", "threads for the all-threads runs (0: all cores)", "0", ""},
      {"--shared", "DIR", "the shared data folder", WR_SHARED_DIR, ""},
      {"--docs", "N", "documents per task for the boundary table (0: all)", "0", ""},
      {"--help", "", "show this help", "", ""},
  };
  try {
    auto args = wr::Args::parse(options, argc, argv);
    if (args.flag("--help")) {
      std::cout << wr::usage("bench-tokenize [options]", options);
      return 0;
    }
    const std::string shared = args.get("--shared");
    const std::string tok_path = args.get("--tokenizer").empty() ? shared + "/tokenizers/llama3/tokenizer.json"
                                                                 : args.get("--tokenizer");
    const int threads = args.get_int("--threads") > 0 ? static_cast<int>(args.get_int("--threads")) : omp_get_num_procs();
    const auto t_load = std::chrono::steady_clock::now();
    const auto tok = wr::Tokenizer::from_file(tok_path);
    std::printf("tokenizer %s: %d ids, loaded in %.2f s\n", tok_path.c_str(), tok.vocab_size(), seconds_since(t_load));

    // The corpus, as documents (the same list goes to the reference).
    const std::vector<std::string> inputs = {shared + "/corpus/brown.jsonl", shared + "/corpus/nlp-corpus.jsonl"};
    std::vector<std::string> docs;
    int64_t bytes = 0;
    for (const auto& f : inputs)
      wr::read_documents(f, "text", [&](std::string&& d) {
        bytes += static_cast<int64_t>(d.size());
        docs.push_back(std::move(d));
      });
    const std::string docs_file = std::string("/tmp/bench-tokenize.") + std::to_string(getpid()) + ".jsonl";
    {
      std::ofstream out(docs_file);
      for (const auto& d : docs) out << nlohmann::json{{"text", d}}.dump() << "\n";
    }

    std::printf("\nencode %zu documents, %.1f MB (../shared/corpus), no special tokens\n", docs.size(), bytes / 1e6);
    std::printf("%-28s %8s %10s %10s %12s\n", "implementation", "threads", "seconds", "MB/s", "tokens");
    std::map<int, Run> wr_runs;
    for (int t : std::set<int>{1, threads}) wr_runs[t] = encode_all(tok_path, docs, t);
    const auto ref = reference_runs(tok_path, docs_file, threads);
    std::remove(docs_file.c_str());
    for (const auto& [t, r] : wr_runs)
      std::printf("%-28s %8d %10.2f %10.2f %12ld\n", "wr (C++)", t, r.seconds, bytes / 1e6 / r.seconds, static_cast<long>(r.tokens));
    for (const auto& [t, r] : ref)
      std::printf("%-28s %8d %10.2f %10.2f %12ld\n", "Hugging Face tokenizers", t, r.seconds, bytes / 1e6 / r.seconds,
                  static_cast<long>(r.tokens));
    for (const auto& [t, r] : ref)
      if (wr_runs.count(t))
        std::printf("wr / Hugging Face at %d thread(s): %.2fx%s\n", t, r.seconds / wr_runs[t].seconds,
                    r.tokens == wr_runs[t].tokens ? "" : "  (TOKEN COUNTS DIFFER)");

    // wr-data tokenize end to end: reading, encoding, shard writing.
    std::printf("\nwr-data tokenize, end to end on the same corpus\n%-8s %10s %10s\n", "threads", "seconds", "MB/s");
    for (int t : std::set<int>{1, threads}) {
      const std::string out = std::string("/tmp/bench-tokenize-shards.") + std::to_string(getpid());
      const std::string cmd = std::string(WR_DATA_BIN) + " tokenize --tokenizer '" + tok_path + "' --out " + out +
                              " --threads " + std::to_string(t) + " " + inputs[0] + " " + inputs[1] + " > /dev/null";
      auto t0 = std::chrono::steady_clock::now();
      const int rc = std::system(cmd.c_str());
      const double s = seconds_since(t0);
      std::system(("rm -rf " + out).c_str());
      if (rc != 0) wr::fail("failed: ", cmd);
      std::printf("%-8d %10.2f %10.2f\n", t, s, bytes / 1e6 / s);
    }

    // lm-eval's rule, continuation = enc(ctx + cont)[len(enc(ctx)):], meets byte-level BPE.
    std::printf("\nrequests whose enc(context) is not a prefix of enc(context + continuation), BOS on\n");
    std::printf("%-20s %8s %10s %8s\n", "task", "docs", "requests", "sliced");
    const auto rules = wr::load_rules(wr::kDefaultRules);
    for (const char* name : {"arc_easy", "arc_challenge", "boolq", "hellaswag_llamacpp", "lambada_openai", "openbookqa",
                             "piqa", "sciq", "social_iqa", "winogrande"}) {
      const auto docs_of_task = wr::build_docs(wr::load_task(name), shared + "/datasets", args.get_int("--docs"));
      int64_t requests = 0, sliced = 0;
      for (const auto& d : docs_of_task)
        for (const auto& r : d.requests) {
          requests += 1;
          sliced += !wr::tokenize_request(tok, r, true, rules).context_is_prefix;
        }
      std::printf("%-20s %8zu %10ld %8ld\n", name, docs_of_task.size(), static_cast<long>(requests), static_cast<long>(sliced));
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-tokenize: error: %s\n", e.what());
    return 1;
  }
}
