#!/usr/bin/env bash
# SmolLM2-135M-Instruct (Q4_1, converted by scripts/get-smollm2 into .cache/smollm2-135m), the first 500 documents
# of every task with files in ../shared/datasets, under both rule sets, with wr-eval's default BOS (off: from the
# folder). Writes first500.csv and first500.txt here. Issue 31 item 5 wants full splits; this is a first look.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=results/smollm2
data=../shared/datasets
lm="arc_easy arc_challenge boolq hellaswag_llamacpp lambada_openai openbookqa piqa sciq social_iqa winogrande"
le="arc_easy arc_challenge boolq openbookqa piqa social_iqa winogrande"
rm -f $out/first500.csv $out/first500.txt
for rules in lm-eval lighteval; do
  tasks=$lm; [ $rules = lighteval ] && tasks=$le
  for t in $tasks; do
    build/eval/wr-eval --rules $rules --tasks $t --limit 500 --threads 2 --offline --data-dir $data \
      --output $out/first500.csv .cache/smollm2-135m >> $out/first500.txt
  done
done
