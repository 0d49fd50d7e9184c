"""lighteval's own code as the reference for `wr-eval --rules lighteval`, per item.

lighteval 0.5.0 (PyPI; it contains commit 6041e36, whose rules tasks/rules/lighteval.json follows) is imported and
its code runs on the documents wr scored:
  - the prompt functions of lighteval.tasks.default_prompts (piqa_harness, arc, openbookqa, winogrande, triviaqa) on
    each row, read from the local files and put in the Hugging Face datasets' schema: query, choices and gold must
    equal the context, continuations and gold wr logged;
  - its transformers BaseModel (float32, CPU; add_special_tokens on or off as --bos says, on being its default)
    scores every request through its own loglikelihood path (tok_encode_pair, left truncation, batching) and
    generates TriviaQA answers through its greedy_until (20 tokens, stop at \n . ,): its context and continuation
    token ids must equal wr's, and the report counts log-likelihoods further than max(1e-4, 1e-6 per continuation
    token) from wr's and generations that differ;
  - Metrics.loglikelihood_acc, loglikelihood_acc_norm_nospace and quasi_exact_match_triviaqa on its results: the
    per-document outcomes and their means, which the caller compares with wr's.
  - with --qem CASES.json: the triviaqa prompt function (alias pruning) and quasi_exact_match_triviaqa on each
    {aliases, generation}.

Usage: lighteval_reference.py --samples S.jsonl --data DIR --model HF_DIR [--bos on|off] [--qem CASES.json]
Prints one JSON object. Exit 0: ran (the caller judges the numbers); 3: lighteval or transformers is missing.
"""
import argparse
import contextlib
import importlib.machinery
import json
import sys
import types
import typing
from collections import defaultdict

import hf_rows

try:
    # spacy is imported by a summarisation metric module that metrics_sample loads and these checks never call;
    # scripts/setup does not install it (it would replace the pinned numpy and protobuf)
    if "spacy" not in sys.modules:
        stub = types.ModuleType("spacy")
        stub.__spec__ = importlib.machinery.ModuleSpec("spacy", None)
        sys.modules["spacy"] = stub
    # lighteval 0.5.0's data.py imports the type variable T_co that torch 2.x's sampler module no longer defines
    import torch.utils.data.distributed as torch_distributed
    if not hasattr(torch_distributed, "T_co"):
        torch_distributed.T_co = typing.TypeVar("T_co", covariant=True)
    from lighteval.metrics.metrics import Metrics
    from lighteval.metrics.utils import MetricCategory
    from lighteval.models.base_model import BaseModel
    from lighteval.models.model_config import BaseModelConfig
    from lighteval.tasks import default_prompts as prompts
    from lighteval.tasks.requests import GreedyUntilRequest, LoglikelihoodRequest
    from lighteval.utils.utils import EnvConfig
except ImportError as e:  # the caller skips, naming what is missing
    print(f"lighteval reference unavailable: {e}", file=sys.stderr)
    sys.exit(3)


# wr's task name -> lighteval's prompt function for it
PROMPTS = {"piqa": prompts.piqa_harness, "arc_easy": prompts.arc, "arc_challenge": prompts.arc,
           "openbookqa": prompts.openbookqa, "winogrande": prompts.winogrande, "triviaqa": prompts.triviaqa}


def check_requests(args):
    samples = defaultdict(list)
    for s in hf_rows.read_jsonl(args.samples):
        samples[(s["task"], s["doc_id"])].append(s)
    config = BaseModelConfig(pretrained=args.model, dtype="float32", add_special_tokens=args.bos == "on")
    model = BaseModel(config, EnvConfig(cache_dir=args.model))
    acc_fn = Metrics.loglikelihood_acc.value.sample_level_fn
    norm_fn = Metrics.loglikelihood_acc_norm_nospace.value.sample_level_fn
    qem_fn = Metrics.quasi_exact_match_triviaqa.value.sample_level_fn
    rows_of = {}  # task -> its rows, read once
    docs, requests, generations = {}, [], []
    for (task, doc_id), reqs in sorted(samples.items()):
        if task not in rows_of:
            rows_of[task] = hf_rows.rows(task, args.data, openbookqa_split="dev")  # the SmolLM suite's validation
        doc = PROMPTS[task](rows_of[task][doc_id], task)
        reqs.sort(key=lambda s: s.get("request", 0))
        docs[(task, doc_id)] = doc
        if "generation" in reqs[0]:  # triviaqa: as the SmolLM suite configures it (generation_size 20, stops)
            generations.append(GreedyUntilRequest(task_name=task, sample_index=doc_id, request_index=0, context=doc.query,
                                                  metric_categories=[MetricCategory.GENERATIVE], num_samples=1,
                                                  stop_sequence=["\n", ".", ","], generation_size=20))
            continue
        for i, choice in enumerate(doc.choices):
            requests.append(LoglikelihoodRequest(task_name=task, sample_index=doc_id, request_index=i, context=doc.query,
                                                 metric_categories=[MetricCategory.MULTICHOICE], choice=choice))
    scored = {(r.task_name, r.sample_index, r.request_index): out
              for r, out in zip(requests, model.loglikelihood(requests, override_bs=16))} if requests else {}
    generated = {(r.task_name, r.sample_index): out.result if isinstance(out.result, str) else out.result[0]
                 for r, out in zip(generations, model.greedy_until(generations, override_bs=16))} if generations else {}
    report = {}
    for (task, doc_id), reqs in sorted(samples.items()):
        doc = docs[(task, doc_id)]
        r = report.setdefault(task, {"docs": 0, "requests": 0, "text_diffs": [], "token_diffs": 0, "max_ll_diff": 0.0,
                                     "ll_over_tolerance": 0, "generation_diffs": [], "outcome_diffs": [],
                                     "acc": 0, "acc_norm_nospace": 0, "quasi_exact_match": 0})
        r["docs"] += 1
        if "generation" in reqs[0]:
            r["requests"] += 1
            text = generated[(task, doc_id)]
            qem = qem_fn(golds=doc.get_golds(), predictions=[text])
            r["quasi_exact_match"] += qem
            if reqs[0]["context"] != doc.query:
                r["text_diffs"].append(doc_id)
            if reqs[0]["answer"].strip() != text.strip() or int(reqs[0]["quasi_exact_match"]) != qem:
                r["generation_diffs"].append(f"{doc_id}: wr {reqs[0]['answer']!r}, lighteval {text!r}")
            continue
        if [s["context"] for s in reqs] != [doc.query] * len(doc.choices) or \
                [s["continuation"] for s in reqs] != doc.choices or reqs[0]["gold"] != doc.gold_index:
            r["text_diffs"].append(doc_id)
        lls = []
        for i, s in enumerate(reqs):
            out = scored[(task, doc_id, i)]
            r["requests"] += 1
            # its model input is (context + continuation)[:-1], the last max_length tokens of it; the response
            # reports both token lists with the padding of their batch (base_model.py:825, pad_and_gather's lengths
            # are the padded ones), so what must match is the prefix, and the rest must be padding
            expected_input = (s["context_tokens"] + s["continuation_tokens"])[:-1][-model.max_length:]
            if not padded_equal(out.input_tokens, expected_input, model.tokenizer.pad_token_id) or \
                    not padded_equal(out.generated_tokens, s["continuation_tokens"], model.tokenizer.pad_token_id):
                r["token_diffs"] += 1
            lls.append(out.result[0])
            r["max_ll_diff"] = max(r["max_ll_diff"], abs(lls[-1] - s["ll"]))
            # peer_check.py's tolerance: 1e-4, or 1e-6 per token for long continuations (float32 sums)
            r["ll_over_tolerance"] += abs(lls[-1] - s["ll"]) > max(1e-4, 1e-6 * len(s["continuation_tokens"]))
        golds = [doc.gold_index]
        acc = acc_fn(gold_ixs=golds, choices_logprob=lls, unconditioned_logprob=None, choices_tokens=None, formatted_doc=doc)
        norm = norm_fn(gold_ixs=golds, choices_logprob=lls, unconditioned_logprob=None, choices_tokens=None, formatted_doc=doc)
        r["acc"] += acc
        r["acc_norm_nospace"] += norm
        wr_acc, wr_norm = int(reqs[0]["pred"] == reqs[0]["gold"]), int(reqs[0]["pred_norm_nospace"] == reqs[0]["gold"])
        if (acc, norm) != (wr_acc, wr_norm):
            r["outcome_diffs"].append(doc_id)
    for r in report.values():
        for metric in ("acc", "acc_norm_nospace", "quasi_exact_match"):
            r[metric] /= r["docs"]
    return report



def padded_equal(reported, expected, pad):
    return reported[:len(expected)] == expected and all(t == pad for t in reported[len(expected):])


def check_qem(path):
    qem = Metrics.quasi_exact_match_triviaqa.value.sample_level_fn
    scores = []
    for case in json.load(open(path, encoding="utf-8")):
        doc = prompts.triviaqa({"question": "q", "answer": {"aliases": list(case["aliases"])}}, "triviaqa")
        scores.append(qem(golds=doc.get_golds(), predictions=[case["generation"]]))
    return scores


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples")
    ap.add_argument("--data")
    ap.add_argument("--model")
    ap.add_argument("--bos", choices=["on", "off"], default="on")
    ap.add_argument("--qem")
    args = ap.parse_args()
    out = {}
    if args.samples:
        with contextlib.redirect_stdout(sys.stderr):  # lighteval logs to stdout; stdout carries the report
            out["tasks"] = check_requests(args)
    if args.qem:
        out["qem"] = check_qem(args.qem)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
