"""wr-eval on a real model against its rule set's harness run in float64, per request (issue 31).

--rules lm-eval (default): lm-eval 0.4.9's own pipeline (scripts/peers/lm_eval_reference.py's local tasks: its YAML
configurations with their splits read from ../shared/datasets) scores the documents with its HFLM on the same Hugging
Face folder loaded in float64, log-softmax in float64.
--rules lighteval: lighteval 0.5.0's transformers BaseModel (scripts/peers/lighteval_reference.py imports it) loaded
with BaseModelConfig(dtype="float64"): lighteval turns the string into torch.float64 (lighteval/models/utils.py:51)
and hands it to AutoModelForCausalLM.from_pretrained (models/base_model.py:190-197), its loglikelihood path
log-softmaxes the model's output in that dtype (base_model.py:764; only its batch-size probe, skipped with
override_bs, casts to float32) and sums and returns it in float64 (base_model.py:792, 809, 824). No patch: its own
code, as its users run it, in another dtype. The request text comes from lighteval's own prompt functions where the
SmolLM suite uses them (piqa, ARC, openbookqa, winogrande: it must equal wr's); social_iqa's and boolq's prompts
live in cosmopedia's lighteval_tasks.py, not in the package, so lighteval scores wr's text for those. Its
tokenization must give wr's token ids; acc and acc_norm_nospace are its Metrics on its float64 log-likelihoods.
A float64 reference has rounding some nine orders of magnitude below float32's, so the tolerance can be tight. wr-eval
scores the documents under the same --rules with its defaults (float32, BOS as the folder says, which is what both
harnesses do by default for this folder). Compared per request: the context and continuation text, token ids
(lighteval), |d ll|, the greedy flag; per document: the rule set's acc and normalized acc (a tie of the best two
within 1e-4 excepted).
With --float32 the peer also runs as its users run it (float32 weights and log-softmax): PyTorch's own float32 error
against the same float64 reference, the yardstick of issue 31 item 4.

  smollm2_peer.py --wr-eval BIN --model HF_DIR --data DIR --tasks a,b --limit N --out DIR [--rules lm-eval|lighteval]
                  [--threads T] [--float32]

Prints one JSON object: {"rules", "requests": n, "docs": n, "wr": {"median", "max", "median_per_token",
"max_per_token", "median_signed", "over_tolerance"} of |wr - float64|, "float32": the same for the peer's float32
(with --float32), "mismatches": [...], "tasks": {task: {"requests", "docs", "max_dll", METRIC: [wr, peer]}}}.
Writes per-request rows to OUT/requests.jsonl. Exit 0: compared (mismatches are data, the caller judges); 3:
the peer or transformers is missing.
"""
import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts/peers"))
sys.dont_write_bytecode = True  # no __pycache__ left in the source tree

# per rule set: its metrics, each with wr-eval's prediction field for it and whether its length normalization
# drops a leading space (lighteval's LogProbCharNorm(ignore_first_space=True), metrics/normalizations.py:405)
METRICS = {"lm-eval": {"acc": ("pred", None), "acc_norm": ("pred_norm", False)},
           "lighteval": {"acc": ("pred", None), "acc_norm_nospace": ("pred_norm_nospace", True)}}


def tolerance(continuation_tokens):
    """|d ll| allowed between wr's float32 and the float64 reference: 5e-5 + 2e-6 per scored token. On 1,200
    requests of 7 tasks (docs/EVALUATION.md, "Precision against float64") wr's float32 came within 1.6e-5 on one
    token, 3.4e-5 on 2-3 and 5.9e-5 on 30: rounding noise, unbiased (median signed error 3e-7) and growing slowly
    with length; this allows 1.6x to 3x that. Its own error on short requests is what float32 over 30 layers can do,
    so the bound cannot be much tighter per request; systematic errors are caught by the medians the caller checks
    (PyTorch's float32 log-softmax, as lm-eval runs it, is 3.3e-5 high in the median and beyond this on 293 of the
    1,200 requests; wr's float32 sum over the vocabulary before issue 31 was 1.6e-5 a token off)."""
    return 5e-5 + 2e-6 * continuation_tokens


def run_wr(args):
    samples = os.path.join(args.out, "wr.jsonl")
    if os.path.exists(samples):
        os.remove(samples)
    r = subprocess.run([args.wr_eval, "--rules", args.rules, "--tasks", args.tasks, "--limit", str(args.limit),
                        "--threads", str(args.threads), "--offline", "--data-dir", args.data, "--log-samples", samples,
                        args.model], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"smollm2_peer.py: wr-eval failed:\n{r.stderr[-3000:]}")
    by_doc = defaultdict(list)
    with open(samples, encoding="utf-8") as f:
        for line in f:
            s = json.loads(line)
            by_doc[(s["task"], s["doc_id"])].append(s)
    return {k: sorted(v, key=lambda s: s["request"]) for k, v in by_doc.items()}


def run_lm_eval(args, mine, dtype):
    """{task: {doc_id: lm-eval's sample}} with HFLM in `dtype` (weights and log-softmax)."""
    import lm_eval_reference  # exits 3 when lm-eval is absent
    import lm_eval.evaluator
    import lm_eval.tasks
    from lm_eval.models.huggingface import HFLM
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["HF_DATASETS_CACHE"] = os.path.join(args.out, "hf-cache")
    manager = lm_eval.tasks.TaskManager()
    tasks = {n: lm_eval_reference.local_task(manager, n, args.data, args.out) for n in args.tasks.split(",")}
    lm = HFLM(pretrained=args.model, device="cpu", batch_size=16, dtype=dtype, softmax_dtype=dtype)
    with contextlib.redirect_stdout(sys.stderr):  # lm-eval prints progress; stdout carries the report
        out = lm_eval.evaluator.evaluate(lm=lm, task_dict=tasks, limit=args.limit, log_samples=True)
    return {name: {s["doc_id"]: s for s in out["samples"][name]} for name in tasks}


def run_lighteval(args, mine, dtype):
    """The same shape as run_lm_eval's ("arguments", "resps", each metric, and "token_diffs": request indices whose
    token ids differ from wr's) from lighteval's BaseModel in `dtype` on the documents wr scored."""
    import lighteval_reference as le  # exits 3 when lighteval is absent; defines what its import needs
    from lighteval.tasks.requests import Doc
    rows_of, docs, requests = {}, {}, []
    for (task, doc_id), reqs in sorted(mine.items()):
        if task in le.PROMPTS:  # lighteval's own prompt function builds the text
            if task not in rows_of:
                rows_of[task] = le.hf_rows.rows(task, args.data, openbookqa_split="dev")  # the suite's validation
            doc = le.PROMPTS[task](rows_of[task][doc_id], task)
        else:  # the suite's prompt is cosmopedia's, not lighteval's: wr's text
            doc = Doc(task_name=task, query=reqs[0]["context"], choices=[s["continuation"] for s in reqs],
                      gold_index=reqs[0]["gold"])
        docs[(task, doc_id)] = doc
        for i, choice in enumerate(doc.choices):
            requests.append(le.LoglikelihoodRequest(task_name=task, sample_index=doc_id, request_index=i,
                                                    context=doc.query, choice=choice,
                                                    metric_categories=[le.MetricCategory.MULTICHOICE]))
    config = le.BaseModelConfig(pretrained=args.model, dtype=dtype)  # add_special_tokens: its default
    with contextlib.redirect_stdout(sys.stderr):  # lighteval logs to stdout; stdout carries the report
        model = le.BaseModel(config, le.EnvConfig(cache_dir=args.model))
        loaded = next(model.model.parameters()).dtype
        if str(loaded) != f"torch.{dtype}":  # a lighteval that ignored the dtype would leave float32 silently
            sys.exit(f"smollm2_peer.py: lighteval loaded the model in {loaded}, not {dtype}")
        scored = model.loglikelihood(requests, override_bs=16)
    by_doc = defaultdict(dict)
    for r, out in zip(requests, scored):
        by_doc[(r.task_name, r.sample_index)][r.request_index] = out
    acc_fn = le.Metrics.loglikelihood_acc.value.sample_level_fn
    norm_fn = le.Metrics.loglikelihood_acc_norm_nospace.value.sample_level_fn
    result = defaultdict(dict)
    for (task, doc_id), doc in docs.items():
        outs = [by_doc[(task, doc_id)][i] for i in range(len(doc.choices))]
        reqs, lls = mine[(task, doc_id)], [out.result[0] for out in outs]
        token_diffs = []
        for i, (s, out) in enumerate(zip(reqs, outs)):
            # its model input is (context + continuation)[:-1], the last max_length tokens; both token lists come
            # back padded to their batch (base_model.py:825), so the prefix must match and the rest be padding
            expected_input = (s["context_tokens"] + s["continuation_tokens"])[:-1][-model.max_length:]
            pad = model.tokenizer.pad_token_id
            if not le.padded_equal(out.input_tokens, expected_input, pad) or \
                    not le.padded_equal(out.generated_tokens, s["continuation_tokens"], pad):
                token_diffs.append(i)
        kw = {"gold_ixs": [doc.gold_index], "choices_logprob": lls, "unconditioned_logprob": None,
              "choices_tokens": None, "formatted_doc": doc}
        result[task][doc_id] = {"arguments": [[doc.query, c] for c in doc.choices],
                                "resps": [[list(out.result)] for out in outs], "token_diffs": token_diffs,
                                "acc": acc_fn(**kw), "acc_norm_nospace": norm_fn(**kw)}
    return result


def tie(lls, tol):
    best = sorted(lls)[-2:]
    return len(best) == 2 and best[1] - best[0] <= tol


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wr-eval", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--tasks", required=True)
    ap.add_argument("--limit", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rules", choices=sorted(METRICS), default="lm-eval")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--float32", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    mine = run_wr(args)
    peer = run_lm_eval if args.rules == "lm-eval" else run_lighteval
    exact = peer(args, mine, "float64")
    f32 = peer(args, mine, "float32") if args.float32 else None
    mismatches, tasks, rows = [], {}, []
    for task, docs in exact.items():
        t = {"docs": len(docs), "requests": 0, "max_dll": 0.0}
        for doc_id, doc in sorted(docs.items()):
            reqs = mine.get((task, doc_id), [])
            where = f"{task} {doc_id}"
            if [[s["context"], s["continuation"]] for s in reqs] != [[a[0], a[1]] for a in doc["arguments"]]:
                mismatches.append(f"{where}: request text")
                continue
            mismatches += [f"{where} request {i}: token ids" for i in doc.get("token_diffs", [])]
            lls = []
            for i, (s, resp) in enumerate(zip(reqs, doc["resps"])):
                ll, greedy = resp[0]
                row = {"task": task, "doc": doc_id, "request": i, "context_tokens": len(s["context_tokens"]),
                       "continuation_tokens": len(s["continuation_tokens"]), "wr": s["ll"], "float64": ll}
                if f32 is not None:
                    row["float32"] = f32[task][doc_id]["resps"][i][0][0]
                rows.append(row)
                d = abs(s["ll"] - ll)
                tol = tolerance(row["continuation_tokens"])
                t["requests"] += 1
                t["max_dll"] = max(t["max_dll"], d)
                if d > tol:
                    mismatches.append(f"{where} request {i}: |d ll| {d:.2e} > {tol:.2e}")
                if s["is_greedy"] != greedy:
                    mismatches.append(f"{where} request {i}: is_greedy {s['is_greedy']} vs {greedy}")
                lls.append(ll)
            gold = reqs[0]["gold"]
            for metric, (pred, nospace) in METRICS[args.rules].items():
                if gold < 0 or doc.get(metric) is None:
                    continue
                counts = t.setdefault(metric, [0, 0])  # [wr, peer]
                counts[0] += float(reqs[0][pred] == gold)
                counts[1] += doc[metric]
                scores = lls if nospace is None else \
                    [ll / (len(c[1]) - (nospace and c[1].startswith(" "))) for ll, c in zip(lls, doc["arguments"])]
                if float(reqs[0][pred] == gold) != doc[metric] and not tie(scores, 1e-4):
                    mismatches.append(f"{where}: {metric}")
        for metric in METRICS[args.rules]:
            if metric in t:
                t[metric] = [round(v / t["docs"], 6) for v in t[metric]]
        tasks[task] = t
    with open(os.path.join(args.out, "requests.jsonl"), "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")

    def stats(key):  # of |ll - float64|, and the median of ll - float64 (a bias)
        d = [abs(r[key] - r["float64"]) for r in rows]
        per_token = [x / r["continuation_tokens"] for x, r in zip(d, rows)]
        return {"median": statistics.median(d), "max": max(d), "median_per_token": statistics.median(per_token),
                "max_per_token": max(per_token),
                "median_signed": statistics.median([r[key] - r["float64"] for r in rows]),
                "over_tolerance": sum(x > tolerance(r["continuation_tokens"]) for x, r in zip(d, rows))}

    report = {"rules": args.rules, "requests": len(rows), "docs": sum(t["docs"] for t in tasks.values()),
              "wr": stats("wr"), "mismatches": mismatches, "tasks": tasks}
    if f32 is not None:
        report["float32"] = stats("float32")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
