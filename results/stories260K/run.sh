#!/usr/bin/env bash
# Scores llama2.c's stories260K (a 260K-parameter TinyStories model: chance-level on these benchmarks, expected)
# on every document of every task whose files are in ../shared/datasets (or the first LIMIT), with BOS on and
# off, in both scoring modes, and checks that the two modes give the same per-request log-likelihoods and
# predictions; the check's lines go to agreement.txt.
# Usage (from the repository root, after scripts/setup): results/stories260K/run.sh [LIMIT]
set -euo pipefail
E=build/eval/wr-eval; D=../shared/datasets; S=../shared/models/stories260K; OUT=results/stories260K
T=arc_easy,arc_challenge,hellaswag_llamacpp,piqa,social_iqa,winogrande,sciq,openbookqa,boolq,lambada_openai
LIMIT=${1:-0}
rm -f $OUT/results.csv $OUT/agreement.txt
for bos in on off; do
  for mode in shared no-share; do
    flag=""; [ $mode = no-share ] && flag=--no-share
    $E --tasks $T --limit $LIMIT --offline --data-dir $D --tokenizer $S/tok512.model $S/stories260K.bin --bos $bos $flag \
       --run stories260K-bos-$bos-$mode --output $OUT/results.csv --log-samples /tmp/wr-samples-$bos-$mode.jsonl
  done
  python3 - "$bos" <<'PY' | tee -a $OUT/agreement.txt
import json, sys
bos = sys.argv[1]
a = [json.loads(l) for l in open(f"/tmp/wr-samples-{bos}-shared.jsonl")]
b = [json.loads(l) for l in open(f"/tmp/wr-samples-{bos}-no-share.jsonl")]
assert len(a) == len(b)
d = max(abs(x["ll"] - y["ll"]) for x, y in zip(a, b))
p = sum(x["pred"] != y["pred"] or x["pred_norm"] != y["pred_norm"] for x, y in zip(a, b))
print(f"bos {bos}: {len(a)} requests, max |ll shared - ll no-share| = {d:.2e}, requests whose doc prediction differs: {p}")
PY
done
