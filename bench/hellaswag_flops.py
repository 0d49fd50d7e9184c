"""The matrix-product FLOPs of scoring the first N documents of llama.cpp's HellaSwag file with a Hugging Face model
folder, as both wr-eval and llama-perplexity do it: each document's context forwarded once, its four endings after
it, the vocabulary projection only where an ending token is predicted. With a measured time, the achieved rate, to
hold against the machine's matmul peak (`bench-gemm`): a tool at the peak cannot go faster without doing fewer FLOPs.

Counts 2 FLOPs per weight of every matrix product per token (attention's scores are under 1% at these lengths and
left out), with the folder's own tokenizer (tokenizers package), without BOS (neither tool adds one for these).
Usage: hellaswag_flops.py MODEL_DIR [--docs N] [--hellaswag FILE] [--seconds S ...]"""
import argparse
import json
import os

from tokenizers import Tokenizer

here = os.path.dirname(os.path.abspath(__file__))
p = argparse.ArgumentParser()
p.add_argument("model")
p.add_argument("--docs", type=int, default=200)
p.add_argument("--hellaswag", default=os.path.join(here, "../../shared/datasets/hellaswag/hellaswag_val_full.txt"))
p.add_argument("--seconds", type=float, nargs="*", default=[], help="scoring times to turn into GFLOP/s")
a = p.parse_args()

c = json.load(open(os.path.join(a.model, "config.json")))
dim, ffn, layers = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
head_dim = c.get("head_dim", dim // c["num_attention_heads"])
q, kv = c["num_attention_heads"] * head_dim, c["num_key_value_heads"] * head_dim
layer_weights = layers * (2 * dim * q + 2 * dim * kv + 3 * dim * ffn)  # q, o; k, v; gate, up, down
head_weights = c["vocab_size"] * dim

tok = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json"))
lines = open(a.hellaswag, encoding="utf-8").read().split("\n")
forwarded = scored = 0
for d in range(a.docs):
    query, endings = lines[6 * d], lines[6 * d + 2:6 * d + 6]
    context = len(tok.encode(query, add_special_tokens=False).ids)
    forwarded += context
    for e in endings:  # the ending's tokens as they follow the context (both tools tokenize the whole)
        n = len(tok.encode(query + " " + e, add_special_tokens=False).ids) - context
        forwarded += n
        scored += n
flops = 2 * layer_weights * forwarded + 2 * head_weights * scored
print(f"{a.model}: {a.docs} documents, {forwarded} tokens forwarded, {scored} predicted; "
      f"decoder {2 * layer_weights * forwarded / 1e12:.2f} + lm_head {2 * head_weights * scored / 1e12:.2f} "
      f"= {flops / 1e12:.2f} TFLOP")
for s in a.seconds:
    print(f"  in {s:.1f} s: {flops / s / 1e9:.0f} GFLOP/s")
