// A SentencePiece model trained here on generated text, and a small random model of its vocabulary.
#pragma once
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <fstream>
#include <stdexcept>

#include "model/init.h"
#include "model/tokenizer/tokenizer.h"
#include "tests/test_util.h"

namespace wr::test {

// One per test process, in a folder of its own: ctest runs test processes side by side, and a shared folder let
// one process truncate the training text while another's spm_train read it.
inline const Tokenizer& fixture_tokenizer() {
  static Tokenizer tok = [] {
    auto dir = std::filesystem::path(WR_TEST_TMP) / ("fixture-spm-" + std::to_string(::getpid()));
    static const RemovedAtExit cleanup{dir.string()};
    std::filesystem::create_directories(dir);
    const std::string text = (dir / "text.txt").string(), prefix = (dir / "spm").string();
    {
      std::ofstream out(text);
      const char* subjects[] = {"The cat", "A dog", "My friend", "The teacher", "Our neighbour", "The river"};
      const char* verbs[] = {"likes", "sees", "finds", "carries", "paints", "answers"};
      const char* objects[] = {"the ball.", "a red apple.", "the question?", "an old map.", "the blue sky.", "water."};
      for (int i = 0; i < 600; ++i) out << subjects[i % 6] << " " << verbs[(i / 6) % 6] << " " << objects[(i / 36) % 6] << "\n";
    }
    // Debian's sentencepiece package's trainer (SentencePiece cannot train inside a LibTorch process; see
    // model/tokenizer/sentencepiece_shim.cpp).
    const std::string cmd = "spm_train --input=" + text + " --model_prefix=" + prefix +
                            " --vocab_size=320 --model_type=bpe --byte_fallback=true --character_coverage=1.0"
                            " --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 --minloglevel=2 > " + prefix + ".log 2>&1";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("spm_train failed: see " + prefix + ".log");
    return Tokenizer::from_file(prefix + ".model");
  }();
  return tok;
}

inline Llama fixture_model(int64_t max_seq_len = 128, uint64_t seed = 11) {
  ModelConfig c;
  c.dim = 32;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.ffn_dim = 64;
  c.vocab_size = fixture_tokenizer().vocab_size();
  c.max_seq_len = max_seq_len;
  Llama m(c);
  init_weights(m, {InitScheme::normal, 0.1}, seed);
  m->eval();
  return m;
}

}  // namespace wr::test
