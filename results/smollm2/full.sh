#!/usr/bin/env bash
# SmolLM2-135M-Instruct (Q4_1, converted by scripts/get-smollm2 into .cache/smollm2-135m) on full splits: every task
# with files in ../shared/datasets under both rule sets, lighteval's (the model card's harness) first. Default BOS
# (off, from the folder), 2 threads. Appends to full.csv and full.txt here: wr-eval --output skips the (task, rules)
# rows full.csv already holds, so a run that was stopped continues where it stopped (the whole of it is about 3 hours
# of a 2-core machine). The model card's numbers beside them are in results/README.md.
# (lighteval's hellaswag needs the original jsonl, not in ../shared: HellaSwag is scored on llama.cpp's file under
# lm-eval rules.)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=results/smollm2
data=../shared/datasets
run() {  # RULES TASK
  build/eval/wr-eval --rules "$1" --tasks "$2" --threads 2 --offline --data-dir $data --output $out/full.csv \
    .cache/smollm2-135m >> $out/full.txt
}
# arc_easy, arc_challenge and piqa last: their full-split rows in full.csv predate the subset column (written at
# 98d46d1; n = the whole split), so --output does not recognise them and scores them again.
for t in winogrande social_iqa openbookqa boolq arc_easy arc_challenge piqa; do run lighteval $t; done
for t in arc_easy arc_challenge piqa winogrande social_iqa openbookqa sciq boolq lambada_openai hellaswag_llamacpp; do
  run lm-eval $t
done
