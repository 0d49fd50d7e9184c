"""The reference side of tests/trainer/interchange_test.cpp: Megatron-LM's own indexed dataset code (megatron-core
from PyPI, installed by scripts/setup with --no-deps; megatron/core/datasets/indexed_dataset.py).

  megatron_reference.py SPEC.json OUT.json
      SPEC: {"write": [{"prefix": P, "dtype": "uint16"|"int32"|..., "documents": [[[ids of a sequence], ...], ...]}],
             "read": [{"prefix": P, "vocab_size": V}]}
      Each "write" entry is written by IndexedDatasetBuilder (add_item per sequence, end_document per document,
      finalize), as tools/preprocess_data.py writes one. Each "read" entry is opened by IndexedDataset, and OUT gets
      {"read": [{"dtype": name, "optimal_dtype": DType.optimal_dtype(V), "sequences": n,
                 "documents": [[ids of the document's sequences, joined], ...]}]}.
Exits 3 when a package is missing, so the test can skip with that message.
"""
import json
import sys
import warnings


def main(spec_path, out_path):
    warnings.simplefilter("ignore")  # megatron.core warns that Transformer Engine and Apex are absent
    try:
        import numpy
        import torch
        from megatron.core.datasets.indexed_dataset import DType, IndexedDataset, IndexedDatasetBuilder
    except ImportError as e:
        print(f"Python package missing: {e} (scripts/setup --torch pypi installs megatron-core)", file=sys.stderr)
        sys.exit(3)
    with open(spec_path) as f:
        spec = json.load(f)
    for w in spec.get("write", []):
        builder = IndexedDatasetBuilder(w["prefix"] + ".bin", dtype=getattr(numpy, w["dtype"]))
        for document in w["documents"]:
            for sequence in document:
                builder.add_item(torch.tensor(sequence, dtype=torch.int64))
            builder.end_document()
        builder.finalize(w["prefix"] + ".idx")
    out = {"read": []}
    for r in spec.get("read", []):
        ds = IndexedDataset(r["prefix"])
        docs = ds.document_indices
        documents = []
        for d in range(len(docs) - 1):
            ids = []
            for s in range(docs[d], docs[d + 1]):
                ids.extend(int(t) for t in ds[s])
            documents.append(ids)
        out["read"].append({"dtype": ds.index.dtype.__name__,
                            "optimal_dtype": DType.optimal_dtype(r["vocab_size"]).__name__,
                            "sequences": len(ds), "documents": documents})
    with open(out_path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
