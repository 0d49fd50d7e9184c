"""bench-tokenize's reference side: Hugging Face `tokenizers` (Rust) encoding the same documents, timed here.

  tokenize_reference.py TOKENIZER_JSON DOCS_JSONL THREADS
Prints one JSON line per thread count (1, then THREADS): {"threads", "seconds", "tokens"}. encode_batch runs on
the library's Rayon pool, sized by RAYON_NUM_THREADS before the library starts, so each count is its own process.
"""
import json
import os
import subprocess
import sys
import time


def run(tokenizer_json, docs_jsonl):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(tokenizer_json)
    with open(docs_jsonl) as f:
        docs = [json.loads(line)["text"] for line in f]
    start = time.perf_counter()
    encodings = tok.encode_batch(docs, add_special_tokens=False)
    seconds = time.perf_counter() - start
    print(json.dumps({"threads": int(os.environ["RAYON_NUM_THREADS"]), "seconds": seconds,
                      "tokens": sum(len(e.ids) for e in encodings)}))


if __name__ == "__main__":
    if len(sys.argv) == 3:
        run(*sys.argv[1:3])
    else:
        try:
            import tokenizers  # noqa: F401
        except ImportError:
            sys.exit("Python package 'tokenizers' is not installed (scripts/setup --torch pypi installs it)")
        for threads in sorted({1, int(sys.argv[3])}):
            env = dict(os.environ, RAYON_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="true")
            subprocess.run([sys.executable, __file__, sys.argv[1], sys.argv[2]], env=env, check=True)
