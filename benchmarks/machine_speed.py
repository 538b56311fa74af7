"""How fast this machine runs Python from moment to moment, and whether the speed probe follows it
(docs/diff.md, "The machine's speed").

One process per CPU, each pinned to its CPU, runs for --seconds: a chunk of a plain Python loop
(timed with the thread's CPU clock), then one speed probe (csrc/speed_probe.h, through
`_native.time_speed_probe`, in TSC cycles), again and again. Per CPU it prints how the chunks'
times split into fast and slow (slow: over 1.3x the 10th percentile), how much slower the slow
chunks are for Python and for the probe, how long slow spells last (runs of 50 ms windows whose
median chunk is slow), and the correlation of the
logarithms of chunk and probe times; then the correlation between CPUs of their 50 ms medians.
Last, whether the program's own cache use moves the probe: probes after a chunk that sweeps 1.3 MB
of a 16 MB list (out of L1 and L2) against probes after the plain loop's chunk, alternated in one
process (the probe loads its own table before timing, so the two should agree).

    python benchmarks/machine_speed.py [--seconds 10] [--chunk 20000]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CHILD = r"""
import json, os, sys, time
sys.path.insert(0, {root!r})
from pyprof_carbon import _native
os.sched_setaffinity(0, {{{cpu}}})
def chunk(n):
    s = 0
    for i in range(n):
        s += i * i % 7
    return s
rows, end = [], time.monotonic() + {seconds}
while time.monotonic() < end:
    t, c0 = time.monotonic(), time.thread_time()
    chunk({chunk})
    rows.append((t, time.thread_time() - c0, _native.time_speed_probe()))
print(json.dumps(rows))
"""


CACHE_SWEEP = r"""
import json, math, sys
sys.path.insert(0, {root!r})
from pyprof_carbon import _native
big = list(range(2_000_000))
def plain(n):
    s = 0
    for i in range(n):
        s += i * i % 7
    return s
def sweep(k):
    s = 0
    for j in range(k, len(big), 97):
        s += big[j]
    return s
out = {{"plain": [], "sweep": []}}
for r in range({rounds}):
    plain(3000)
    out["plain"].append(math.log2(_native.time_speed_probe()))
    sweep(r)
    out["sweep"].append(math.log2(_native.time_speed_probe()))
print(json.dumps(out))
"""


def summary(rows) -> dict:
    py = [r[1] for r in rows]
    fast_limit = 1.3 * sorted(py)[len(py) // 10]
    slow = [r[1] > fast_limit for r in rows]
    med = lambda xs: statistics.median(xs) if xs else float("nan")
    ratio = lambda k: med([r[k] for r, s in zip(rows, slow) if s]) / med([r[k] for r, s in zip(rows, slow) if not s])
    # spells: runs of slow 50 ms windows (a window is slow when its median chunk is)
    w = windows(rows)
    spells, length = [], 0
    for k in range(min(w), max(w) + 2):
        if w.get(k, 0.0) > fast_limit:
            length += 1
        elif length:
            spells.append(length * 0.05)
            length = 0
    return {"chunks": len(rows), "slow_fraction": sum(slow) / len(rows),
            "python_slow_over_fast": ratio(1) if any(slow) and not all(slow) else float("nan"),
            "probe_slow_over_fast": ratio(2) if any(slow) and not all(slow) else float("nan"),
            "median_spell_s": med(spells), "longest_spell_s": max(spells, default=0.0), "spells": len(spells),
            "log_corr_python_probe": statistics.correlation([math.log(r[1]) for r in rows],
                                                            [math.log(r[2]) for r in rows])}


def windows(rows, width_s=0.05) -> dict:
    out = {}
    for t, c, _ in rows:
        out.setdefault(int(t / width_s), []).append(c)
    return {k: statistics.median(v) for k, v in out.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--chunk", type=int, default=20000, help="loop iterations per chunk (~1.3 ms here)")
    a = ap.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    procs = [subprocess.Popen([sys.executable, "-c", CHILD.format(root=ROOT, cpu=c, seconds=a.seconds, chunk=a.chunk)],
                              stdout=subprocess.PIPE, text=True) for c in cpus]
    rows = {c: json.loads(p.communicate()[0]) for c, p in zip(cpus, procs)}
    for c in cpus:
        s = summary(rows[c])
        print(f"cpu {c}: {s['chunks']} chunks, {100 * s['slow_fraction']:.0f}% slow; slow/fast: python "
              f"{s['python_slow_over_fast']:.2f}x, probe {s['probe_slow_over_fast']:.2f}x; {s['spells']} slow "
              f"spells (50 ms windows), median {1000 * s['median_spell_s']:.0f} ms, longest "
              f"{1000 * s['longest_spell_s']:.0f} ms; correlation of log times (python, probe) "
              f"{s['log_corr_python_probe']:.2f}")
    if len(cpus) > 1:
        w = [windows(rows[c]) for c in cpus[:2]]
        keys = sorted(set(w[0]) & set(w[1]))
        if len(keys) > 2:
            corr = statistics.correlation([w[0][k] for k in keys], [w[1][k] for k in keys])
            print(f"cpus {cpus[0]} and {cpus[1]}: correlation of their 50 ms median chunk times {corr:.2f} "
                  f"({len(keys)} windows)")
    r = subprocess.run([sys.executable, "-c", CACHE_SWEEP.format(root=ROOT, rounds=300)], capture_output=True,
                       text=True, check=True)
    got = {k: statistics.median(v) for k, v in json.loads(r.stdout).items()}
    print(f"probe after a cache-sweeping chunk vs after the plain loop: {got['sweep'] - got['plain']:+.3f} "
          f"in log2 ({100 * (2 ** (got['sweep'] - got['plain']) - 1):+.1f}%; medians of 300 each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
