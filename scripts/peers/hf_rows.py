"""The task files in ../shared/datasets as rows of the Hugging Face datasets the peers' task configurations name,
so lm-eval and lighteval read the same documents wr reads, without downloading anything."""
import json


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def _choices(question):
    return {"text": [c["text"] for c in question["choices"]], "label": [c["label"] for c in question["choices"]]}


def _arc(path):
    return [{"id": r["id"], "question": r["question"]["stem"], "choices": _choices(r["question"]),
             "answerKey": r["answerKey"]} for r in read_jsonl(path)]


def rows(task, data, openbookqa_split="test"):
    """wr's task name -> its rows (openbookqa: lm-eval scores test, the SmolLM suite validation, "dev" here)."""
    if task == "piqa":
        return [dict(r, label=int(l)) for r, l in zip(read_jsonl(f"{data}/piqa/valid.jsonl"),
                                                       read_lines(f"{data}/piqa/valid-labels.lst"))]
    if task == "arc_easy":
        return _arc(f"{data}/arc/ARC-Easy-Test.jsonl")
    if task == "arc_challenge":
        return _arc(f"{data}/arc/ARC-Challenge-Test.jsonl")
    if task == "openbookqa":
        return [{"id": r["id"], "question_stem": r["question"]["stem"], "choices": _choices(r["question"]),
                 "answerKey": r["answerKey"]} for r in read_jsonl(f"{data}/openbookqa/{openbookqa_split}.jsonl")]
    if task == "winogrande":
        return read_jsonl(f"{data}/winogrande/dev.jsonl")
    if task == "boolq":
        return [dict(r, label=int(r["label"] is True or r["label"] == "true"))
                for r in read_jsonl(f"{data}/boolq/superglue_val.jsonl")]
    if task == "social_iqa":
        return [dict(r, label=l) for r, l in zip(read_jsonl(f"{data}/siqa/dev.jsonl"), read_lines(f"{data}/siqa/dev-labels.lst"))]
    if task == "lambada_openai":
        return read_jsonl(f"{data}/lambada/lambada_test.jsonl")
    if task == "triviaqa":  # written by scripts/peer-check in the rc.nocontext schema
        return read_jsonl(f"{data}/triviaqa/rc.nocontext-validation.jsonl")
    raise SystemExit(f"hf_rows.py: no local rows for task {task}")
