"""lm-evaluation-harness itself as the reference for `wr-eval --rules lm-eval`, per item.

lm-eval 0.4.9 (PyPI) runs its own pipeline: each task's built-in YAML configuration (templates, !function
preprocessors, metrics), with only its dataset pointed at the local files (written in the Hugging Face dataset's
schema to a temp folder and read by the datasets "json" builder, so nothing is downloaded), scored by its HFLM on
the Hugging Face copy of the model (float32, CPU; --bos on sets its add_bos_token, off is its default). For each
document it reports the requests lm-eval built, its log-likelihoods and is_greedy flags (generative tasks: the
generation after its filters), its per-document metrics, and its aggregated metrics.

Usage: lm_eval_reference.py --data DIR --model HF_DIR --tasks piqa,arc_easy --limit N --bos on|off --tmp DIR
Prints one JSON object {task: {"metrics": {...}, "seconds": s, "docs": {doc_id: {"requests": [[ctx, cont]...],
"resps": [[ll, greedy]...] or [generation], "acc": x, "acc_norm": y, "exact_match": z}}}}.
Exit 0: ran; 3: lm-eval or transformers is missing.
"""
import argparse
import contextlib
import json
import os
import sys
import time

import hf_rows

try:
    import lm_eval.evaluator
    import lm_eval.tasks
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.models.huggingface import HFLM
except ImportError as e:
    print(f"lm-eval reference unavailable: {e}", file=sys.stderr)
    sys.exit(3)


def local_task(manager, name, data, tmp):
    """lm-eval's configuration of `name` with its evaluated split read from a local jsonl."""
    config = manager._get_config(name)  # the YAML with its !function entries resolved
    split = config.get("test_split") or config.get("validation_split")
    path = os.path.join(tmp, f"{name}.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for r in hf_rows.rows(name, data):
            f.write(json.dumps(r) + "\n")
    # every split the configuration names reads the file (only `split` is scored; 0-shot draws no examples)
    splits = {config[k] for k in ("training_split", "validation_split", "test_split", "fewshot_split") if config.get(k)}
    config.update(dataset_path="json", dataset_name=None, dataset_kwargs={"data_files": {s: path for s in splits}})
    return ConfigurableTask(config=config)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--tasks", required=True)
    ap.add_argument("--limit", type=int, required=True)
    ap.add_argument("--bos", choices=["on", "off"], default="off")
    ap.add_argument("--tmp", required=True)
    args = ap.parse_args()
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["HF_DATASETS_CACHE"] = os.path.join(args.tmp, "hf-cache")
    manager = lm_eval.tasks.TaskManager()
    tasks = {name: local_task(manager, name, args.data, args.tmp) for name in args.tasks.split(",")}
    lm = HFLM(pretrained=args.model, device="cpu", batch_size=16, dtype="float32", add_bos_token=args.bos == "on")
    report = {}
    for name, task in tasks.items():  # one task at a time, to time each
        start = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):  # lm-eval prints progress lines; stdout carries the report
            out = lm_eval.evaluator.evaluate(lm=lm, task_dict={name: task}, limit=args.limit, log_samples=True)
        seconds = time.perf_counter() - start
        # "acc,none", "exact_match,remove_whitespace": the metric, then the filter it went through
        metrics = {k.split(",")[0]: v for k, v in out["results"][name].items() if "," in k}
        docs = {}
        for s in out["samples"][name]:
            generative = task.OUTPUT_TYPE == "generate_until"
            docs[s["doc_id"]] = {"requests": [[a[0], "" if generative else a[1]] for a in s["arguments"]],
                                 "resps": s["filtered_resps"] if generative else [list(r[0]) for r in s["resps"]],
                                 "acc": s.get("acc"), "acc_norm": s.get("acc_norm"), "exact_match": s.get("exact_match")}
        report[name] = {"metrics": metrics, "seconds": seconds, "docs": docs}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
