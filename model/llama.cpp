#include "model/llama.h"

#include "model/kernels/fused_cpu.h"
#include "model/backend/torch_compat.h"

namespace wr {
namespace {

// torch::nn's constructors draw their default init over the whole weight, one value at a time from one generator,
// all of it overwritten by a reader (`wr-eval --limit 1` on a 1.24B model: 21.4 s with it, 11.1 s without). Without
// init: a 1x1 module given its real storage, unwritten.
torch::nn::Linear linear(int64_t in, int64_t out, WeightInit init) {
  if (init == WeightInit::random) return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
  torch::nn::Linear l(torch::nn::LinearOptions(1, 1).bias(false));
  l->options.in_features(in).out_features(out);
  l->weight.set_data(torch::empty({out, in}));
  return l;
}

torch::nn::Embedding embedding(int64_t n, int64_t dim, WeightInit init) {
  if (init == WeightInit::random) return torch::nn::Embedding(n, dim);
  torch::nn::Embedding e(1, 1);
  e->options.num_embeddings(n).embedding_dim(dim);
  e->weight.set_data(torch::empty({n, dim}));
  return e;
}

// Hugging Face convention: the two halves of each head are rotated as a pair (not interleaved pairs).
torch::Tensor rotate_half(const torch::Tensor& x) {
  auto half = x.size(-1) / 2;
  return torch::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}

// x: [B,T,H,hd], a projection's output as heads; cos, sin: [B,1,T,hd]. Returns [B,H,T,hd].
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  if (fused_cpu_applies(x)) return rope_heads_cpu(x, cos, sin);
  const auto heads = x.transpose(1, 2);
  return heads * cos + rotate_half(heads) * sin;
}

}  // namespace

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  if (fused_cpu_applies(x)) return rms_norm_cpu(x, weight, eps);
  // In float32 whatever the activation dtype, as Hugging Face LlamaRMSNorm does.
  auto xf = x.to(torch::kFloat32);
  auto normed = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * normed.to(x.scalar_type());
}

AttentionImpl::AttentionImpl(const ModelConfig& c, WeightInit init)
    : n_heads(c.n_heads), n_kv_heads(c.n_kv_heads), head_dim(c.head_dim()) {
  q_proj = register_module("q_proj", linear(c.dim, c.n_heads * head_dim, init));
  k_proj = register_module("k_proj", linear(c.dim, c.n_kv_heads * head_dim, init));
  v_proj = register_module("v_proj", linear(c.dim, c.n_kv_heads * head_dim, init));
  o_proj = register_module("o_proj", linear(c.n_heads * head_dim, c.dim, init));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                     const torch::Tensor& bias, bool causal, const KeySpans* spans,
                                     torch::Tensor* cache_k, torch::Tensor* cache_v, const LinearInputs& inputs) {
  const int64_t B = x.size(0), T = x.size(1);
  const auto xi = inputs(x, LinearInput::kQKV);
  auto q = apply_rope(q_proj(xi).view({B, T, n_heads, head_dim}), cos, sin);  // [B,H,T,hd]
  auto k = apply_rope(k_proj(xi).view({B, T, n_kv_heads, head_dim}), cos, sin);
  auto v = v_proj(xi).view({B, T, n_kv_heads, head_dim}).transpose(1, 2);
  if (cache_k) {
    if (cache_k->defined()) {
      k = torch::cat({*cache_k, k}, 2);
      v = torch::cat({*cache_v, v}, 2);
    }
    *cache_k = k;
    *cache_v = v;
  }
  if (spans)
    return o_proj(inputs(span_attention(q, k, v, *spans).transpose(1, 2).reshape({B, T, n_heads * head_dim}), LinearInput::kO));
  if (n_kv_heads != n_heads) {  // grouped-query attention: each kv head serves n_heads/n_kv_heads query heads
    k = k.repeat_interleave(n_heads / n_kv_heads, 1);
    v = v.repeat_interleave(n_heads / n_kv_heads, 1);
  }
  auto y = attention(q, k, v, bias, causal);  // [B,H,T,hd]
  return o_proj(inputs(y.transpose(1, 2).reshape({B, T, n_heads * head_dim}), LinearInput::kO));
}

MLPImpl::MLPImpl(const ModelConfig& c, WeightInit init) {
  gate_proj = register_module("gate_proj", linear(c.dim, c.ffn_dim, init));
  up_proj = register_module("up_proj", linear(c.dim, c.ffn_dim, init));
  down_proj = register_module("down_proj", linear(c.ffn_dim, c.dim, init));
}

torch::Tensor MLPImpl::forward(const torch::Tensor& x, const LinearInputs& inputs) {
  const auto xi = inputs(x, LinearInput::kGateUp);
  if (fused_cpu_applies(x)) return down_proj(inputs(silu_mul_cpu(gate_proj(xi), up_proj(xi)), LinearInput::kDown));
  return down_proj(inputs(torch::silu(gate_proj(xi)) * up_proj(xi), LinearInput::kDown));
}

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& c, WeightInit init) {
  input_layernorm = register_module("input_layernorm", RMSNorm(c.dim, c.norm_eps));
  self_attn = register_module("self_attn", Attention(c, init));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(c.dim, c.norm_eps));
  mlp = register_module("mlp", MLP(c, init));
}

DecoderImpl::DecoderImpl(const ModelConfig& c, WeightInit init) {
  embed_tokens = register_module("embed_tokens", embedding(c.vocab_size, c.dim, init));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.n_layers; ++i) layers->push_back(DecoderLayer(c, init));
  norm = register_module("norm", RMSNorm(c.dim, c.norm_eps));
}

LlamaImpl::LlamaImpl(const ModelConfig& c, WeightInit init) : config(c) {
  c.validate("model config");
  model = register_module("model", Decoder(c, init));
  if (!c.tie_embeddings) lm_head = register_module("lm_head", linear(c.dim, c.vocab_size, init));
  const int64_t hd = c.head_dim();
  inv_freq_ = 1.0 / torch::pow(c.rope_theta, torch::arange(0, hd, 2, torch::kFloat64) / static_cast<double>(hd));
  inv_freq_ = inv_freq_.to(torch::kFloat32);
}

torch::Tensor LlamaImpl::output_weight() { return lm_head ? lm_head->weight : model->embed_tokens->weight; }

torch::Tensor LlamaImpl::hidden(const torch::Tensor& tokens, const ForwardArgs& args) {
  TORCH_CHECK(tokens.dim() == 2, "tokens must be [B,T]");
  const int64_t B = tokens.size(0), T = tokens.size(1);
  const int64_t past = args.cache ? args.cache->length() : 0;
  auto device = tokens.device();

  torch::Tensor positions = args.positions;
  if (!positions.defined())
    positions = torch::arange(past, past + T, torch::TensorOptions().dtype(torch::kInt64).device(device))
                    .unsqueeze(0)
                    .expand({B, T});
  // cos/sin: [B,1,T,head_dim], computed in float32 like Hugging Face's rotary embedding.
  auto freqs = positions.to(torch::kFloat32).unsqueeze(-1) * inv_freq_.to(device);
  auto emb = torch::cat({freqs, freqs}, -1).unsqueeze(1);
  auto x = model->embed_tokens(tokens);
  auto cos = emb.cos().to(x.scalar_type()), sin = emb.sin().to(x.scalar_type());

  // Default: causal. With past keys and several new tokens, the causal mask is offset by the past. Spans run the
  // CPU float32 kernel; elsewhere they become a mask.
  const bool span_kernel = args.visible.defined() && x.is_cpu() && x.scalar_type() == torch::kFloat32;
  TORCH_CHECK(!args.visible.defined() || past == 0, "key spans are for a forward pass without a KV cache");
  torch::Tensor mask = args.visible.defined() && !span_kernel ? spans_mask(args.visible) : torch::Tensor();
  bool causal = !args.visible.defined() && T > 1;
  if (causal && past > 0) {
    auto q_pos = torch::arange(past, past + T, torch::TensorOptions().dtype(torch::kInt64).device(device));
    auto k_pos = torch::arange(0, past + T, torch::TensorOptions().dtype(torch::kInt64).device(device));
    mask = (k_pos.unsqueeze(0) <= q_pos.unsqueeze(1)).unsqueeze(0).expand({B, T, past + T});
    causal = false;
  }
  const torch::Tensor bias = mask.defined() ? attention_bias(mask, x.scalar_type()) : torch::Tensor();
  if (args.cache && args.cache->k.empty()) {
    args.cache->k.resize(config.n_layers);
    args.cache->v.resize(config.n_layers);
  }
  if (args.layer_outputs) args.layer_outputs->clear();

  for (int64_t i = 0; i < config.n_layers; ++i) {
    auto& blk = layer(i);
    const LinearInputs inputs{args.linear_input, i};
    x = x + blk.self_attn(blk.input_layernorm(x), cos, sin, bias, causal, span_kernel ? &args.visible : nullptr,
                           args.cache ? &args.cache->k[i] : nullptr, args.cache ? &args.cache->v[i] : nullptr, inputs);
    x = x + blk.mlp(blk.post_attention_layernorm(x), inputs);
    if (args.layer_outputs) args.layer_outputs->push_back(x);
  }
  return model->norm(x);
}

torch::Tensor LlamaImpl::logits(const torch::Tensor& hidden_states, const LinearInputFn* linear_input) {
  const auto x = linear_input ? (*linear_input)(hidden_states, -1, LinearInput::kHead) : hidden_states;
  return torch::nn::functional::linear(x, output_weight());
}

std::vector<LayerMatrix> layer_matrices(Llama& model) {
  std::vector<LayerMatrix> out;
  for (int64_t i = 0; i < model->config.n_layers; ++i) {
    auto& blk = model->layer(i);
    const std::string prefix = "model.layers." + std::to_string(i) + ".";
    auto add = [&](const char* kind, const char* group, const torch::nn::Linear& lin) {
      out.push_back({i + 1, kind, prefix + group + "." + kind + ".weight", lin->weight});
    };
    add("q_proj", "self_attn", blk.self_attn->q_proj);
    add("k_proj", "self_attn", blk.self_attn->k_proj);
    add("v_proj", "self_attn", blk.self_attn->v_proj);
    add("o_proj", "self_attn", blk.self_attn->o_proj);
    add("gate_proj", "mlp", blk.mlp->gate_proj);
    add("up_proj", "mlp", blk.mlp->up_proj);
    add("down_proj", "mlp", blk.mlp->down_proj);
  }
  return out;
}

}  // namespace wr
