"""The reference side of tests/model/hf_tokenizer_test.cpp: Hugging Face's `tokenizers` (Rust) and `transformers`.

  hf_reference.py encode TOKENIZER_JSON IN OUT
      IN: one hex-encoded byte string per line. Each is read as UTF-8 with errors="replace" (Python's repair of
      ill-formed bytes), encoded without special tokens and decoded keeping them; OUT gets one JSON line
      {"ids": [...], "decoded": hex} per input line.
  hf_reference.py convert-sentencepiece MODEL OUT_JSON legacy|metaspace
      A SentencePiece model converted to tokenizer.json by transformers, as Llama 2's HF checkpoints were:
      "legacy" (Prepend + Replace normalizers) or "metaspace" (Metaspace pre-tokenizer, prepend_scheme first).
  hf_reference.py loglik MODEL_DIR IN OUT [float32|float64]
      transformers' Llama from a Hugging Face folder (AutoTokenizer, AutoModelForCausalLM), float32 unless named:
      each IN line (hex, as above) is tokenized as the tokenizer does by default (its own special tokens), and OUT
      gets {"ids": [...], "ll": sum of log p(ids[t] | ids[:t]) for t >= 1, log-softmax in the model's dtype as
      lm-eval takes it}.
Exits 3 when a package is missing, so the test can skip with that message.
"""
import json
import sys


def need(module):
    try:
        return __import__(module)
    except ImportError:
        print(f"Python package '{module}' is not installed (scripts/setup --torch pypi installs it)", file=sys.stderr)
        sys.exit(3)


def encode(tokenizer_json, inp, out):
    tokenizers = need("tokenizers")
    tok = tokenizers.Tokenizer.from_file(tokenizer_json)
    with open(inp) as f, open(out, "w") as g:
        for line in f:
            text = bytes.fromhex(line.strip()).decode("utf-8", errors="replace")
            ids = tok.encode(text, add_special_tokens=False).ids
            decoded = tok.decode(ids, skip_special_tokens=False)
            g.write(json.dumps({"ids": ids, "decoded": decoded.encode("utf-8", errors="surrogatepass").hex()}) + "\n")


def convert_sentencepiece(model, out, variant):
    spm = need("sentencepiece")
    need("transformers")
    from transformers.convert_slow_tokenizer import LlamaConverter

    class Slow:  # what LlamaConverter reads of a slow LlamaTokenizer
        def __init__(self):
            self.vocab_file, self.legacy, self.add_prefix_space = model, variant == "legacy", True
            self.sp = spm.SentencePieceProcessor(model_file=model)

        def convert_ids_to_tokens(self, i):
            return self.sp.id_to_piece(i)

    with open(out, "w") as g:
        g.write(LlamaConverter(Slow()).converted().to_str())


def loglik(model_dir, inp, out, dtype="float32"):
    torch = need("torch")
    transformers = need("transformers")
    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype)).eval()
    with open(inp) as f, open(out, "w") as g, torch.no_grad():
        for line in f:
            ids = tok(bytes.fromhex(line.strip()).decode("utf-8", errors="replace")).input_ids
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0, :-1], dim=-1)
            ll = logp.gather(1, torch.tensor(ids[1:])[:, None]).sum().item()
            g.write(json.dumps({"ids": ids, "ll": ll}) + "\n")


if __name__ == "__main__":
    if sys.argv[1] == "encode":
        encode(*sys.argv[2:5])
    elif sys.argv[1] == "convert-sentencepiece":
        convert_sentencepiece(*sys.argv[2:5])
    elif sys.argv[1] == "loglik":
        loglik(*sys.argv[2:6])
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
