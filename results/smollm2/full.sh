#!/usr/bin/env bash
# SmolLM2-135M-Instruct (Q4_1, converted by scripts/get-smollm2 into .cache/smollm2-135m) on full splits where the
# shared 2-core machine allowed it: lighteval rules (the model card's harness) on all of arc_easy, arc_challenge
# and piqa, then lm-eval rules on the first 3000 of HellaSwag's 10042 (llama.cpp's file; the lighteval formulation
# needs the original jsonl, not in ../shared). Default BOS (off, from the folder), 1 thread. Writes full.csv and
# full.txt here; the model card's numbers beside them are in results/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=results/smollm2
data=../shared/datasets
rm -f $out/full.csv $out/full.txt
for t in arc_easy arc_challenge piqa; do
  build/eval/wr-eval --rules lighteval --tasks $t --threads 1 --offline --data-dir $data --output $out/full.csv \
    .cache/smollm2-135m >> $out/full.txt
done
build/eval/wr-eval --rules lm-eval --tasks hellaswag_llamacpp --limit 3000 --threads 1 --offline --data-dir $data \
  --output $out/full.csv .cache/smollm2-135m >> $out/full.txt
