#include "model/io/llama2c.h"

#include <cstdint>
#include <cstring>

#include "common/error.h"
#include "common/file.h"
#include "model/io/mapped_file.h"

namespace wr {
namespace {

constexpr uint32_t kMagicV1 = 0x616b3432;  // "ak42"
constexpr size_t kHeaderV1 = 256;

// Reads consecutive float32 tensors out of the mapped file, checking that each fits. The tensors are views of
// the mapping: load_state_dict copies each into the model and gives its pages back, so that a load holds the model
// and about one tensor of the file (reading the file into a string held both whole: the 41.7M-parameter model's
// 684 -> 520 MB was the step before this one).
class Reader {
 public:
  Reader(const MappedFile& file, size_t offset) : file_(file), size_(file.bytes().size()), pos_(offset) {}
  torch::Tensor take(const std::string& what, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    const size_t nbytes = static_cast<size_t>(n) * 4;
    if (pos_ + nbytes > size_)
      fail(file_.path(), ": truncated llama2.c file: ", what, " needs ", nbytes, " bytes at offset ", pos_,
           ", file has ", size_);
    auto t = file_.view(pos_, shape, torch::kFloat32);
    pos_ += nbytes;
    return t;
  }
  size_t remaining() const { return size_ - pos_; }

 private:
  const MappedFile& file_;
  size_t size_, pos_;
};

std::string layer_name(int64_t l, const char* rest) { return "model.layers." + std::to_string(l) + "." + rest; }

}  // namespace

torch::Tensor interleaved_to_halves(const torch::Tensor& w, int64_t n_heads) {
  const int64_t rows = w.size(0), cols = w.size(1);
  return w.reshape({n_heads, rows / n_heads / 2, 2, cols}).transpose(1, 2).reshape({rows, cols}).contiguous();
}

torch::Tensor halves_to_interleaved(const torch::Tensor& w, int64_t n_heads) {
  const int64_t rows = w.size(0), cols = w.size(1);
  return w.reshape({n_heads, 2, rows / n_heads / 2, cols}).transpose(1, 2).reshape({rows, cols}).contiguous();
}

LoadedModel load_llama2c(const std::string& path) {
  const auto file = MappedFile::open(path);
  const std::string_view data = file->bytes();
  int32_t h[7];
  size_t offset = 0;
  bool shared = true;
  uint32_t magic = 0;
  if (data.size() >= 4) std::memcpy(&magic, data.data(), 4);
  if (magic == kMagicV1) {
    if (data.size() < kHeaderV1) fail(path, ": truncated llama2.c v1 header");
    int32_t version;
    std::memcpy(&version, data.data() + 4, 4);
    if (version != 1) fail(path, ": llama2.c format version ", version, " is not supported (expected 0 or 1)");
    std::memcpy(h, data.data() + 8, sizeof h);
    shared = data[8 + sizeof h] != 0;
    offset = kHeaderV1;
  } else {
    if (data.size() < sizeof h) fail(path, ": truncated llama2.c header");
    std::memcpy(h, data.data(), sizeof h);
    shared = h[5] > 0;  // v0 marks an unshared classifier with a negative vocab_size
    if (h[5] == INT32_MIN) fail(path, ": llama2.c header: vocab_size ", h[5], " is out of range");
    h[5] = std::abs(h[5]);
    offset = sizeof h;
  }
  ModelConfig c;
  c.dim = h[0];
  c.ffn_dim = h[1];
  c.n_layers = h[2];
  c.n_heads = h[3];
  c.n_kv_heads = h[4];
  c.vocab_size = h[5];
  c.max_seq_len = h[6];
  c.tie_embeddings = shared;
  c.validate(path + " header");
  const int64_t D = c.dim, H = c.ffn_dim, L = c.n_layers, V = c.vocab_size, KV = c.n_kv_heads * c.head_dim();

  Reader r(*file, offset);
  std::map<std::string, torch::Tensor> t;
  torch::Tensor wq, wk, wv, wo, w1, w2, w3, rms_att, rms_ffn, embed, norm;
  if (magic == kMagicV1) {
    rms_att = r.take("rms_att", {L, D});
    rms_ffn = r.take("rms_ffn", {L, D});
    norm = r.take("rms_final", {D});
    embed = r.take("token_embedding", {V, D});
    wq = r.take("wq", {L, D, D});
    wk = r.take("wk", {L, KV, D});
    wv = r.take("wv", {L, KV, D});
    wo = r.take("wo", {L, D, D});
    w1 = r.take("w1", {L, H, D});
    w2 = r.take("w2", {L, D, H});
    w3 = r.take("w3", {L, H, D});
  } else {
    embed = r.take("token_embedding", {V, D});
    rms_att = r.take("rms_att", {L, D});
    wq = r.take("wq", {L, D, D});
    wk = r.take("wk", {L, KV, D});
    wv = r.take("wv", {L, KV, D});
    wo = r.take("wo", {L, D, D});
    rms_ffn = r.take("rms_ffn", {L, D});
    w1 = r.take("w1", {L, H, D});
    w2 = r.take("w2", {L, D, H});
    w3 = r.take("w3", {L, H, D});
    norm = r.take("rms_final", {D});
    r.take("freq_cis_real", {c.max_seq_len, c.head_dim() / 2});
    r.take("freq_cis_imag", {c.max_seq_len, c.head_dim() / 2});
  }
  if (!shared) t["lm_head.weight"] = r.take("wcls", {V, D});
  if (r.remaining() != 0)
    fail(path, ": ", r.remaining(), " bytes left after the last tensor (header does not match the weights)");

  LoadedModel out;
  out.format = ModelFormat::llama2c;
  out.sha256 = file->sha256();
  out.model = Llama(c, WeightInit::none);
  // One layer at a time: q and k are permuted into copies, which then live only while their layer is copied.
  StateDictLoader loader(out.model);
  t["model.embed_tokens.weight"] = embed;
  t["model.norm.weight"] = norm;
  loader.copy(t, path);
  for (int64_t l = 0; l < L; ++l) {
    t.clear();
    t[layer_name(l, "input_layernorm.weight")] = rms_att[l];
    t[layer_name(l, "post_attention_layernorm.weight")] = rms_ffn[l];
    t[layer_name(l, "self_attn.q_proj.weight")] = interleaved_to_halves(wq[l], c.n_heads);
    t[layer_name(l, "self_attn.k_proj.weight")] = interleaved_to_halves(wk[l], c.n_kv_heads);
    release_if_mapped(wq[l]);
    release_if_mapped(wk[l]);
    t[layer_name(l, "self_attn.v_proj.weight")] = wv[l];
    t[layer_name(l, "self_attn.o_proj.weight")] = wo[l];
    t[layer_name(l, "mlp.gate_proj.weight")] = w1[l];
    t[layer_name(l, "mlp.down_proj.weight")] = w2[l];
    t[layer_name(l, "mlp.up_proj.weight")] = w3[l];
    loader.copy(t, path);
  }
  loader.finish(path);
  return out;
}

void save_llama2c(const std::string& path, Llama& model) {
  const ModelConfig& c = model->config;
  if (c.max_seq_len > INT32_MAX || c.vocab_size > INT32_MAX) fail(path, ": config too large for llama2.c");
  std::map<std::string, torch::Tensor> sd;
  for (auto& [name, w] : state_dict(model)) sd[name] = w.detach().to(torch::kCPU, torch::kFloat32);
  // Written as it is made, a tensor at a time: the file is never in memory beside the model.
  AtomicFile file(path);
  std::string out(kHeaderV1, '\0');
  const uint32_t magic = kMagicV1;
  const int32_t version = 1;
  const int32_t h[7] = {int32_t(c.dim),        int32_t(c.ffn_dim),    int32_t(c.n_layers),   int32_t(c.n_heads),
                        int32_t(c.n_kv_heads), int32_t(c.vocab_size), int32_t(c.max_seq_len)};
  std::memcpy(&out[0], &magic, 4);
  std::memcpy(&out[4], &version, 4);
  std::memcpy(&out[8], h, sizeof h);
  out[8 + sizeof h] = c.tie_embeddings ? 1 : 0;
  file.write(out);
  auto put = [&](const torch::Tensor& t) {
    auto x = t.contiguous();
    file.write(std::string_view(static_cast<const char*>(x.data_ptr()), static_cast<size_t>(x.numel()) * 4));
  };
  auto each_layer = [&](const char* rest, int64_t permute_heads = 0) {
    for (int64_t l = 0; l < c.n_layers; ++l) {
      auto w = sd.at(layer_name(l, rest));
      put(permute_heads ? halves_to_interleaved(w, permute_heads) : w);
    }
  };
  each_layer("input_layernorm.weight");
  each_layer("post_attention_layernorm.weight");
  put(sd.at("model.norm.weight"));
  put(sd.at("model.embed_tokens.weight"));
  each_layer("self_attn.q_proj.weight", c.n_heads);
  each_layer("self_attn.k_proj.weight", c.n_kv_heads);
  each_layer("self_attn.v_proj.weight");
  each_layer("self_attn.o_proj.weight");
  each_layer("mlp.gate_proj.weight");
  each_layer("mlp.down_proj.weight");
  each_layer("mlp.up_proj.weight");
  if (!c.tie_embeddings) put(sd.at("lm_head.weight"));
  file.commit();
}

}  // namespace wr
