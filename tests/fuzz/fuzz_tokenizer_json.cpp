// libFuzzer target: a Hugging Face tokenizer.json (model, pre-tokenizer, normalizer, added tokens), loaded and
// used to encode and decode. SentencePiece .model files are parsed by Debian's libsentencepiece, not by wr.
#include "model/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = wr::fuzz::bytes(data, size);
  if (wr::tokenizer_format(text) != wr::TokenizerFormat::hf_json) return 0;  // the SentencePiece path
  wr::fuzz::expect_load_or_wr_error([&] {
    const auto tok = wr::Tokenizer::from_bytes(text, "fuzz/tokenizer.json");
    const auto ids = tok.encode("Hello, world! H\xC3\xA9llo  12345 \xE2\x80\x94 tab\there\n");
    tok.decode(ids);
  });
  return 0;
}
