"""A workload's own time: from this module's import (the workload's first line) to `done()`,
written to the file named by $BENCH_OWN_TIME when that is set (benchmarks/overhead.py). Under a
tool it is what the program itself lost to sampling, like the signal floor's loop timing itself,
without the tool's start-up before the program or its work after it."""
import os
import time

_START = time.perf_counter()


def done() -> None:
    path = os.environ.get("BENCH_OWN_TIME")
    if path:
        with open(path, "w") as f:
            f.write(repr(time.perf_counter() - _START))
