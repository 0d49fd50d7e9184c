// bench-vs-llamacpp: wr-eval beside llama.cpp's `llama-perplexity --hellaswag` on the same HellaSwag documents, in
// one run, one tool at a time, the same thread count: wall time, documents/s and peak RSS of each, and the ratio;
// then each on the first document alone, for the rate once started (a large model loads for seconds).
// The bench builds, downloads and ships no llama.cpp: the user names a llama-perplexity binary and the same model as
// GGUF (e.g. llama.cpp's convert_hf_to_gguf.py over `wr-model convert MODEL DIR`). Both score the first --docs
// documents of llama.cpp's 6-line HellaSwag file: llama.cpp from a copy of them (it scores every task of a file, in
// a shuffled order), wr-eval from the whole file, checked against its sha256, as the task hellaswag_llamacpp with
// --limit. Each tool's own score is printed as a check
// that both scored the documents: llama.cpp's is the mean log-probability per token, wr's acc_norm per byte.
// Usage: bench-vs-llamacpp --llama-perplexity BIN --gguf FILE [options] MODEL
#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/cli.h"
#include "common/error.h"
#include "common/file.h"
#include "common/process.h"

namespace {

struct Run {
  double seconds = 0;
  long peak_rss_mb = 0;
  std::string log;
};

// Runs argv to its end with stdout and stderr to log; its wall time and peak RSS. Fails naming the log when it fails.
Run run(const std::vector<std::string>& argv, const std::string& log) {
  const auto t0 = std::chrono::steady_clock::now();
  const wr::Finished f = wr::run_logged(argv, log);
  Run out;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.peak_rss_mb = static_cast<long>(f.peak_rss_mb);
  out.log = log;
  if (f.exit_code != 0) {
    const std::string text = wr::read_file(log);
    wr::fail(argv[0], " failed (", f.how(), "); its output is in ", log, ":\n",
             text.substr(text.size() > 2000 ? text.size() - 2000 : 0));
  }
  return out;
}

// The first `docs` documents (6 lines each) of a llama.cpp HellaSwag file; how many there are.
size_t write_first_docs(const std::string& from, const std::string& to, size_t docs) {
  std::ifstream in(from);
  if (!in) wr::fail(from, ": cannot read (llama.cpp's hellaswag_val_full.txt expected)");
  std::string text, line;
  size_t lines = 0;
  while ((docs == 0 || lines < docs * 6) && std::getline(in, line)) {
    text += line + "\n";
    ++lines;
  }
  if (lines == 0 || lines % 6 != 0) wr::fail(from, ": ", lines, " lines read, expected a multiple of 6 (6 lines a document)");
  wr::write_file_atomic(to, text);
  return lines / 6;
}

// llama-perplexity's last progress line "N<TAB>score%<TAB>[low%, high%]" for N = docs: the score, in percent.
double llamacpp_score(const std::string& log, size_t docs) {
  std::istringstream in(wr::read_file(log));
  const std::string prefix = std::to_string(docs) + "\t";
  double score = -1;
  for (std::string line; std::getline(in, line);)
    if (line.compare(0, prefix.size(), prefix) == 0) score = std::stod(line.substr(prefix.size()));
  if (score < 0) wr::fail(log, ": no final HellaSwag line for ", docs, " tasks (did llama-perplexity score them all?)");
  return score;
}

std::vector<std::string> split_words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

int cores() {
  cpu_set_t allowed;
  return sched_getaffinity(0, sizeof(allowed), &allowed) == 0 ? CPU_COUNT(&allowed) : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<wr::Option> options = {
      {"--llama-perplexity", "BIN", "llama.cpp's llama-perplexity (built by you, outside wr)", "", ""},
      {"--gguf", "FILE", "the same model as a GGUF file, for llama.cpp", "", ""},
      {"--tokenizer", "PATH", "wr-eval's --tokenizer (for a llama2.c model)", "", ""},
      {"--hellaswag", "FILE", "llama.cpp's 6-line HellaSwag file",
       std::string(WR_SHARED_DIR) + "/datasets/hellaswag/hellaswag_val_full.txt", ""},
      {"--docs", "N", "the first N documents (0: all)", "2000", ""},
      {"--threads", "N", "threads for both tools (0: all cores)", "0", ""},
      {"--llama-args", "ARGS", "further llama-perplexity flags", "-fa on -np 128 -c 64 -b 8192 -ub 512", ""},
      {"--wr-args", "ARGS", "further wr-eval flags", "", ""},
      {"--wr-eval", "BIN", "the wr-eval to measure", WR_EVAL_BIN, ""},
      {"--work-dir", "DIR", "where the documents and the tools' logs go (created)", "bench-vs-llamacpp", ""},
      {"--help", "", "show this help", "", ""},
  };
  try {
    const auto args = wr::Args::parse(options, argc, argv);
    if (args.flag("--help") || args.positional.size() != 1 || !args.given("--llama-perplexity") || !args.given("--gguf")) {
      std::cout << wr::usage("bench-vs-llamacpp --llama-perplexity BIN --gguf FILE [options] MODEL", options);
      return args.flag("--help") ? 0 : 2;
    }
    const std::string work = args.get("--work-dir"), model = args.positional[0];
    std::filesystem::create_directories(work);
    const int threads = args.get_int("--threads", 0) == 0 ? cores() : static_cast<int>(args.get_int("--threads"));
    const std::string wr_data = work + "/wr-data";
    std::filesystem::create_directories(wr_data + "/hellaswag");
    std::filesystem::remove(wr_data + "/hellaswag/hellaswag_val_full.txt");
    std::filesystem::create_symlink(std::filesystem::absolute(args.get("--hellaswag")), wr_data + "/hellaswag/hellaswag_val_full.txt");

    // Each tool's command for the first n documents (llama.cpp's from docs_file, which holds exactly those), its
    // outputs named by n.
    auto llama_command = [&](const std::string& docs_file, size_t n) {
      std::vector<std::string> cmd = {args.get("--llama-perplexity"), "-m", args.get("--gguf"), "-f", docs_file, "--hellaswag",
                                      "--hellaswag-tasks", std::to_string(n), "-t", std::to_string(threads),
                                      "-tb", std::to_string(threads)};
      for (const auto& w : split_words(args.get("--llama-args"))) cmd.push_back(w);
      return cmd;
    };
    auto wr_command = [&](size_t n) {
      std::vector<std::string> cmd = {args.get("--wr-eval"), "--tasks", "hellaswag_llamacpp", "--offline", "--data-dir",
                                      wr_data, "--limit", std::to_string(n), "--threads", std::to_string(threads),
                                      "--json", work + "/wr-" + std::to_string(n) + ".json"};
      if (args.given("--tokenizer")) cmd.insert(cmd.end(), {"--tokenizer", args.get("--tokenizer")});
      for (const auto& w : split_words(args.get("--wr-args"))) cmd.push_back(w);
      cmd.push_back(model);
      return cmd;
    };
    const std::string docs_file = work + "/llama-docs.txt", first_doc_file = work + "/llama-docs-1.txt";
    const size_t docs = write_first_docs(args.get("--hellaswag"), docs_file, static_cast<size_t>(args.get_int("--docs", 0)));
    if (docs < 2) wr::fail("--docs ", docs, ": at least 2 documents (the first alone times each tool's start-up)");
    write_first_docs(args.get("--hellaswag"), first_doc_file, 1);
    const auto llama = llama_command(docs_file, docs), wr_eval = wr_command(docs);

    // Start-up apart from scoring: each tool also scores the first document alone, and that run's wall time
    // (start-up and one document) is subtracted, since a large model's load is seconds of a short run.
    std::printf("%zu HellaSwag documents, %d threads each, one tool at a time; then the first document alone\n", docs, threads);
    const Run l = run(llama, work + "/llama-perplexity.log");
    const Run w = run(wr_eval, work + "/wr-eval.log");
    const Run l1 = run(llama_command(first_doc_file, 1), work + "/llama-perplexity-1.log");
    const Run w1 = run(wr_command(1), work + "/wr-eval-1.log");
    const auto results = nlohmann::json::parse(wr::read_file(work + "/wr-" + std::to_string(docs) + ".json"))
                             .at("results").at("hellaswag_llamacpp");

    auto scoring_rate = [&](const Run& all, const Run& one) { return (docs - 1) / std::max(all.seconds - one.seconds, 1e-9); };
    std::printf("\n%-10s %9s %9s %11s %14s %12s  %s\n", "tool", "wall s", "docs/s", "1 doc s", "then docs/s", "peak RSS MB",
                "score (each tool's own)");
    std::printf("%-10s %9.1f %9.2f %11.1f %14.2f %12ld  %.2f%% (mean log-prob per token)\n", "llama.cpp", l.seconds,
                docs / l.seconds, l1.seconds, scoring_rate(l, l1), l.peak_rss_mb, llamacpp_score(l.log, docs));
    std::printf("%-10s %9.1f %9.2f %11.1f %14.2f %12ld  acc_norm %.2f%%, acc %.2f%%\n", "wr-eval", w.seconds, docs / w.seconds,
                w1.seconds, scoring_rate(w, w1), w.peak_rss_mb, 100 * results.at("acc_norm,none").get<double>(),
                100 * results.at("acc,none").get<double>());
    std::printf("\nwr-eval / llama.cpp: %.2fx the documents/s (%.2fx after the first document), peak RSS %+ld MB\n",
                l.seconds / w.seconds, scoring_rate(w, w1) / scoring_rate(l, l1), w.peak_rss_mb - l.peak_rss_mb);
    std::printf("commands:\n ");
    for (const auto& a : llama) std::printf(" %s", a.c_str());
    std::printf("\n ");
    for (const auto& a : wr_eval) std::printf(" %s", a.c_str());
    std::printf("\n");
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench-vs-llamacpp: error: " << e.what() << "\n";
    return 1;
  }
}
