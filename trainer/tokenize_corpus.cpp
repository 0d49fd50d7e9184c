#include "trainer/tokenize_corpus.h"

#include <filesystem>
#include <set>

#include "common/error.h"
#include "common/file.h"
#include "common/lock.h"
#include "model/tokenizer/tokenizer.h"
#include "trainer/corpus.h"
#include "trainer/shards.h"

namespace wr {
namespace {

// The shards an earlier tokenize into this folder listed: what this run may remove once its own manifest is
// written (a folder's other files, even named like shards, are not wr-data's to delete).
std::set<std::string> previously_listed_shards(const std::string& dir) {
  std::set<std::string> out;
  if (!file_exists(dir + "/manifest.json")) return out;
  try {
    const nlohmann::json manifest = read_manifest(dir);
    for (const auto& [split, entries] : manifest.at("splits").items())
      for (const auto& e : entries) out.insert(e.at("file").get<std::string>());
  } catch (const Error&) {
    // A damaged manifest names nothing to remove; the new one replaces it.
  }
  return out;
}

// Shards the earlier manifest listed and the new one does not (the earlier run made more of them): removed once
// the new manifest is safely written, so the folder holds one consistent set.
void remove_unlisted_shards(const std::string& dir, const nlohmann::json& manifest, const std::set<std::string>& earlier) {
  std::set<std::string> listed;
  for (const auto& [split, entries] : manifest.at("splits").items())
    for (const auto& e : entries) listed.insert(e.at("file").get<std::string>());
  for (const auto& name : earlier)
    if (!listed.count(name)) remove_durably(dir + "/" + name);
}

}  // namespace

nlohmann::json tokenize_corpus(const TokenizeOptions& opt) {
  if (!(opt.val_fraction >= 0 && opt.val_fraction < 1)) fail("--val-fraction ", opt.val_fraction, ": expected [0, 1)");
  if (opt.shard_tokens < 1) fail("--shard-tokens ", opt.shard_tokens, ": expected a positive count");
  const auto files = expand_inputs(opt.inputs);
  const Tokenizer tok = Tokenizer::from_file(opt.tokenizer);
  std::filesystem::create_directories(opt.out_dir);
  const FileLock lock = FileLock::hold_or_fail(opt.out_dir, "--out");  // two tokenizations would mix their shards
  const std::set<std::string> earlier_shards = previously_listed_shards(opt.out_dir);
  // A folder tokenized again has no manifest until the new one is complete: a kill part way leaves no manifest
  // naming shards or a tokenizer that this run has already replaced.
  remove_durably(opt.out_dir + "/manifest.json");
  const uint32_t token_bytes = token_bytes_for(tok.vocab_size());
  for (const int special : {tok.bos_id(), opt.eos ? tok.eos_id() : 0})
    if (special < 0 || special >= tok.vocab_size())
      fail(opt.tokenizer, ": special token id ", special, " is outside the vocabulary of ", tok.vocab_size());
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
  remove_unlisted_shards(opt.out_dir, manifest, earlier_shards);
  return manifest;
}

}  // namespace wr
