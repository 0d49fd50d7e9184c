// wr-data: corpora to what wr-train reads. Built without LibTorch (SentencePiece training cannot run in a
// LibTorch process; see model/tokenizer/sentencepiece_shim.cpp).
//   wr-data train-tokenizer --out tok.model [--vocab-size N] INPUTS...
//   wr-data tokenize --tokenizer tok.model --out DIR [--eos] [--val-fraction F] INPUTS...
//   wr-data synth --out DIR [--seed S]          the quickstart's invented corpus and task
//   wr-data encode --tokenizer PATH             JSON lines {"text": ...} on stdin -> {"ids": [...]} (no BOS/EOS)
//   wr-data truncate-tokenizer --vocab-size N IN OUT   a tokenizer.json cut to its N lowest-rank pieces
//   wr-data export --format megatron|llmc --out DIR SHARD_DIR          shards -> Megatron-LM / llm.c token files
//   wr-data import --format megatron|llmc --tokenizer PATH --out DIR INPUTS...   and back (trainer/interchange.h)
#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/cli.h"
#include "common/error.h"
#include "common/file.h"
#include "common/json.h"
#include "model/tokenizer/hf_tokenizer.h"
#include "model/tokenizer/tokenizer.h"
#include "trainer/corpus.h"
#include "trainer/interchange.h"
#include "trainer/synth.h"
#include "trainer/tokenize_corpus.h"
#include "trainer/tokenizer_train.h"

namespace {

const std::vector<wr::Option> kOptions = {
    {"--out", "PATH", "output: the .model file (train-tokenizer) or directory (tokenize, synth, export, import)", "",
     ""},
    {"--tokenizer", "PATH", "SentencePiece .model, tokenizer.json or HF model directory (tokenize, encode, import)", "",
     ""},
    {"--format", "megatron|llmc", "other trainers' token files: Megatron-LM .bin/.idx or llm.c .bin (export, import)",
     "", ""},
    {"--split", "NAME", "the one split to export (default: every split with shards)", "", ""},
    {"--val", "INPUT", "import: the validation split's Megatron prefix or llm.c files (a glob)", "", ""},
    {"--vocab-size", "N", "vocabulary size (train-tokenizer); pieces kept (truncate-tokenizer)", "8192", ""},
    {"--max-sentences", "N", "lines sampled for tokenizer training", "2000000", ""},
    {"--text-field", "NAME", "the JSON field or parquet column holding a document's text", "text", ""},
    {"--eos", "", "append EOS after every document (BOS always comes first)", "", ""},
    {"--val-fraction", "F", "fraction of documents held out for validation (import: 0 unless given)", "0.005", ""},
    {"--seed", "N", "seed of the train/validation split (tokenize) or of the invented world (synth)", "1", ""},
    {"--shard-tokens", "N", "tokens per shard at most", "100000000", ""},
    {"--documents", "N", "documents to invent (synth)", "12000", ""},
    {"--threads", "N", "threads (0: all cores)", "0", "WR_THREADS"},
    {"--help", "", "show this help", "", ""},
};

const char* kSynopsis =
    "wr-data train-tokenizer --out tok.model [--vocab-size N] INPUTS...\n"
    "       wr-data tokenize --tokenizer tok.model --out DIR [options] INPUTS...\n"
    "       wr-data synth --out DIR [--seed S]\n"
    "       wr-data encode --tokenizer PATH < texts.jsonl > ids.jsonl\n"
    "       wr-data truncate-tokenizer --vocab-size N IN.json OUT.json\n"
    "       wr-data export --format megatron|llmc --out DIR [--split NAME] SHARD_DIR\n"
    "       wr-data import --format megatron|llmc --tokenizer PATH --out DIR [--val INPUT] INPUTS...\n"
    "INPUTS: .txt (one document per file), .jsonl, .jsonl.gz, .jsonl.zst, .parquet files, folders of them or globs;\n"
    "for import, Megatron-LM prefixes (PREFIX.bin + PREFIX.idx) or llm.c .bin files or globs";

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string required(const wr::Args& args, const std::string& name) {
  if (args.get(name).empty()) wr::fail(name, " is required; see wr-data --help");
  return args.get(name);
}

std::vector<std::string> inputs(const wr::Args& args) {
  std::vector<std::string> in(args.positional.begin() + 1, args.positional.end());
  if (in.empty()) wr::fail("no INPUTS given; see wr-data --help");
  return in;
}

void train_tokenizer(const wr::Args& args) {
  const std::string out = required(args, "--out");
  wr::TokenizerTrainOptions opt;
  opt.vocab_size = static_cast<int>(args.get_int("--vocab-size", 1));
  opt.max_sentences = args.get_int("--max-sentences");
  opt.text_field = args.get("--text-field");
  opt.threads = static_cast<int>(args.get_int("--threads", 0));
  const auto files = wr::expand_inputs(inputs(args));
  wr::check_not_an_input(out, "--out", files);
  auto t0 = std::chrono::steady_clock::now();
  std::string model = wr::train_tokenizer(files, opt);
  wr::write_file_atomic(out, model);
  // The round trip that identity normalisation promises, checked on the first documents.
  auto tok = wr::Tokenizer::from_file(out);
  int checked = 0, mismatched = 0;
  wr::read_documents(files[0], opt.text_field, [&](std::string&& doc) {
    if (checked++ < 200 && tok.decode(tok.encode(doc)) != doc) ++mismatched;
  });
  std::printf("wrote %s: %d pieces, trained in %.1f s; decode(encode(doc)) == doc on %d of %d documents\n",
              out.c_str(), tok.vocab_size(), seconds_since(t0), std::min(checked, 200) - mismatched, std::min(checked, 200));
}

void tokenize(const wr::Args& args) {
  wr::TokenizeOptions opt;
  opt.inputs = inputs(args);
  opt.tokenizer = required(args, "--tokenizer");
  opt.out_dir = required(args, "--out");
  opt.text_field = args.get("--text-field");
  opt.eos = args.flag("--eos");
  opt.val_fraction = args.get_double("--val-fraction");
  opt.seed = static_cast<uint64_t>(args.get_int("--seed", 0));
  opt.shard_tokens = args.get_int("--shard-tokens", 1);
  auto t0 = std::chrono::steady_clock::now();
  if (isatty(STDERR_FILENO)) {
    opt.progress = [t0](int64_t bytes, int64_t docs, int64_t tokens) {
      double s = std::max(seconds_since(t0), 1e-9);
      std::fprintf(stderr, "\r%9ld docs %12ld tokens %8.1f MB  %6.1f MB/s %9.0f tokens/s ", static_cast<long>(docs),
                   static_cast<long>(tokens), bytes / 1e6, bytes / 1e6 / s, tokens / s);
    };
  }
  auto m = wr::tokenize_corpus(opt);
  if (opt.progress) std::fprintf(stderr, "\n");
  const double s = seconds_since(t0);
  const int64_t tokens = m["tokens"]["train"].get<int64_t>() + m["tokens"]["val"].get<int64_t>();
  std::printf("wrote %s: train %ld docs %ld tokens in %zu shard(s), val %ld docs %ld tokens; "
              "%.1f s, %.2f MB/s, %.0f tokens/s (%d threads)\n",
              opt.out_dir.c_str(), m["documents"]["train"].get<long>(), m["tokens"]["train"].get<long>(),
              m["splits"]["train"].size(), m["documents"]["val"].get<long>(), m["tokens"]["val"].get<long>(), s,
              m["input_bytes"].get<int64_t>() / 1e6 / s, tokens / s, omp_get_max_threads());
}

void synth(const wr::Args& args) {
  wr::SynthOptions opt;
  opt.seed = static_cast<uint64_t>(args.get_int("--seed", 0));
  opt.documents = static_cast<int>(args.get_int("--documents", 1));
  const std::string out = required(args, "--out");
  std::printf("wrote %s/corpus.jsonl and %s/synth/facts.jsonl: %s\n", out.c_str(), out.c_str(),
              wr::write_synth(out, opt).c_str());
}

// One JSON line {"text": ...} in, one {"ids": [...]} out, in order: for checking against other implementations.
void encode(const wr::Args& args) {
  const auto tok = wr::Tokenizer::from_file(required(args, "--tokenizer"));
  std::string line;
  for (int64_t n = 1; std::getline(std::cin, line); ++n) {
    nlohmann::json in;
    try {
      in = wr::parse_json(line);
    } catch (const nlohmann::json::exception& e) {
      wr::fail("stdin line ", n, ": not JSON: ", e.what());
    }
    if (!in.is_object() || !in.contains("text") || !in.at("text").is_string())
      wr::fail("stdin line ", n, ": expected {\"text\": string}");
    std::cout << nlohmann::json{{"ids", tok.encode(in.at("text").get<std::string>())}}.dump() << "\n";
  }
}

void truncate_tokenizer(const wr::Args& args) {
  if (args.positional.size() != 3) wr::fail("truncate-tokenizer expects IN OUT; see wr-data --help");
  if (!args.given("--vocab-size"))
    wr::fail("truncate-tokenizer needs --vocab-size N (the pieces to keep)");
  const std::string in = args.positional[1], out = args.positional[2];
  const int pieces = static_cast<int>(args.get_int("--vocab-size", 1));
  wr::check_not_an_input(out, "truncate-tokenizer: OUT", {in});
  const std::string bytes = wr::read_file(in);
  if (wr::Tokenizer::from_bytes(bytes, in).format() != wr::TokenizerFormat::hf_json)
    wr::fail(in, ": not a tokenizer.json (truncate-tokenizer cuts Hugging Face BPE tokenizers)");
  wr::write_file_atomic(out, wr::truncate_hf_tokenizer(bytes, pieces, in));
  const auto cut = wr::Tokenizer::from_file(out);
  std::printf("wrote %s: %d pieces + %d added tokens = vocabulary %d\n", out.c_str(), pieces,
              cut.vocab_size() - pieces, cut.vocab_size());
}

void export_tokens(const wr::Args& args) {
  if (args.positional.size() != 2) wr::fail("export expects one SHARD_DIR; see wr-data --help");
  wr::ExportOptions opt;
  opt.format = wr::token_format_from_name(required(args, "--format"), "--format");
  opt.shard_dir = args.positional[1];
  opt.out_dir = required(args, "--out");
  if (args.given("--split")) opt.splits = {args.get("--split")};
  const auto t0 = std::chrono::steady_clock::now();
  const auto out = wr::export_shards(opt);
  for (const auto& [split, s] : out["splits"].items()) {
    std::printf("wrote %s: %s %ld tokens, %ld documents in %zu file(s)\n", opt.out_dir.c_str(), split.c_str(),
                s["tokens"].get<long>(), s["documents"].get<long>(), s["files"].size());
    // Documents are found where BOS starts one; a text that held the BOS token's own string, or shards imported
    // without BOS-first documents, give another count than the shards' headers.
    if (s["documents"] != s["wr_documents"])
      std::fprintf(stderr, "wr-data: note: %s: %ld documents by BOS (id %d), the shards' headers count %ld\n",
                   split.c_str(), s["documents"].get<long>(), out["bos_id"].get<int>(), s["wr_documents"].get<long>());
  }
  std::printf("%s format, %.1f s; %s/export.json lists the files\n", out["format"].get<std::string>().c_str(),
              seconds_since(t0), opt.out_dir.c_str());
}

void import_tokens(const wr::Args& args) {
  wr::ImportOptions opt;
  opt.format = wr::token_format_from_name(required(args, "--format"), "--format");
  opt.train = inputs(args);
  if (args.given("--val")) opt.val = {args.get("--val")};
  opt.tokenizer = required(args, "--tokenizer");
  opt.out_dir = required(args, "--out");
  opt.val_fraction = args.given("--val-fraction") ? args.get_double("--val-fraction") : 0;
  opt.seed = static_cast<uint64_t>(args.get_int("--seed", 0));
  opt.shard_tokens = args.get_int("--shard-tokens", 1);
  const auto t0 = std::chrono::steady_clock::now();
  const auto m = wr::import_tokens(opt);
  std::printf("wrote %s: train %ld docs %ld tokens in %zu shard(s), val %ld docs %ld tokens; %.1f s\n",
              opt.out_dir.c_str(), m["documents"]["train"].get<long>(), m["tokens"]["train"].get<long>(),
              m["splits"]["train"].size(), m["documents"]["val"].get<long>(), m["tokens"]["val"].get<long>(),
              seconds_since(t0));
}

}  // namespace

int main(int argc, char** argv) {
  try {
    auto args = wr::Args::parse(kOptions, argc, argv);
    if (args.flag("--help") || args.positional.empty()) {
      std::cout << wr::usage(kSynopsis, kOptions);
      return args.flag("--help") ? 0 : 2;
    }
    if (args.get_int("--threads") > 0) omp_set_num_threads(static_cast<int>(args.get_int("--threads")));
    const std::string cmd = args.positional[0];
    if (cmd == "train-tokenizer") train_tokenizer(args);
    else if (cmd == "tokenize") tokenize(args);
    else if (cmd == "synth") synth(args);
    else if (cmd == "encode") encode(args);
    else if (cmd == "truncate-tokenizer") truncate_tokenizer(args);
    else if (cmd == "export") export_tokens(args);
    else if (cmd == "import") import_tokens(args);
    else wr::fail("unknown command '", cmd, "' (expected train-tokenizer, tokenize, synth, encode, truncate-tokenizer, ",
                  "export or import)");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wr-data: error: %s\n", e.what());
    return 1;
  }
}
