// The tokenizer a loaded model is scored with, and whether its contexts start with BOS: what wr-eval and
// wr-model decide alike for every model file.
#pragma once
#include <string>

#include "model/io/state_dict.h"
#include "model/tokenizer/tokenizer.h"

namespace wr {

// tokenizer_path (--tokenizer: a file or a Hugging Face folder) where given, else the one the model file carries;
// a Hugging Face folder's tokenizer_config.json beside it is read too (its BOS and whether encoding adds one, as
// transformers reads it). Fails naming model_path when there is none, or when the tokenizer has ids the model has
// no embedding for.
Tokenizer model_tokenizer(const LoadedModel& m, const std::string& model_path, const std::string& tokenizer_path);

// BOS when the user does not say. wr's checkpoints and llama2.c models were trained with BOS first
// (trainer/tokenize_corpus.cpp; llama2.c's run.c encodes with bos=1). A Hugging Face folder gets what its tokenizer
// adds when asked for special tokens (Tokenizer::bos_rule), as both harnesses score it:
//   lighteval 0.5.0: models/model_config.py:109 add_special_tokens = True -> models/base_model.py:79 ->
//     models/abstract_model.py:150-154 tok_encode -> tokenizer.encode(text, add_special_tokens=True);
//   lm-eval 0.4.9: models/huggingface.py:812-817 tok_encode passes add_special_tokens = add_bos_token, which is
//     False unless the model_args set it (:82; :223-228 set it for Gemma): wr's default is its add_bos_token=True
//     run, where the tokenizer decides; lm-eval's own default is --bos off. An empty context is [BOS] in both
//     (:411-417 prefix_token_id: the tokenizer's bos_token_id).
BosRule default_bos(ModelFormat format, const Tokenizer& tok);

}  // namespace wr
