#include "trainer/tokenizer_train.h"

#include <sentencepiece_trainer.h>

#include <thread>
#include <unordered_map>

#include "common/error.h"
#include "trainer/corpus.h"

namespace wr {
namespace {

// SentencePiece reads sentences; a document's lines are its sentences.
class LineIterator : public sentencepiece::SentenceIterator {
 public:
  explicit LineIterator(const std::vector<std::string>* lines) : lines_(lines) {}
  bool done() const override { return i_ >= lines_->size(); }
  void Next() override { ++i_; }
  const std::string& value() const override { return (*lines_)[i_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<std::string>* lines_;
  size_t i_ = 0;
};

}  // namespace

std::string train_tokenizer(const std::vector<std::string>& files, const TokenizerTrainOptions& opt) {
  std::vector<std::string> lines;
  for (const auto& f : files) {
    read_documents(f, opt.text_field, [&](std::string&& doc) {
      size_t start = 0;
      while (start <= doc.size()) {
        size_t end = doc.find('\n', start);
        if (end == std::string::npos) end = doc.size();
        if (end > start) lines.emplace_back(doc, start, end - start);
        start = end + 1;
      }
    });
  }
  if (lines.empty()) fail("no text in the tokenizer's inputs");
  // Below this SentencePiece's trainer aborts on an internal assertion instead of returning an error.
  constexpr int kMetaPieces = 3 + 256;  // unk, bos, eos and byte_fallback's 256 byte pieces
  if (opt.vocab_size <= kMetaPieces)
    fail("--vocab-size ", opt.vocab_size, ": expected more than ", kMetaPieces,
         " (the 3 special pieces and 256 byte pieces come first)");
  const int threads = opt.threads > 0 ? opt.threads : static_cast<int>(std::thread::hardware_concurrency());
  const std::unordered_map<std::string, std::string> kwargs = {
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(opt.vocab_size)},
      {"byte_fallback", "true"},
      {"split_digits", "true"},
      {"add_dummy_prefix", "true"},
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      {"allow_whitespace_only_pieces", "true"},
      {"character_coverage", "0.99995"},
      {"max_sentence_length", "16384"},
      {"input_sentence_size", std::to_string(opt.max_sentences)},
      {"shuffle_input_sentence", "true"},
      {"unk_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"pad_id", "-1"},
      {"num_threads", std::to_string(threads)},
      {"minloglevel", "1"},
  };
  LineIterator it(&lines);
  std::string model;
  auto status = sentencepiece::SentencePieceTrainer::Train(kwargs, &it, &model);
  if (!status.ok()) fail("SentencePiece training failed: ", status.ToString());
  return model;
}

}  // namespace wr
