// Log-likelihood scoring of (context, continuation) requests, the way lm-evaluation-harness scores them,
// with each document's shared context run once.
//
// Shared mode packs a context and all its continuations into one row: [ctx | cont1[:-1] | cont2[:-1] | ...].
// Each continuation segment sees the context and itself only (two spans of keys per query: KeySpans) and its
// positions restart at len(ctx), so every continuation gets exactly the logits it would get alone. Rows of many
// documents fill a batch up to a token budget, longest first; log-softmax is computed only where a continuation token is scored.
// --no-share scores each request as its own sequence, (ctx + cont)[-(max_len+1):][:-1] as the harness does.
#pragma once
#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "model/llama.h"
#include "model/tokenizer/tokenizer.h"
#include "tasks/rules.h"
#include "tasks/task.h"

namespace wr {

struct TokenizedRequest {
  std::vector<int64_t> context;       // with BOS first when BOS is on
  std::vector<int64_t> continuation;  // never empty
  // enc(ctx) is a prefix of enc(ctx + cont). Byte-level BPE can merge across the boundary (a piece holding the
  // context's last characters and the continuation's first); SentencePiece with a space-led continuation cannot.
  // lm-eval keeps its rule either way (continuation = whole[len(enc(ctx)):], models/huggingface.py
  // _encode_pair), and so does wr; this flag lets reports count how often the rule slices through a piece.
  bool context_is_prefix = true;
};

// The continuation's text as scored: with the context's trailing whitespace in front of it when the rules move it.
std::string scored_continuation(const Request& r, const RuleSet& rules);

// The rule set's request rules (both harnesses: trailing whitespace of the context moves into the continuation;
// whole = enc(ctx + cont), continuation = whole[len(enc(ctx)):]). An empty context is replaced by [BOS]. Throws
// wr::Error naming the request when the continuation has no tokens.
TokenizedRequest tokenize_request(const Tokenizer& tok, const Request& r, bool bos, const RuleSet& rules);

struct RequestScore {
  double logprob = 0;      // sum of the continuation tokens' log-probabilities (float32 log-softmax)
  bool is_greedy = true;   // the argmax token equals the continuation token at every position
  // A variant's (score_variants) against the model's own next-token distributions at the continuation's tokens:
  // the sum of KL(model || variant) and the tokens whose argmax is the model's argmax.
  double kl = 0;
  int64_t top1_agree = 0;
};

// A variant of the model scored on the same rows and batches as the model (simulated quantization, model/quant.h):
// its own weights and the rounding of its linear layers' inputs (empty: none).
struct ScoreVariant {
  std::string name;  // "w8", ...
  Llama model{nullptr};
  LinearInputFn linear_input;
};

// What a scoring call ran, for benchmarks: tokens through the model (padding excluded) and scored, and where the
// time went (seconds summed over batches: over threads too, where batches run side by side).
struct ScoreStats {
  int64_t rows = 0, batches = 0;
  int64_t model_tokens = 0;   // tokens in all rows
  int64_t padded_tokens = 0;  // batch x longest row, summed over batches
  int64_t scored_tokens = 0;  // continuation tokens scored
  int64_t head_positions = 0;  // distinct positions through lm_head and log-softmax (a context's last position
                               // predicts every continuation's first token: once)
  double seconds_inputs = 0;   // packing rows into token, position and key-span tensors
  double seconds_decoder = 0;  // embeddings, decoder layers, final norm
  double seconds_head = 0;     // lm_head, log-softmax, gather and argmax on the scored positions
  std::vector<double> model_seconds;  // score_variants: decoder and head per model (the model, then each variant)

  ScoreStats& operator+=(const ScoreStats& o) {
    rows += o.rows, batches += o.batches, model_tokens += o.model_tokens, padded_tokens += o.padded_tokens;
    scored_tokens += o.scored_tokens, head_positions += o.head_positions;
    seconds_inputs += o.seconds_inputs, seconds_decoder += o.seconds_decoder, seconds_head += o.seconds_head;
    model_seconds.resize(std::max(model_seconds.size(), o.model_seconds.size()));
    for (size_t i = 0; i < o.model_seconds.size(); ++i) model_seconds[i] += o.model_seconds[i];
    return *this;
  }
};

struct ScoreOptions {
  bool share = true;            // run each shared context once (false: the harness's one-sequence-per-request)
  int64_t batch_tokens = 4096;  // padded tokens per forward pass
  // Called after each batch with (documents whose requests are all scored, documents).
  std::function<void(int64_t, int64_t)> progress;
  ScoreStats* stats = nullptr;  // when set, accumulates what was run
};

// docs[d] holds document d's requests; the result has the same shape.
std::vector<std::vector<RequestScore>> score_requests(Llama& model,
                                                      const std::vector<std::vector<TokenizedRequest>>& docs,
                                                      const ScoreOptions& opt);
// The model and each variant on the same rows and batches: result[0] holds the model's scores, result[1 + v]
// variant v's, with kl and top1_agree against the model's distributions at the same positions.
std::vector<std::vector<std::vector<RequestScore>>> score_variants(Llama& model, const std::vector<ScoreVariant>& variants,
                                                                   const std::vector<std::vector<TokenizedRequest>>& docs,
                                                                   const ScoreOptions& opt);

}  // namespace wr
