"""lighteval's own code as the reference for `wr-eval --rules lighteval`, per item.

lighteval 0.5.0 (PyPI; it contains commit 6041e36, whose rules tasks/rules/lighteval.json follows) is imported and
its functions are called on the documents wr scored:
  - the prompt functions of lighteval.tasks.default_prompts (piqa_harness, arc, openbookqa, winogrande) on each row,
    read from the local files and put in the Hugging Face datasets' schema: query, choices and gold must equal the
    context, continuations and gold wr logged;
  - LightevalModel.tok_encode_pair with the model's tokenizer through transformers (add_special_tokens=True, the
    BaseModel default): context and continuation token ids must equal wr's;
  - the log-likelihood of each continuation under transformers' LlamaForCausalLM (float32), input
    (context + continuation)[:-1] as lighteval's BaseModel builds it, and how many differ from wr's by more than
    max(1e-4, 1e-6 per continuation token);
  - Metrics.loglikelihood_acc and Metrics.loglikelihood_acc_norm_nospace on those log-likelihoods: the per-document
    outcomes and their means, which the caller compares with wr's.
  - with --qem CASES.json: lighteval's triviaqa prompt function (alias pruning) and quasi_exact_match_triviaqa on
    each {aliases, generation}.

Usage: lighteval_reference.py --samples S.jsonl --data DIR --model HF_DIR [--bos on|off] [--qem CASES.json]
Prints one JSON object. Exit 0: ran (the caller judges the numbers); 3: lighteval or transformers is missing.
"""
import argparse
import importlib.machinery
import json
import math
import sys
import types
from collections import defaultdict

try:
    # spacy is imported by a summarisation metric module that metrics_sample loads and these checks never call;
    # scripts/setup does not install it (it would replace the pinned numpy and protobuf)
    if "spacy" not in sys.modules:
        stub = types.ModuleType("spacy")
        stub.__spec__ = importlib.machinery.ModuleSpec("spacy", None)
        sys.modules["spacy"] = stub
    import torch
    import transformers
    from lighteval.metrics.metrics import Metrics
    from lighteval.models.abstract_model import LightevalModel
    from lighteval.tasks import default_prompts as prompts
except ImportError as e:  # the caller skips, naming what is missing
    print(f"lighteval reference unavailable: {e}", file=sys.stderr)
    sys.exit(3)


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def arc_rows(path):
    return [{"question": r["question"]["stem"],
             "choices": {"text": [c["text"] for c in r["question"]["choices"]],
                         "label": [c["label"] for c in r["question"]["choices"]]},
             "answerKey": r["answerKey"]} for r in read_jsonl(path)]


# wr's task name -> (lighteval prompt function, the rows of the local files in the HF dataset's schema)
def task_rows(data):
    return {
        "piqa": (prompts.piqa_harness, lambda: [dict(r, label=int(l)) for r, l in zip(
            read_jsonl(f"{data}/piqa/valid.jsonl"), read_lines(f"{data}/piqa/valid-labels.lst"))]),
        "arc_easy": (prompts.arc, lambda: arc_rows(f"{data}/arc/ARC-Easy-Test.jsonl")),
        "arc_challenge": (prompts.arc, lambda: arc_rows(f"{data}/arc/ARC-Challenge-Test.jsonl")),
        "openbookqa": (prompts.openbookqa, lambda: [dict(r, question_stem=r["question"]["stem"], choices={
            "text": [c["text"] for c in r["question"]["choices"]],
            "label": [c["label"] for c in r["question"]["choices"]]}) for r in read_jsonl(f"{data}/openbookqa/dev.jsonl")]),
        "winogrande": (prompts.winogrande, lambda: read_jsonl(f"{data}/winogrande/dev.jsonl")),
    }


class Encoder:
    """What LightevalModel.tok_encode_pair needs of a model: its tokenizer and add_special_tokens."""

    def __init__(self, tokenizer, add_special_tokens):
        self.tokenizer = tokenizer
        self.add_special_tokens = add_special_tokens  # BaseModelConfig's default: True (BOS for Llama tokenizers)

    def tok_encode(self, s, add_special_tokens=None):
        return LightevalModel.tok_encode(self, s, add_special_tokens)


def loglikelihood(model, context, continuation, max_length):
    """lighteval BaseModel: input (context + continuation)[:-1], the last max_length tokens; sum of log-softmax."""
    whole = (context + continuation)[:-1][-max_length:]
    with torch.no_grad():
        logits = model(torch.tensor([whole])).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)[-len(continuation):]
    return float(logprobs.gather(1, torch.tensor(continuation).unsqueeze(1)).sum())


def check_requests(args):
    samples = defaultdict(list)
    for s in read_jsonl(args.samples):
        samples[(s["task"], s["doc_id"])].append(s)
    tokenizer = transformers.AutoTokenizer.from_pretrained(args.model)
    model = transformers.AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.float32).eval()
    max_length = model.config.max_position_embeddings
    encoder = Encoder(tokenizer, args.bos == "on")
    acc_fn = Metrics.loglikelihood_acc.value.sample_level_fn
    norm_fn = Metrics.loglikelihood_acc_norm_nospace.value.sample_level_fn
    tasks = task_rows(args.data)
    report = {}
    rows_of = {}
    for (task, doc_id), reqs in sorted(samples.items()):
        prompt_fn, read_rows = tasks[task]
        if task not in rows_of:
            rows_of[task] = read_rows()
        doc = prompt_fn(rows_of[task][doc_id], task)
        reqs.sort(key=lambda s: s["request"])
        r = report.setdefault(task, {"docs": 0, "requests": 0, "text_diffs": [], "token_diffs": 0,
                                     "max_ll_diff": 0.0, "ll_over_tolerance": 0, "acc": 0, "acc_norm_nospace": 0, "outcome_diffs": []})
        r["docs"] += 1
        if [s["context"] for s in reqs] != [doc.query] * len(doc.choices) or \
                [s["continuation"] for s in reqs] != doc.choices or reqs[0]["gold"] != doc.gold_index:
            r["text_diffs"].append(doc_id)
        lls = []
        for s, choice in zip(reqs, doc.choices):
            r["requests"] += 1
            context, continuation = LightevalModel.tok_encode_pair(encoder, doc.query, choice)
            if context != s["context_tokens"] or continuation != s["continuation_tokens"]:
                r["token_diffs"] += 1
            lls.append(loglikelihood(model, context, continuation, max_length))
            r["max_ll_diff"] = max(r["max_ll_diff"], abs(lls[-1] - s["ll"]))
            # peer_check.py's tolerance: 1e-4, or 1e-6 per token for long continuations (float32 sums)
            r["ll_over_tolerance"] += abs(lls[-1] - s["ll"]) > max(1e-4, 1e-6 * len(continuation))
        golds = [doc.gold_index]
        acc = acc_fn(gold_ixs=golds, choices_logprob=lls, unconditioned_logprob=None, choices_tokens=None, formatted_doc=doc)
        norm = norm_fn(gold_ixs=golds, choices_logprob=lls, unconditioned_logprob=None, choices_tokens=None, formatted_doc=doc)
        r["acc"] += acc
        r["acc_norm_nospace"] += norm
        wr_acc, wr_norm = int(reqs[0]["pred"] == reqs[0]["gold"]), int(reqs[0]["pred_norm_nospace"] == reqs[0]["gold"])
        if (acc, norm) != (wr_acc, wr_norm):
            r["outcome_diffs"].append(doc_id)
    for r in report.values():
        r["acc"] /= r["docs"]
        r["acc_norm_nospace"] /= r["docs"]
    return report


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
        out["tasks"] = check_requests(args)
    if args.qem:
        out["qem"] = check_qem(args.qem)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
