// libFuzzer target: wr-data's shards as wr-train opens them: the manifest.json (first byte even) or a shard's bytes
// (odd) in an otherwise valid folder, then tokens read from the stream's start and end.
#include <cstring>
#include <vector>

#include "tests/fuzz/fuzz_util.h"
#include "trainer/shards.h"

namespace {

// A valid shard of 3 documents, 12 tokens of 2 bytes, and a manifest naming it (no sha256: the fuzzed shard's
// own checks are what is under test, not the checksum's).
std::string valid_shard() {
  std::string s(wr::kShardMagic, 8);
  const uint32_t version = wr::kShardVersion, token_bytes = 2;
  const uint64_t tokens = 12, documents = 3;
  s.append(reinterpret_cast<const char*>(&version), 4).append(reinterpret_cast<const char*>(&token_bytes), 4);
  s.append(reinterpret_cast<const char*>(&tokens), 8).append(reinterpret_cast<const char*>(&documents), 8);
  for (uint16_t t = 0; t < 12; ++t) s.append(reinterpret_cast<const char*>(&t), 2);
  return s;
}

const char* const kValidManifest =
    R"({"format": "wr-shards", "version": 1, "token_bytes": 2, "vocab_size": 16, "tokenizer": "tokenizer.model",
        "splits": {"train": [{"file": "train_000000.bin", "tokens": 12, "documents": 3}]}})";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string dir = wr::fuzz::scratch_dir() + "/shards";
  std::filesystem::create_directories(dir);
  const std::string body = wr::fuzz::bytes(data + 1, size - 1);
  const bool fuzz_manifest = data[0] % 2 == 0;
  wr::fuzz::write_bytes(dir + "/manifest.json", fuzz_manifest ? body : std::string(kValidManifest));
  wr::fuzz::write_bytes(dir + "/train_000000.bin", fuzz_manifest ? valid_shard() : body);
  wr::fuzz::expect_load_or_wr_error([&] {
    wr::TokenStream stream(dir, "train");
    std::vector<int64_t> out(4);
    if (stream.size() >= 4) {
      stream.read(0, 4, out.data());
      stream.read(stream.size() - 4, 4, out.data());
    }
  });
  return 0;
}
