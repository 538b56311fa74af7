"""How often the profiler makes the program's main thread give up the GIL (docs/how-it-works.md):
a pure-Python CPU-bound script, under plain python and under `run -q` at each rate, reads its
own thread's voluntary context switches (/proc/self/task/TID/status: a wait for the GIL is one)
and its time off the CPU (wall minus thread CPU time) over its loop, and the medians are printed.

    python benchmarks/gil_handoffs.py [--runs 5] [--seconds 3] [--rate 997 ...]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = """import sys, threading, time
def switches():
    out = {}
    for line in open(f"/proc/self/task/{threading.get_native_id()}/status"):
        if "ctxt_switches" in line:
            key, value = line.split(":")
            out[key] = int(value)
    return out
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
s0, w0, c0 = switches(), time.perf_counter(), time.thread_time()
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    fib(18)
s1, w1, c1 = switches(), time.perf_counter(), time.thread_time()
wall = w1 - w0
with open(sys.argv[1], "w") as f:
    f.write(f"{(s1['voluntary_ctxt_switches'] - s0['voluntary_ctxt_switches']) / wall} {(wall - (c1 - c0)) / wall}")
"""


def once(prefix, script, seconds, env):
    with tempfile.NamedTemporaryFile("r") as out:
        subprocess.run([*prefix, script, out.name, str(seconds)], check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        voluntary, off = map(float, out.read().split())
    return voluntary, off


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rate", type=float, nargs="+", default=[997.0])
    a = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])),
               PYPROF_CARBON_NO_CLOUD_METADATA="1")
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "loop.py")
        with open(script, "w") as f:
            f.write(SCRIPT)
        tools = {"python": [sys.executable]}
        for rate in a.rate:
            tools[f"pyprof-carbon {rate:g} Hz"] = [sys.executable, "-m", "pyprof_carbon", "run", "-q", "--rate", str(rate),
                                                   "-o", os.path.join(tmp, "r.pcarbon")]
        results = {name: [] for name in tools}
        for _ in range(a.runs):  # alternating, so drift hits every row alike
            for name, prefix in tools.items():
                results[name].append(once(prefix, script, a.seconds, env))
    for name, rows in results.items():
        print(json.dumps({"tool": name, "voluntary_switches_per_s": round(statistics.median(r[0] for r in rows), 1),
                          "off_cpu_pct": round(100 * statistics.median(r[1] for r in rows), 2), "runs": a.runs}))


if __name__ == "__main__":
    main()
