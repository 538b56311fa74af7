"""How long attribution takes on a big recording: 10 million samples over 1 million meter
intervals (one domain, 8 threads, 1000 stacks), every policy. Target: under 10 s on the 2-core
development VM. Prints; asserts nothing.

    python benchmarks/attribution_speed.py [--samples 10000000] [--intervals 1000000]
"""
import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from pyprof_carbon.attribution import attribute  # noqa: E402
from pyprof_carbon.recording import Domain, EnergySeries, FunctionInfo, Recording, SchedTimeline  # noqa: E402

WORLD = {"code": "WORLD", "name": "World", "g_per_kwh": 480.0, "origin": "world average",
         "source": "benchmark", "year": 2023, "kind": "average", "live": False}


def big_recording(n_samples: int, n_intervals: int, threads: int = 8, n_stacks: int = 1000, seed: int = 0):
    rng = np.random.default_rng(seed)
    cadence = 1_000_000  # 1 ms meter intervals
    T = np.arange(n_intervals + 1, dtype=np.int64) * cadence
    T[1:-1] += rng.integers(-100_000, 100_000, n_intervals - 1)  # jitter
    E = np.concatenate(([0.0], np.cumsum(rng.uniform(0.005, 0.05, n_intervals))))
    busy = np.concatenate(([0], np.cumsum(rng.integers(1_000_000, 2_000_000, n_intervals))))
    proc = (busy * 0.7).astype(np.int64)
    prof = (busy * 0.01).astype(np.int64)
    t = np.sort(rng.integers(0, T[-1], n_samples)).astype(np.int64)
    cpu = np.full(n_samples, int(T[-1] * threads / n_samples), np.int64)
    tid = rng.integers(1000, 1000 + threads, n_samples).astype(np.int32)
    nf = 200
    funcs = [FunctionInfo(f"f{i}", f"f{i}", f"/app/m{i % 10}.py", i) for i in range(nf)]
    stacks = [tuple((int(f), int(f) + 1) for f in rng.integers(0, nf, rng.integers(1, 12))) for _ in range(n_stacks)]
    samples = {"t_ns": t, "cpu_ns": cpu, "tid": tid, "cpu": np.zeros(n_samples, np.int16),
               "stack": rng.integers(0, n_stacks, n_samples).astype(np.int32)}
    sched = SchedTimeline(T, busy, proc, prof, ncpu=2, backend="perf")
    meta = {"start_unix_s": 1.7e9, "start_monotonic_ns": 0, "duration_s": T[-1] / 1e9, "threads": [],
            "intensity": WORLD, "baseline_w": {"package": 5.0}}
    return Recording(meta, funcs, stacks, samples, [Domain("package", "bench", True, "cpu")],
                     {"package": EnergySeries(T, E)}, sched)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=10_000_000)
    ap.add_argument("--intervals", type=int, default=1_000_000)
    ap.add_argument("--policies", default="share,active,dynamic")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    rec = big_recording(a.samples, a.intervals)
    print(f"built a recording of {a.samples:,} samples over {a.intervals:,} intervals in "
          f"{time.perf_counter() - t0:.1f} s (not counted)")
    for policy in a.policies.split(","):
        t0 = time.perf_counter()
        prof = attribute(rec, policy=policy)
        dt = time.perf_counter() - t0
        total = sum(float(v.sum()) for v in prof.row_energy_j.values())
        print(f"attribute(policy={policy}): {dt:.2f} s  ({a.samples / dt / 1e6:.2f} M samples/s; "
              f"{len(prof.row_stack):,} rows; {total:.1f} J to stacks of {sum(prof.measured_j.values()):.1f} J)"
              f"  target < 10 s: {'ok' if dt < 10 else 'MISSED'}")


if __name__ == "__main__":
    main()
