// The LLaMA decoder: pre-norm blocks of RMSNorm -> attention (RoPE, MHA/GQA) and RMSNorm -> SwiGLU MLP,
// untied or tied embeddings. Parameter names follow Hugging Face LLaMA (model.layers.0.self_attn.q_proj.weight).
// It holds weights and the forward pass only; initialisation is in init.h, file formats in io/.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "model/config.h"
#include "model/kernels/span_attention.h"

namespace wr {

// Keys and values of past positions, one entry per layer, [B, n_kv_heads, S_past, head_dim].
struct KVCache {
  std::vector<torch::Tensor> k, v;
  int64_t length() const { return k.empty() ? 0 : k[0].size(2); }
};

// What a new model's weights hold: torch::nn's default random init, or nothing (uninitialized memory) for a reader,
// which overwrites every parameter and fails on a missing one.
enum class WeightInit { random, none };

// The inputs of the linear layers: q/k/v share the attention's normed input, gate/up the MLP's; kHead is
// lm_head's (the final norm's output).
enum class LinearInput { kQKV, kO, kGateUp, kDown, kHead };
// Called with a linear layer's input [..., in] (layer 0-based, -1 for kHead) before its product; returns the input
// the product takes. Simulated activation quantization rounds it (model/quant.h); calibration records its range.
using LinearInputFn = std::function<torch::Tensor(const torch::Tensor& x, int64_t layer, LinearInput which)>;

struct ForwardArgs {
  torch::Tensor positions;  // [B,T] int64 RoPE positions; default: past length + 0..T-1
  KeySpans visible;         // the keys each query sees (no cache); default: causal
  KVCache* cache = nullptr;                        // when set, read past keys/values and append this call's
  std::vector<torch::Tensor>* layer_outputs = nullptr;  // when set, receives each decoder layer's output [B,T,dim]
  const LinearInputFn* linear_input = nullptr;     // when set, every linear layer's input passes through it
};

// One layer's view of ForwardArgs::linear_input: the input unchanged when there is none.
struct LinearInputs {
  const LinearInputFn* fn = nullptr;
  int64_t layer = 0;
  torch::Tensor operator()(const torch::Tensor& x, LinearInput which) const { return fn ? (*fn)(x, layer, which) : x; }
};

struct RMSNormImpl : torch::nn::Module {
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;  // (dim)
  double eps;
};
TORCH_MODULE(RMSNorm);

struct AttentionImpl : torch::nn::Module {
  AttentionImpl(const ModelConfig& c, WeightInit init);
  // x [B,T,dim]; cos/sin [B,1,T,head_dim]; bias: attention_bias() of a mask, or undefined (then causal says
  // whether to hide later keys); spans: when set, span_attention() over them instead (bias unused); cache_k/v:
  // this layer's entries in a KVCache, or null; inputs: what q/k/v and o take.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& bias, bool causal, const KeySpans* spans, torch::Tensor* cache_k,
                        torch::Tensor* cache_v, const LinearInputs& inputs = {});
  torch::nn::Linear q_proj{nullptr};  // (n_heads*head_dim, dim)
  torch::nn::Linear k_proj{nullptr};  // (n_kv_heads*head_dim, dim)
  torch::nn::Linear v_proj{nullptr};  // (n_kv_heads*head_dim, dim)
  torch::nn::Linear o_proj{nullptr};  // (dim, n_heads*head_dim)
  int64_t n_heads, n_kv_heads, head_dim;
};
TORCH_MODULE(Attention);

struct MLPImpl : torch::nn::Module {
  MLPImpl(const ModelConfig& c, WeightInit init);
  torch::Tensor forward(const torch::Tensor& x, const LinearInputs& inputs = {});  // down(silu(gate(x)) * up(x))
  torch::nn::Linear gate_proj{nullptr};  // (ffn_dim, dim)
  torch::nn::Linear up_proj{nullptr};    // (ffn_dim, dim)
  torch::nn::Linear down_proj{nullptr};  // (dim, ffn_dim)
};
TORCH_MODULE(MLP);

struct DecoderLayerImpl : torch::nn::Module {
  DecoderLayerImpl(const ModelConfig& c, WeightInit init);
  RMSNorm input_layernorm{nullptr};
  Attention self_attn{nullptr};
  RMSNorm post_attention_layernorm{nullptr};
  MLP mlp{nullptr};
};
TORCH_MODULE(DecoderLayer);

struct DecoderImpl : torch::nn::Module {  // Hugging Face's LlamaModel: the "model." prefix
  DecoderImpl(const ModelConfig& c, WeightInit init);
  torch::nn::Embedding embed_tokens{nullptr};  // (vocab_size, dim)
  torch::nn::ModuleList layers{nullptr};       // n_layers x DecoderLayer
  RMSNorm norm{nullptr};                       // final norm
};
TORCH_MODULE(Decoder);

class LlamaImpl : public torch::nn::Module {
 public:
  explicit LlamaImpl(const ModelConfig& c, WeightInit init = WeightInit::random);

  // Final-norm hidden states [B,T,dim] for token ids [B,T].
  torch::Tensor hidden(const torch::Tensor& tokens, const ForwardArgs& args = {});
  // lm_head applied to hidden states of any leading shape [..., dim] -> [..., vocab_size], its input through
  // linear_input when given (ForwardArgs::linear_input).
  torch::Tensor logits(const torch::Tensor& hidden_states, const LinearInputFn* linear_input = nullptr);
  torch::Tensor forward(const torch::Tensor& tokens, const ForwardArgs& args = {}) {
    return logits(hidden(tokens, args), args.linear_input);
  }

  DecoderLayerImpl& layer(int64_t i) { return *model->layers[i]->as<DecoderLayerImpl>(); }
  // lm_head.weight, or embed_tokens.weight when tied.
  torch::Tensor output_weight();

  ModelConfig config;
  Decoder model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // (vocab_size, dim); null when tie_embeddings

 private:
  torch::Tensor inv_freq_;  // (head_dim/2) RoPE inverse frequencies, f32, not a parameter
};
TORCH_MODULE(Llama);

// The per-layer matrices that LIR initialises and TVR rescales, in order q,k,v,o,gate,up,down.
constexpr int64_t kMatricesPerLayer = 7;
struct LayerMatrix {
  int64_t layer;       // 1-based layer index l
  std::string kind;    // "q_proj", ..., "down_proj"
  std::string name;    // full Hugging Face parameter name
  torch::Tensor weight;
};
std::vector<LayerMatrix> layer_matrices(Llama& model);

}  // namespace wr
