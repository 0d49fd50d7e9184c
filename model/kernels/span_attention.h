// Attention where each query sees two spans of keys, computed over those keys only (CPU, float32).
//
// Scoring packs a document's context and its continuations into one row; a context query sees the keys up to
// itself, a continuation's query the whole context and its own segment up to itself. As a [T,T] mask that is
// mostly hidden entries (a continuation never sees the other continuations), and with small heads (stories260K's
// 8 dimensions) computing, masking, exponentiating and multiplying the hidden scores cost more than the rest of
// the model. Here every query runs over its visible keys and nothing else, in one pass per head.
#pragma once
#include <torch/torch.h>

namespace wr {

// Query t of row b sees keys [0, prefix[b][t]) and [from[b][t], t]: causal attention is prefix 0, from 0; a
// continuation's query in a packed row has prefix = the context's length and from = its segment's first position;
// a padding position sees itself (prefix 0, from t). Integers [B,T] (int32 in scoring), prefix <= from <= t.
struct KeySpans {
  torch::Tensor prefix, from;
  bool defined() const { return prefix.defined(); }
};

// The [B,T,T] bool mask of the same spans (true where query t sees key s), on the spans' device: for the paths
// without the kernel below (CUDA, bfloat16).
torch::Tensor spans_mask(const KeySpans& spans);

// softmax(q k^T / sqrt(hd)) v over the spans: q [B,H,T,hd], k and v [B,Hkv,T,hd] (H a multiple of Hkv, query head
// h reading kv head h / (H / Hkv)), float32 on the CPU. Returns [B,H,T,hd].
torch::Tensor span_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             const KeySpans& spans);

}  // namespace wr
