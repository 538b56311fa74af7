# Environment read at import time: modules the script imports are not already loaded.
import os
import sys

os.environ["OPENBLAS_NUM_THREADS"] = "1"
print(sorted(m for m in ("numpy", "pickle", "json", "ctypes", "bcc", "argparse") if m in sys.modules))
try:
    import numpy  # noqa: F401
except ImportError:
    print("no numpy")
else:
    # the threads OpenBLAS started; the profiler's own threads are not the program's
    names = [open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")]
    print("threads after numpy:", len([n for n in names if n not in ("pyprof-collect", "pyprof-flush")]))
