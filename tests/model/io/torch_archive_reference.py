"""Archives for tests/model/torch_archive_test.cpp, written by implementations nobody here wrote: CPython's pickle
(every protocol, in a zip laid out as torch.save lays it out) and, when installed, PyTorch's torch.save.
Usage: torch_archive_reference.py OUT_DIR   (exit 3 with a message when a needed package is missing)"""
import io
import pickle
import sys
import zipfile

out = sys.argv[1]
shared = ["shared", 1]
value = {"format": "wr", "version": 1, "config": {"dim": 8, "rope_theta": 10000.0, "tie": False},
         "meta": {"tokens": 2 ** 40, "big": 2 ** 70, "neg": -5, "names": ["a", "é", "x" * 300], "none": None,
                  "raw": b"\x00\x01" * 200, "again": shared, "twice": shared, "pair": (1, 2.5)}}
for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
    with zipfile.ZipFile(f"{out}/pickle-{protocol}.pt", "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickle.dumps(value, protocol=protocol))
        z.writestr("archive/data/0", b"\x00" * 12)
try:
    import torch
except ImportError:
    print("torch is not installed in .venv (scripts/setup --torch pypi installs it)", file=sys.stderr)
    sys.exit(3)
w = torch.arange(6, dtype=torch.float32).reshape(2, 3)
torch.save({"format": "wr", "version": 1, "config": {"dim": 3}, "model": {"w": w, "view": w[1], "b": torch.ones(4)},
            "meta": value["meta"]}, f"{out}/torch-save.pt")
