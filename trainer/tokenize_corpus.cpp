#include "trainer/tokenize_corpus.h"

#include <filesystem>
#include <set>

#include "common/error.h"
#include "common/file.h"
#include "model/tokenizer.h"
#include "trainer/corpus.h"
#include "trainer/shards.h"

namespace wr {
namespace {

// Shards of an earlier tokenize into the same folder that the new manifest does not name (the earlier run made
// more of them): removed once the manifest is safely written, so the folder holds one consistent set.
void remove_unlisted_shards(const std::string& dir, const nlohmann::json& manifest) {
  std::set<std::string> listed;
  for (const auto& [split, entries] : manifest.at("splits").items())
    for (const auto& e : entries) listed.insert(e.at("file").get<std::string>());
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    const bool shard_name = (name.rfind("train_", 0) == 0 || name.rfind("val_", 0) == 0) && name.size() > 4 &&
                            name.compare(name.size() - 4, 4, ".bin") == 0;
    if (shard_name && !listed.count(name)) std::filesystem::remove(entry.path());
  }
}

}  // namespace

nlohmann::json tokenize_corpus(const TokenizeOptions& opt) {
  if (!(opt.val_fraction >= 0 && opt.val_fraction < 1)) fail("--val-fraction ", opt.val_fraction, ": expected [0, 1)");
  if (opt.shard_tokens < 1) fail("--shard-tokens ", opt.shard_tokens, ": expected a positive count");
  const auto files = expand_inputs(opt.inputs);
  const Tokenizer tok = Tokenizer::from_file(opt.tokenizer);
  std::filesystem::create_directories(opt.out_dir);
  // A folder tokenized again has no manifest until the new one is complete: a kill part way leaves no manifest
  // naming shards or a tokenizer that this run has already replaced.
  remove_durably(opt.out_dir + "/manifest.json");
  const uint32_t token_bytes = token_bytes_for(tok.vocab_size());
  ShardWriter train(opt.out_dir, "train", token_bytes, opt.shard_tokens), val(opt.out_dir, "val", token_bytes, opt.shard_tokens);

  int64_t docs = 0, tokens = 0, bytes = 0;
  int64_t split_tokens[2] = {0, 0}, split_docs[2] = {0, 0};
  const uint64_t threshold = static_cast<uint64_t>(opt.val_fraction * 18446744073709551615.0);
  std::vector<std::string> block;
  std::vector<std::vector<int>> encoded;
  auto flush = [&] {
    encoded.assign(block.size(), {});
#pragma omp parallel for schedule(dynamic, 16)
    for (int64_t i = 0; i < static_cast<int64_t>(block.size()); ++i) {
      std::vector<int> ids = tok.encode(block[i]);
      ids.insert(ids.begin(), tok.bos_id());
      if (opt.eos) ids.push_back(tok.eos_id());
      encoded[i] = std::move(ids);
    }
    for (auto& ids : encoded) {
      const bool is_val = mix64(opt.seed ^ mix64(static_cast<uint64_t>(docs))) < threshold;
      (is_val ? val : train).add_document(ids);
      split_tokens[is_val] += static_cast<int64_t>(ids.size());
      split_docs[is_val] += 1;
      tokens += static_cast<int64_t>(ids.size());
      ++docs;
    }
    block.clear();
    if (opt.progress) opt.progress(bytes, docs, tokens);
  };
  for (const auto& f : files) {
    read_documents(f, opt.text_field, [&](std::string&& text) {
      block.push_back(std::move(text));
      if (block.size() == 4096) flush();
    }, [&](int64_t n) { bytes += n; });
  }
  flush();
  if (docs == 0) fail("no documents in the inputs");
  if (split_docs[1] == 0 && opt.val_fraction > 0)
    fail("no document fell into the validation split (", docs, " documents, --val-fraction ", opt.val_fraction,
         "); raise --val-fraction");

  write_file_atomic(opt.out_dir + "/" + tok.file_name(), tok.model_bytes());
  nlohmann::json manifest = {
      {"format", "wr-shards"},
      {"version", kShardVersion},
      {"token_bytes", token_bytes},
      {"vocab_size", tok.vocab_size()},
      {"tokenizer", tok.file_name()},
      {"tokenizer_sha256", sha256_hex(tok.model_bytes())},
      {"bos", true},
      {"eos", opt.eos},
      {"val_fraction", opt.val_fraction},
      {"seed", opt.seed},
      {"inputs", files},
      {"input_bytes", bytes},
      {"text_field", opt.text_field},
      {"documents", {{"train", split_docs[0]}, {"val", split_docs[1]}}},
      {"tokens", {{"train", split_tokens[0]}, {"val", split_tokens[1]}}},
      {"splits", {{"train", train.finish()}, {"val", val.finish()}}},
  };
  write_file_atomic(opt.out_dir + "/manifest.json", manifest.dump(2) + "\n");
  remove_unlisted_shards(opt.out_dir, manifest);
  return manifest;
}

}  // namespace wr
