"""A random-weight Llama-3-family model as a Hugging Face folder, for speed and memory comparisons on the shapes users
score (speed does not depend on the weights): grouped-query attention, the Llama 3 tokenizer (vocabulary 128256),
tied embeddings, config.json as transformers writes LlamaForCausalLM's, one model.safetensors. Weights N(0, std),
norms 1, seeded. llama.cpp's convert_hf_to_gguf.py reads the folder as it is.
Shapes (parameters with the tied 128256 x dim embedding):
  150m  dim 768,  12 layers, 12 heads, 4 KV heads, FFN 2048   (174M)
  400m  dim 1024, 24 layers, 16 heads, 8 KV heads, FFN 2816   (413M)
  1b    dim 2048, 16 layers, 32 heads, 8 KV heads, FFN 8192   (1.24B: Llama-3.2-1B's shape)
Usage: random_llama3.py SHAPE OUT_DIR --tokenizer DIR [--dtype float32|bfloat16] [--std 0.02] [--seed 1234]
  --tokenizer: a folder with Meta's Llama 3 tokenizer.json and tokenizer_config.json (../shared/tokenizers/llama3)"""
import argparse
import json
import os
import shutil

import numpy as np
import torch
from safetensors.torch import save_file

SHAPES = {
    "150m": dict(dim=768, layers=12, heads=12, kv_heads=4, ffn=2048),
    "400m": dict(dim=1024, layers=24, heads=16, kv_heads=8, ffn=2816),
    "1b": dict(dim=2048, layers=16, heads=32, kv_heads=8, ffn=8192),
}
VOCAB = 128256

p = argparse.ArgumentParser()
p.add_argument("shape", choices=sorted(SHAPES))
p.add_argument("out")
p.add_argument("--tokenizer", required=True)
p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
p.add_argument("--std", type=float, default=0.02)
p.add_argument("--seed", type=int, default=1234)
a = p.parse_args()
s = SHAPES[a.shape]
head = s["dim"] // s["heads"]
dtype = getattr(torch, a.dtype)
rng = np.random.default_rng(a.seed)


def normal(*shape):
    return torch.from_numpy(rng.standard_normal(size=shape, dtype=np.float32) * np.float32(a.std)).to(dtype)


def ones(n):
    return torch.ones(n, dtype=dtype)


tensors = {"model.embed_tokens.weight": normal(VOCAB, s["dim"]), "model.norm.weight": ones(s["dim"])}
for i in range(s["layers"]):
    L = f"model.layers.{i}."
    tensors.update({
        L + "input_layernorm.weight": ones(s["dim"]),
        L + "post_attention_layernorm.weight": ones(s["dim"]),
        L + "self_attn.q_proj.weight": normal(s["heads"] * head, s["dim"]),
        L + "self_attn.k_proj.weight": normal(s["kv_heads"] * head, s["dim"]),
        L + "self_attn.v_proj.weight": normal(s["kv_heads"] * head, s["dim"]),
        L + "self_attn.o_proj.weight": normal(s["dim"], s["heads"] * head),
        L + "mlp.gate_proj.weight": normal(s["ffn"], s["dim"]),
        L + "mlp.up_proj.weight": normal(s["ffn"], s["dim"]),
        L + "mlp.down_proj.weight": normal(s["dim"], s["ffn"]),
    })
os.makedirs(a.out, exist_ok=True)
save_file(tensors, os.path.join(a.out, "model.safetensors"), metadata={"format": "pt"})
config = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": s["dim"],
    "intermediate_size": s["ffn"], "num_hidden_layers": s["layers"], "num_attention_heads": s["heads"],
    "num_key_value_heads": s["kv_heads"], "head_dim": head, "vocab_size": VOCAB, "max_position_embeddings": 131072,
    "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": True, "hidden_act": "silu",
    "bos_token_id": 128000, "eos_token_id": 128001, "torch_dtype": a.dtype,
}
with open(os.path.join(a.out, "config.json"), "w") as f:
    json.dump(config, f, indent=2)
for name in ("tokenizer.json", "tokenizer_config.json"):
    shutil.copy(os.path.join(a.tokenizer, name), os.path.join(a.out, name))
print(f"{a.out}: {sum(t.numel() for t in tensors.values()) / 1e6:.1f}M parameters, {a.dtype}")
