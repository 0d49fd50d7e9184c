#!/bin/bash
# How results/outliers/ was made (issue 28 section 2): wr-model activations on SmolLM2-135M and on two tiny
# wr-trained checkpoints, and the two runs' telemetry drawn by scripts/plot. Run from the repository root after
# scripts/get-smollm2; OUT holds the shards, runs and text (default /tmp/outliers).
set -euo pipefail
out=${OUT:-/tmp/outliers}
res=results/outliers
mkdir -p "$out/data" "$res"
corpus=(../shared/corpus/brown.jsonl ../shared/corpus/nlp-corpus.jsonl)
# the text: the first 40 documents of the Brown corpus, one blank line between them
python3 -c '
import json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as o:
    for i, line in enumerate(f):
        if i == 40: break
        o.write(json.loads(line)["text"] + "\n\n")' ../shared/corpus/brown.jsonl "$out/brown-text.txt"

build/model/wr-model activations .cache/smollm2-135m --text "$out/brown-text.txt" --json "$res/smollm2-135m.json" \
    > "$res/smollm2-135m.txt"

# two tiny runs of configs/train/study.json (6.8M parameters), 60 steps each: the paper's baseline and LIR + TVR
build/trainer/wr-data train-tokenizer --vocab-size 4096 --out "$out/data/tokenizer.model" "${corpus[@]}"
build/trainer/wr-data tokenize --tokenizer "$out/data/tokenizer.model" --out "$out/data/shards" --val-fraction 0.01 "${corpus[@]}"
for v in baseline lir-tvr; do
  case $v in
    baseline) ov="init.scheme=normal init.std=0.02 tvr.enabled=false";;
    lir-tvr) ov="init.scheme=lir init.std=0.006 tvr.enabled=true tvr.threshold=1.0";;
  esac
  # shellcheck disable=SC2086  # the variant's overrides are words
  build/trainer/wr-train configs/train/study.json run.dir="$out/runs/$v" run.name=$v data.dir="$out/data/shards" \
      eval.data_dir=../shared/datasets $ov schedule.steps=60 schedule.warmup_steps=10 tvr.interval=15 \
      eval.interval=60 'eval.tasks=["arc_easy"]' eval.sample=200 'eval.quant=["w8","w4g128","w8a8","a8t","fp8"]' \
      checkpoint.interval=60 log.telemetry_interval=10 log.interval=10
  build/model/wr-model activations "$out/runs/$v/ckpt_00000060.pt" --text "$out/brown-text.txt" --window-tokens 256 \
      > "$res/tiny-$v.txt"
done
/usr/bin/python3 scripts/plot --out "$out/plots" --title "60 steps" "$out/runs/baseline" "$out/runs/lir-tvr" \
    | tee "$res/contrast.txt"
cp "$out/plots/kurtosis.png" "$res/"
