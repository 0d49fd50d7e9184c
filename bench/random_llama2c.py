"""A random-weight LLaMA as a llama2.c v0 file, for speed comparisons (speed does not depend on the weights):
weights N(0, std), norms 1, shared classifier, seeded. The defaults are the 41.7M-parameter model of the speed
comparison with llama.cpp in docs/PERFORMANCE.md (dim 512, FFN 1376, 8 layers, 8 heads, vocabulary 32000 for the
Llama 2 tokenizer, context 1024, seed 1234).
Usage: random_llama2c.py OUT.bin [--dim 512] [--ffn 1376] [--layers 8] [--heads 8] [--kv-heads 8] [--vocab 32000]
                         [--seq 1024] [--std 0.02] [--seed 1234]"""
import argparse

import numpy as np

p = argparse.ArgumentParser()
p.add_argument("out")
for name, default in [("dim", 512), ("ffn", 1376), ("layers", 8), ("heads", 8), ("kv-heads", 8), ("vocab", 32000),
                      ("seq", 1024), ("seed", 1234)]:
    p.add_argument("--" + name, type=int, default=default)
p.add_argument("--std", type=float, default=0.02)
a = p.parse_args()

rng = np.random.default_rng(a.seed)
head = a.dim // a.heads
kv = a.kv_heads * head


def normal(*shape):
    return rng.normal(0.0, a.std, size=shape).astype(np.float32)


def ones(*shape):
    return np.ones(shape, dtype=np.float32)


# llama2.c's legacy layout: 7 int32 (vocab_size positive: the classifier is the embedding), then the tensors
tensors = [normal(a.vocab, a.dim), ones(a.layers, a.dim), normal(a.layers, a.dim, a.dim), normal(a.layers, kv, a.dim),
           normal(a.layers, kv, a.dim), normal(a.layers, a.dim, a.dim), ones(a.layers, a.dim),
           normal(a.layers, a.ffn, a.dim), normal(a.layers, a.dim, a.ffn), normal(a.layers, a.ffn, a.dim), ones(a.dim)]
freqs = np.outer(np.arange(a.seq), 1.0 / 10000.0 ** (np.arange(0, head, 2) / head))
tensors += [np.cos(freqs).astype(np.float32), np.sin(freqs).astype(np.float32)]
with open(a.out, "wb") as f:
    f.write(np.array([a.dim, a.ffn, a.layers, a.heads, a.kv_heads, a.vocab, a.seq], dtype=np.int32).tobytes())
    for t in tensors:
        f.write(t.tobytes())
