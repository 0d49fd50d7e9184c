"""PyTorch's float8 e4m3fn cast, the reference for wr's round_e4m3 (tests/model/quant_test.cpp).

quant_reference.py IN OUT: IN holds little-endian float32 values; OUT receives each cast to torch.float8_e4m3fn
and back to float32, in the same layout. Exit status 3 with a message on stderr: the test skips (no torch, or a
torch without float8).
"""
import sys

try:
    import torch
except ImportError as e:
    print(f"no torch in this Python ({e})", file=sys.stderr)
    sys.exit(3)
if not hasattr(torch, "float8_e4m3fn"):
    print(f"torch {torch.__version__} has no float8_e4m3fn (PyTorch 2.1 added it)", file=sys.stderr)
    sys.exit(3)

with open(sys.argv[1], "rb") as f:
    data = bytearray(f.read())
x = torch.frombuffer(data, dtype=torch.float32)
y = x.to(torch.float8_e4m3fn).to(torch.float32)
with open(sys.argv[2], "wb") as f:
    f.write(bytes(y.contiguous().untyped_storage()))
