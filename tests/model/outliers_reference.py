"""scipy's excess kurtosis, the reference for wr's excess_kurtosis (tests/model/outliers_test.cpp).

outliers_reference.py FILE...: each FILE holds little-endian float32 values; prints one line per file with
scipy.stats.kurtosis(values in float64, fisher=True, bias=True). Exit status 3 with a message on stderr: the test
skips (no scipy or numpy).
"""
import sys

try:
    import numpy as np
    from scipy.stats import kurtosis
except ImportError as e:
    print(f"no scipy in this Python ({e})", file=sys.stderr)
    sys.exit(3)

for path in sys.argv[1:]:
    x = np.fromfile(path, dtype="<f4").astype(np.float64)
    print(repr(float(kurtosis(x, fisher=True, bias=True))))
