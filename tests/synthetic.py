"""Small hand-built recordings for unit tests of the pipeline after the sampler."""
import numpy as np

from pyprof_carbon.recording import Domain, EnergySeries, FunctionInfo, Recording, SchedTimeline

WORLD = {"code": "WORLD", "name": "World", "g_per_kwh": 480.0, "origin": "world average",
         "source": "test", "year": 2023, "kind": "average", "live": False}


def recording(n_samples=2000, seconds=2.0, watts=10.0, tids=(11, 12), backend="perf", seed=0):
    """Two functions (a: 3 of 4 samples) on `tids`, a constant-power domain, the process using
    half the machine's busy time."""
    rng = np.random.default_rng(seed)
    T = np.arange(0, int(seconds * 1e9) + 1, 10_000_000, dtype=np.int64)
    t = np.sort(rng.integers(0, T[-1], n_samples)).astype(np.int64)
    busy = T * 2
    proc = T.copy()
    prof = T // 100
    funcs = [FunctionInfo("main", "main", "/s/app.py", 1), FunctionInfo("a", "a", "/s/app.py", 10),
             FunctionInfo("b", "b", "/s/app.py", 20)]
    stacks = [((0, 5), (1, 12)), ((0, 6), (2, 22))]
    stack = np.where(rng.random(n_samples) < 0.75, 0, 1).astype(np.int32)
    samples = {"t_ns": t, "cpu_ns": np.full(n_samples, int(seconds * 1e9 / n_samples * len(tids)), np.int64),
               "tid": np.array(tids, np.int32)[rng.integers(0, len(tids), n_samples)],
               "cpu": np.zeros(n_samples, np.int16), "stack": stack}
    sched = SchedTimeline(T, busy, proc, prof, ncpu=2, backend=backend)
    meta = {"start_unix_s": 1.7e9, "start_monotonic_ns": 0, "duration_s": seconds, "command": ["app.py"],
            "threads": [{"tid": int(x), "name": f"t{x}"} for x in tids], "intensity": WORLD,
            "tool_version": "test", "engine": "perf", "rate_hz": {"requested": 1000, "achieved": 1000}}
    domains = [Domain("package", "test", True, "cpu", ""), Domain("dram", "model", False, "dram", "constant")]
    energy = {"package": EnergySeries(T, watts * T / 1e9), "dram": EnergySeries(T, 2.0 * T / 1e9)}
    return Recording(meta, funcs, stacks, samples, domains, energy, sched)
