"""scripts/peer-check: wr-eval beside the real harnesses, per request (see scripts/peer-check for usage).

For each rule set and BOS setting it runs wr-eval with --log-samples and the peer on the same documents of the same
model (exported to a Hugging Face folder by wr-model convert), then compares: the request strings, log-likelihoods
(|d ll| <= 1e-4, or 1e-6 per token for longer continuations), greedy flags, per-document outcomes of each metric (exact ties excepted), task metrics, and for
TriviaQA the generations. The report (tables and JSON) goes to --out; the exit status is 1 on any mismatch.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import time
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOLERANCE = 1e-4


def tolerance(continuation_tokens):
    """|d ll| allowed for one request: 1e-4, or 1e-6 per continuation token for long ones (a sum of hundreds of
    float32 log-probabilities, each computed by another kernel in another order, differs by more than 1e-4)."""
    return max(TOLERANCE, 1e-6 * continuation_tokens)
CSV_DIGITS = 1e-6  # wr-eval's CSV keeps 6 significant digits
# tasks whose files are in ../shared (TriviaQA converted from its llm-foundry copy), per rule set
LM_EVAL_TASKS = "piqa,arc_easy,arc_challenge,openbookqa,winogrande,boolq,social_iqa,lambada_openai,triviaqa"
LIGHTEVAL_TASKS = "piqa,arc_easy,arc_challenge,openbookqa,winogrande,triviaqa"


def run(cmd, **kw):
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode == 3:
        sys.exit(f"peer-check: {r.stderr.strip().splitlines()[-1]} (scripts/setup installs the peers)")
    if r.returncode != 0:
        sys.exit(f"peer-check: {' '.join(cmd[:2])} failed:\n{r.stderr[-3000:]}")
    return r.stdout, time.perf_counter() - start


def data_dir(shared, out):
    """../shared/datasets plus TriviaQA in the rc.nocontext schema both tools read (from its llm-foundry copy)."""
    data = os.path.join(out, "data")
    os.makedirs(os.path.join(data, "triviaqa"), exist_ok=True)
    for name in os.listdir(shared):
        link = os.path.join(data, name)
        if name != "triviaqa" and not os.path.exists(link):
            os.symlink(os.path.join(shared, name), link)
    with open(os.path.join(shared, "triviaqa/llmfoundry_triviaqa_small.jsonl"), encoding="utf-8") as f, \
            open(os.path.join(data, "triviaqa/rc.nocontext-validation.jsonl"), "w", encoding="utf-8") as w:
        for line in f:
            r = json.loads(line)
            question = r["context"].removeprefix("Question: ").removesuffix("\nAnswer:")
            w.write(json.dumps({"question": question, "answer": {"value": r["answer"], "aliases": r["aliases"]}}) + "\n")
    return data


def wr_eval(args, rules, bos, tasks, data, out):
    tag = f"{rules}-bos-{bos}"
    samples, csv_path = os.path.join(out, f"wr-{tag}.jsonl"), os.path.join(out, f"wr-{tag}.csv")
    for p in (samples, csv_path):
        if os.path.exists(p):
            os.remove(p)
    _, seconds = run([f"{args.build}/eval/wr-eval", "--threads", str(args.threads), "--rules", rules, "--bos", bos,
                      "--tasks", tasks, "--limit", str(args.limit), "--offline", "--data-dir", data, "--tokenizer",
                      args.tokenizer, args.model, "--run", tag, "--output", csv_path, "--log-samples", samples])
    by_doc = defaultdict(list)
    with open(samples, encoding="utf-8") as f:
        for line in f:
            s = json.loads(line)
            by_doc[(s["task"], s["doc_id"])].append(s)
    metrics = defaultdict(dict)
    with open(csv_path, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            metrics[row["task"]][row["metric"]] = float(row["value"])
    return by_doc, metrics, seconds, samples


def is_tie(reqs, metric):
    """Whether the document's best choices tie exactly under `metric` (the harnesses then break ties alike, but a
    difference in the last bit of a log-likelihood may pick another one)."""
    lls = [r["ll"] for r in reqs]
    best = sorted(lls)[-2:]
    return metric == "acc" and len(best) == 2 and abs(best[1] - best[0]) <= TOLERANCE


def compare_lm_eval(mine, wr_metrics, ref):
    rows = []
    for task, r in ref.items():
        max_diff, mismatches, requests = 0.0, [], 0
        for doc_id, doc in r["docs"].items():
            reqs = sorted(mine[(task, int(doc_id))], key=lambda s: s.get("request", 0))
            if [[s["context"], s["continuation"] if "continuation" in s else ""] for s in reqs] != doc["requests"]:
                mismatches.append(f"{doc_id}: request text")
            if "generation" in reqs[0]:  # generative: the answer after the filters, and exact match
                requests += 1
                if reqs[0]["answer"] != doc["resps"][0] or float(reqs[0]["exact_match"]) != doc["exact_match"]:
                    mismatches.append(f"{doc_id}: generation {reqs[0]['answer']!r} vs {doc['resps'][0]!r}")
                continue
            for s, (ll, greedy) in zip(reqs, doc["resps"]):
                requests += 1
                max_diff = max(max_diff, abs(s["ll"] - ll))
                if abs(s["ll"] - ll) > tolerance(len(s["continuation_tokens"])):
                    mismatches.append(f"{doc_id}: |d ll| {abs(s['ll'] - ll):.2e} over {len(s['continuation_tokens'])} tokens")
                if s["is_greedy"] != greedy:
                    mismatches.append(f"{doc_id}: is_greedy")
            gold = reqs[0]["gold"]
            for metric, pred in (("acc", "pred"), ("acc_norm", "pred_norm")):
                if gold >= 0 and doc[metric] is not None and float(reqs[0][pred] == gold) != doc[metric] \
                        and not is_tie(reqs, metric):
                    mismatches.append(f"{doc_id}: {metric}")
        metric_pairs = []
        for metric, value in r["metrics"].items():
            if "stderr" in metric:
                continue
            mine_value = wr_metrics[task].get(metric)
            close = mine_value is not None and abs(mine_value - value) <= (1e-4 * value if metric == "perplexity" else CSV_DIGITS)
            metric_pairs.append(f"{metric} {mine_value:.4f}/{value:.4f}" if mine_value is not None else f"{metric} -/{value:.4f}")
            if not close:
                mismatches.append(f"metric {metric}")
        rows.append({"task": task, "docs": len(r["docs"]), "requests": requests, "max_dll": max_diff,
                     "mismatches": mismatches, "metrics": metric_pairs, "peer_seconds": r["seconds"]})
    return rows


def compare_lighteval(wr_metrics, ref):
    rows = []
    for task, r in ref.items():
        mismatches = [f"{d}: request text" for d in r["text_diffs"]] + [f"{d}: outcome" for d in r["outcome_diffs"]] + \
            [f"generation {d}" for d in r["generation_diffs"]]
        if r["token_diffs"]:
            mismatches.append(f"{r['token_diffs']} token id differences")
        if r["ll_over_tolerance"]:
            mismatches.append(f"{r['ll_over_tolerance']} log-likelihoods beyond max(1e-4, 1e-6 x tokens)")
        pairs = []
        for metric in ("quasi_exact_match",) if task == "triviaqa" else ("acc", "acc_norm_nospace"):
            pairs.append(f"{metric} {wr_metrics[task][metric]:.4f}/{r[metric]:.4f}")
            if abs(wr_metrics[task][metric] - r[metric]) > CSV_DIGITS:
                mismatches.append(f"metric {metric}")
        rows.append({"task": task, "docs": r["docs"], "requests": r["requests"], "max_dll": r["max_ll_diff"],
                     "mismatches": mismatches, "metrics": pairs})
    return rows


def print_table(title, rows, wr_seconds=None):
    print(f"\n{title}")
    print(f"{'task':16} {'docs':>5} {'requests':>8} {'max|dll|':>9} {'mismatch':>8}  metrics (wr/peer)")
    for row in rows:
        print(f"{row['task']:16} {row['docs']:5} {row['requests']:8} {row['max_dll']:9.2e} {len(row['mismatches']):8}  "
              f"{', '.join(row['metrics'])}")
        for m in row["mismatches"][:5]:
            print(f"{'':16}   ! {m}")
    if wr_seconds is not None:
        peer = sum(row["peer_seconds"] for row in rows)
        docs = sum(row["docs"] for row in rows)
        print(f"time for the same {docs} documents: wr-eval {wr_seconds:.1f} s ({docs / wr_seconds:.1f} docs/s, "
              f"process wall time incl. model load), lm-eval {peer:.1f} s ({docs / peer:.1f} docs/s, its evaluate() "
              f"per task): {peer / wr_seconds:.1f}x")


def main():
    shared = os.path.join(os.path.dirname(ROOT), "shared")
    ap = argparse.ArgumentParser(prog="scripts/peer-check")
    ap.add_argument("--model", default=os.path.join(shared, "models/stories260K/stories260K.bin"))
    ap.add_argument("--tokenizer", default=os.path.join(shared, "models/stories260K/tok512.model"))
    ap.add_argument("--datasets", default=os.path.join(shared, "datasets"))
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--lm-eval-tasks", default=LM_EVAL_TASKS)
    ap.add_argument("--lighteval-tasks", default=LIGHTEVAL_TASKS)
    ap.add_argument("--bos", default="on,off", help="BOS settings to check (lighteval: on is its default)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(ROOT, "build/peer-check"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    hf = os.path.join(args.out, "hf")
    run([f"{args.build}/model/wr-model", "convert", args.model, hf, "--to", "hf", "--tokenizer", args.tokenizer])
    data = data_dir(args.datasets, args.out)
    python = sys.executable
    report, failed = {}, False
    for bos in args.bos.split(","):
        if args.lm_eval_tasks:
            mine, metrics, seconds, _ = wr_eval(args, "lm-eval", bos, args.lm_eval_tasks, data, args.out)
            out, _ = run([python, f"{ROOT}/scripts/peers/lm_eval_reference.py", "--data", data, "--model", hf, "--tasks",
                          args.lm_eval_tasks, "--limit", str(args.limit), "--bos", bos, "--tmp", args.out])
            rows = compare_lm_eval(mine, metrics, json.loads(out))
            print_table(f"--rules lm-eval --bos {bos} vs lm-evaluation-harness 0.4.9", rows, seconds)
            report[f"lm-eval-bos-{bos}"] = rows
            failed |= any(row["mismatches"] for row in rows)
        if args.lighteval_tasks:
            _, metrics, _, samples = wr_eval(args, "lighteval", bos, args.lighteval_tasks, data, args.out)
            out, _ = run([python, f"{ROOT}/scripts/peers/lighteval_reference.py", "--samples", samples, "--data", data,
                          "--model", hf, "--bos", bos])
            rows = compare_lighteval(metrics, json.loads(out)["tasks"])
            print_table(f"--rules lighteval --bos {bos} vs lighteval 0.5.0", rows)
            report[f"lighteval-bos-{bos}"] = rows
            failed |= any(row["mismatches"] for row in rows)
    with open(os.path.join(args.out, "report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    print(f"\npeer-check: {'MISMATCHES' if failed else 'no mismatches'}; report in {args.out}/report.json")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
