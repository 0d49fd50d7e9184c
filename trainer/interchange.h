// Other trainers' token files and wr's shards (shards.h), both ways, so that a wr run and a Megatron-LM or llm.c
// run can train on the same token stream:
//   megatron  Megatron-LM's indexed dataset: PREFIX.bin (the tokens, no header) and PREFIX.idx (the MMIDIDX header,
//             each sequence's length and byte offset, the sequence indices where documents end)
//   llmc      llm.c's .bin: a header of 256 int32 (magic, version, token count) and the tokens, uint16 (magic
//             20240520, version 1) or uint32 (20240801, version 7); one flat stream in which every document starts
//             with the delimiter token (BOS), documents running on from one file into the next
// A wr document is a run of tokens that begins with BOS (wr-data tokenize puts BOS first): export cuts the stream
// there, one Megatron sequence and document per run. Import keeps a Megatron document whole and cuts an llm.c stream
// before each BOS of --tokenizer; the ids are copied as they are, so wr-train reads the same stream.
// Not done: Megatron's multimodal datasets (sequence modes) and float dtypes, which hold no token documents.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace wr {

enum class TokenFormat { megatron, llmc };
// "megatron" or "llmc"; anything else is an error naming `what`.
TokenFormat token_format_from_name(const std::string& name, const std::string& what);
const char* token_format_name(TokenFormat format);

// Writes the splits of a shard folder (checked as wr-train opens it: sha256 and ids) into out_dir:
// megatron: SPLIT.bin + SPLIT.idx (Megatron's --data-path OUT/SPLIT); llmc: SPLIT_NNNNNN.bin, one per shard (llm.c's
// -i 'OUT/train_*.bin'); then the tokenizer and export.json (last, so a folder with one is complete), which lists
// every file with its sha256 and, per split, tokens, documents (BOS runs) and wr_documents (the shards' count).
// Holds out_dir's lock; the files an earlier export.json listed and this one does not are removed.
struct ExportOptions {
  TokenFormat format = TokenFormat::megatron;
  std::string shard_dir, out_dir;
  std::vector<std::string> splits;  // empty: every split that has shards
};
nlohmann::json export_shards(const ExportOptions& opt);

// Reads the files into a shard folder as wr-data tokenize writes one (its lock, no manifest until the new one is
// complete, shards written atomically, manifest with sha256 last, shards an earlier manifest listed and this one
// does not removed). Every header field and every id (below the tokenizer's vocabulary) is checked; a fault is one
// line naming the file and the field. Documents go to train, those of `val` to val; or, with val_fraction > 0 and
// no `val`, by the hash of (seed, document index) that tokenize uses.
struct ImportOptions {
  TokenFormat format = TokenFormat::megatron;
  std::vector<std::string> train, val;  // megatron: prefixes (or their .bin/.idx, globs of .idx); llmc: files or globs
  std::string tokenizer, out_dir;
  double val_fraction = 0;
  uint64_t seed = 1;
  int64_t shard_tokens = 100000000;
};
// Returns the manifest.
nlohmann::json import_tokens(const ImportOptions& opt);

// The readers import uses (and the fuzz targets call): `document` gets each document's ids, every one checked to be
// in [0, vocab_size). Headers and the Megatron index are checked whole before the first document.
using DocumentSink = std::function<void(const std::vector<int>&)>;
// PREFIX, PREFIX.bin or PREFIX.idx; a document's sequences are joined; empty documents are skipped.
void read_megatron(const std::string& prefix, int64_t vocab_size, const DocumentSink& document);
// The files in order as one stream, cut before each `delimiter` (tokens before the first one are a document too).
void read_llmc(const std::vector<std::string>& files, int64_t vocab_size, int delimiter, const DocumentSink& document);

// The sizes of the formats' fixed parts.
// magic 9, version 8, dtype code 1, sequence and document counts 8 + 8
constexpr size_t kMegatronIndexHeaderBytes = 34;
constexpr size_t kLlmcHeaderBytes = 256 * 4;

}  // namespace wr
