// Token shards: what wr-data writes and wr-train reads.
//   <dir>/manifest.json          splits, shard files with token/document counts and sha256, the tokenizer
//   <dir>/tokenizer.model        the SentencePiece model the tokens came from
//   <dir>/{train,val}_NNNNNN.bin  a 32-byte header, then the tokens little-endian:
//       "WRTOKENS" | u32 version (1) | u32 bytes per token (2 or 4) | u64 tokens | u64 documents
// Each document is BOS, its tokens, and EOS when asked for, so a split is one stream of packed documents.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/file.h"

namespace wr {

constexpr char kShardMagic[8] = {'W', 'R', 'T', 'O', 'K', 'E', 'N', 'S'};
constexpr uint32_t kShardVersion = 1;
constexpr size_t kShardHeaderBytes = 32;

// u16 when every id fits, else u32.
inline uint32_t token_bytes_for(int vocab_size) { return vocab_size <= 65536 ? 2 : 4; }

// Writes one split as a sequence of shards of at most shard_tokens tokens (a document never straddles two).
class ShardWriter {
 public:
  ShardWriter(std::string dir, std::string split, uint32_t token_bytes, int64_t shard_tokens);
  void add_document(const std::vector<int>& tokens);
  // Commits the open shard and returns the split's manifest entries.
  nlohmann::json finish();

 private:
  void open_shard();
  void close_shard();
  std::string dir_, split_;
  uint32_t token_bytes_;
  int64_t shard_tokens_;
  std::unique_ptr<AtomicFile> file_;
  std::string file_name_;
  int64_t tokens_ = 0, docs_ = 0;
  std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>> done_;  // file, (tokens, docs)
  std::string buffer_;
};

// One split of a shard directory, memory-mapped, read as one stream of tokens. Opening it checks every shard's
// header, sha256 and token ids against the manifest.
class TokenStream {
 public:
  TokenStream(const std::string& dir, const std::string& split);
  ~TokenStream();
  TokenStream(const TokenStream&) = delete;
  TokenStream& operator=(const TokenStream&) = delete;

  int64_t size() const { return total_; }
  // Copies tokens [offset, offset + n) of the stream into out; the range may cross shards.
  void read(int64_t offset, int64_t n, int64_t* out) const;
  const nlohmann::json& manifest() const { return manifest_; }

 private:
  struct Shard {
    std::string path;
    const unsigned char* tokens = nullptr;
    void* map = nullptr;
    size_t map_bytes = 0;
    int64_t begin = 0, size = 0;  // position in the stream
  };
  void verify_shards(const std::string& dir) const;
  int64_t token_at(const Shard& s, int64_t p) const;

  std::string split_;
  nlohmann::json manifest_;
  std::vector<Shard> shards_;
  uint32_t token_bytes_ = 2;
  int64_t total_ = 0;
};

nlohmann::json read_manifest(const std::string& dir);
// The tokenizer file the manifest names, checked against its tokenizer_sha256: shards made with another
// tokenizer would train and score silently.
std::string read_shard_tokenizer(const std::string& dir, const nlohmann::json& manifest);

// Where row `row` of batch `batch` starts in a stream of `stream_size` tokens, for windows of `window` tokens.
//   random:     uniform over [0, stream_size - window], a hash of (seed, batch, row), so any batch can be
//               recomputed from its index and a resumed run needs no data state beyond the step
//   sequential: consecutive windows overlapping by one token (inputs and next-token targets), wrapping around
enum class DataMode { random, sequential };
// "random" or "sequential"; anything else is an error naming `what` (the config key that held it).
DataMode data_mode_from_name(const std::string& name, const std::string& what);
int64_t window_offset(DataMode mode, uint64_t seed, int64_t batch, int64_t rows, int64_t row, int64_t window,
                      int64_t stream_size);

// splitmix64: the one hash behind data windows and document splits.
uint64_t mix64(uint64_t x);

}  // namespace wr
