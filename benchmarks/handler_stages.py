"""Where a sample's cost goes, stage by stage (issue 14, item 2).

Builds the sampler six times, each with the sample handler cut off after one more stage
(`PYPROF_CARBON_HANDLER_STAGE`, csrc/sampler.cpp):
  0  the handler returns at once: the signal alone, delivered to a Python program
  1  + the clocks (monotonic, gettid, the thread's CPU clock) and the thread's slot
  2  + a ring cell with the sample's header (the collector drains and streams it)
  3  + the frame walk
  4  + the handler's own cost (a second read of the thread's CPU clock)
  5  + the speed probe (csrc/speed_probe.h, once per ms of a thread's CPU): the shipped build
and runs the overhead benchmark's pure-Python CPU-bound workload (workloads/cpu_bound.py) under
`pyprof-carbon run --rate R` with each, alternating with plain python and with the C floor of
benchmarks/signal_floor.c (a C busy loop, the same perf task-clock signal, an empty handler).
The program times itself from its first line to its end (workloads/own_time.py), so the
profiler's start-up and end are not in the ratios: what is left is what sampling costs the program while it runs.

    python benchmarks/handler_stages.py [--rate 10000] [--pairs 5] [--scale 20]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

import signal_floor  # this script's directory is on sys.path

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
STAGES = (0, 1, 2, 3, 4, 5)

# the overhead benchmark's CPU-bound workload, which times itself (workloads/own_time.py)
WORKLOAD = os.path.join(HERE, "workloads", "cpu_bound.py")


def build(stage: int, tmp: str) -> str:
    """A copy of the package whose sampler stops after `stage`; returns the PYTHONPATH entry."""
    lib = os.path.join(tmp, f"stage{stage}")
    shutil.copytree(os.path.join(ROOT, "pyprof_carbon"), os.path.join(lib, "pyprof_carbon"),
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    env = dict(os.environ, CFLAGS=f"{os.environ.get('CFLAGS', '')} -DPYPROF_CARBON_HANDLER_STAGE={stage}")
    subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--build-lib", lib,
                    "--build-temp", os.path.join(tmp, f"obj{stage}")],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    return lib


def own_seconds(cmd, env=None) -> float:
    """The workload's own time under `cmd` (workloads/own_time.py)."""
    with tempfile.NamedTemporaryFile("r") as own:
        r = subprocess.run(cmd, env=dict(env or os.environ, BENCH_OWN_TIME=own.name), capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr[-500:]}")
        return float(own.read())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=10000)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--scale", type=int, default=20, help="cpu_bound.py's scale (20: about 0.7 s)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        exe = signal_floor.build(tmp)
        libs = {k: build(k, tmp) for k in STAGES}
        ratio = {k: [] for k in STAGES}
        floor_runs = ([], [], [])  # one pair per round, interleaved with the runs above
        for _ in range(a.pairs):
            plain = own_seconds([sys.executable, WORKLOAD, str(a.scale)])
            for k in STAGES:
                env = dict(os.environ, PYTHONPATH=libs[k], PYPROF_CARBON_NO_CLOUD_METADATA="1")
                got = own_seconds([sys.executable, "-m", "pyprof_carbon", "run", "-q", "--rate", str(a.rate),
                                   "-o", os.path.join(tmp, "r.pcarbon"), WORKLOAD, str(a.scale)], env)
                ratio[k].append(got / plain)
            for kept, got in zip(floor_runs, signal_floor.runs(exe, a.rate, 1)):
                kept.extend(got)
        f = signal_floor.ratio(*floor_runs)[0]
        print(f"rate {a.rate:g} Hz, {a.pairs} rounds, medians; C floor (empty handler, fastest runs): {f:.3f}")
        prev = None
        for k in STAGES:
            r = statistics.median(ratio[k])
            step = "" if prev is None else f", +{(r - prev) * 1e6 / a.rate:.2f} us per sample over stage {k - 1}"
            print(f"stage {k}: program's own time {r:.3f}x plain python ({r / f:.3f}x the C floor){step}")
            prev = r


if __name__ == "__main__":
    main()
