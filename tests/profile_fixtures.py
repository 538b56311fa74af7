"""Hand-built attributed Profiles for the renderer and diff tests (no recording, no attribution).

`realistic()`: 3 threads, nested stacks, recursion, two domains (package measured, dram
estimated), 50 time bins, a timeline per domain, the meta keys a real run has.
`big()`: about a million samples' worth of rows (thousands of stacks, 4 threads, 100 bins),
for size and speed checks of the renderers.
"""
from __future__ import annotations

import numpy as np

from pyprof_carbon.attributed_profile import Profile

from pyprof_carbon.recording import FunctionInfo

G_PER_KWH = 56.0  # France-like, so numbers are easy to check
J_PER_KWH = 3.6e6

# the functions by file: (qualname, first line), numbered in this order (FUNCS indices in comments)
_FILES = {
    "/app/main.py": (("<module>", 1), ("main", 10)),                                     # 0, 1
    "/app/io.py": (("load_data", 5), ("Parser.parse", 20)),                               # 2, 3
    "/app/model.py": (("train", 30), ("matmul", 50)),                                    # 4, 5
    "/app/algo.py": (("fib", 3),),                                                       # 6
    "/app/threads.py": (("worker", 10), ("compress", 40), ("wait_io", 60)),              # 7, 8, 9
    "/usr/lib/python3.11/threading.py": (("Thread.run", 975), ("Thread._bootstrap_inner", 1038)),  # 10, 11
}
FUNCS = [FunctionInfo(qualname.rsplit(".", 1)[-1], qualname, file, line)
         for file, functions in _FILES.items() for qualname, line in functions]
MAIN, W1, W2 = 1001, 1002, 1003
THREADS = {MAIN: "MainThread", W1: "compressor", W2: "fetcher"}

_M = ((0, 40), (1, 15))
_T = ((11, 1045), (10, 982), (7, 12))
# stack, thread, bins it runs in, samples per bin, package W per CPU-second, dram W per CPU-second
PLAN = [
    (_M + ((2, 7), (3, 25)), MAIN, range(0, 10), 40, 9.0, 1.5),
    (_M + ((2, 8),), MAIN, range(0, 10), 5, 6.0, 0.5),
    (_M + ((4, 33), (5, 55)), MAIN, range(10, 40), 80, 30.0, 6.0),   # the hot one: high power density
    (_M + ((4, 34),), MAIN, range(10, 40), 10, 10.0, 1.0),
    (_M + ((6, 5),), MAIN, range(40, 50), 6, 12.0, 1.0),
    (_M + ((6, 5), (6, 5)), MAIN, range(40, 50), 10, 12.0, 1.0),
    (_M + ((6, 5), (6, 5), (6, 5)), MAIN, range(40, 50), 14, 12.0, 1.0),
    (_M + ((6, 5), (6, 5), (6, 5), (6, 5)), MAIN, range(40, 50), 18, 12.0, 1.0),
    (_M + ((6, 5), (6, 5), (6, 5), (6, 5), (6, 6)), MAIN, range(40, 50), 12, 12.0, 1.0),
    (_T + ((8, 44),), W1, range(5, 45), 30, 15.0, 2.0),
    (_T + ((8, 47),), W1, range(5, 45), 8, 15.0, 2.0),
    (_T + ((9, 62),), W2, range(0, 50), 6, 3.0, 0.3),
    (_T + ((6, 5), (6, 5)), W2, range(20, 30), 9, 12.0, 1.0),
]


def _meta(duration_s: float, rate_hz: float = 1000.0) -> dict:
    return {
        "command": ["python", "train.py", "--epochs", "3"], "python": "3.11.9 (CPython)",
        "tool_version": "0.1.0", "start_time": "2026-11-28T10:15:00+00:00", "start_unix_s": 1795860900.0,
        "duration_s": duration_s, "rate_hz": {"requested": rate_hz, "achieved": rate_hz * 0.997},
        "engine": "perf", "lost_samples": 3,
        "meters": [{"domain": "package", "meter": "rapl-powercap", "measured": True, "notes": ""},
                   {"domain": "dram", "meter": "model", "measured": False, "notes": "3 W per 8 GB"}],
        "sched": {"backend": "procfs", "ncpu": 2, "resolution_note": "10 ms"},
        "attribution": "share",
        "intensity": {"code": "FR", "name": "France", "g_per_kwh": G_PER_KWH, "origin": "--region",
                      "source": "Ember yearly electricity data", "year": 2023, "kind": "average", "live": False},
        "pue": 1.0,
        "elsewhere": [{"code": "FR", "name": "France", "g_per_kwh": G_PER_KWH, "co2_g": 0.0, "note": "this run"},
                      {"code": "SE", "name": "Sweden", "g_per_kwh": 36.0, "co2_g": 0.0, "note": "cleanest"},
                      {"code": "PL", "name": "Poland", "g_per_kwh": 662.0, "co2_g": 0.0, "note": "dirtiest"}],
    }


def _finish(meta, functions, stacks, threads, edges, rs, rt, rb, samples, cpu_ns, e_pkg, e_dram, rng) -> Profile:
    total_e = e_pkg + e_dram
    co2 = total_e / J_PER_KWH * G_PER_KWH
    dur = float(edges[-1])
    # timeline: per domain, the process's power per bin plus an idle floor the process did not use
    nb = len(edges) - 1
    timeline, measured, unattributed = {}, {}, {}
    for d, e, idle_w in (("package", e_pkg, 4.0), ("dram", e_dram, 1.0)):
        per_bin = np.bincount(rb, weights=e, minlength=nb)
        width = np.diff(edges)
        fine = 4  # four timeline points per bin
        t = np.repeat(edges[:-1], fine) + np.tile(np.arange(fine) / fine, nb) * np.repeat(width, fine)
        w = np.repeat(per_bin / width, fine) * (1 + 0.05 * rng.standard_normal(nb * fine)) + idle_w
        timeline[d] = (t, np.maximum(w, 0.0))
        unattributed[d] = idle_w * dur
        measured[d] = float(e.sum()) + unattributed[d]
    meta = dict(meta)
    total_j = float(total_e.sum())
    meta["elsewhere"] = [dict(r, co2_g=total_j / J_PER_KWH * r["g_per_kwh"]) for r in meta["elsewhere"]]
    return Profile(meta=meta, functions=functions, stacks=stacks, thread_names=threads, bin_edges_s=edges,
                   row_stack=rs.astype(np.int32), row_tid=rt.astype(np.int64), row_bin=rb.astype(np.int32),
                   row_energy_j={"package": e_pkg, "dram": e_dram}, row_co2_g=co2,
                   row_cpu_ns=cpu_ns.astype(np.int64), row_samples=samples.astype(np.int64),
                   measured_j=measured, unattributed_j=unattributed, timeline=timeline,
                   profiler_cost={"cpu_s": 0.021, "energy_j": 0.09})


def realistic(seed: int = 0, scale: dict = None) -> Profile:
    """`scale` maps a function name to a factor on its samples (to build an 'after' for diff)."""
    rng = np.random.default_rng(seed)
    scale = scale or {}
    nb, dur = 50, 10.0
    edges = np.linspace(0.0, dur, nb + 1)
    stacks = [p[0] for p in PLAN]
    rs, rt, rb, n, pkg_d, dram_d = [], [], [], [], [], []
    for sid, (stack, tid, bins, per_bin, pw, dw) in enumerate(PLAN):
        leaf = FUNCS[stack[-1][0]].name
        for b in bins:
            k = rng.poisson(per_bin * scale.get(leaf, 1.0))
            if k == 0:
                continue
            rs.append(sid); rt.append(tid); rb.append(b); n.append(k); pkg_d.append(pw); dram_d.append(dw)
    samples = np.array(n, np.int64)
    cpu_ns = samples * 1_000_000  # 1 ms of CPU per sample at 1 kHz
    cpu_s = cpu_ns / 1e9
    noise = 1 + 0.03 * rng.standard_normal(len(samples))
    e_pkg = cpu_s * np.array(pkg_d) * noise
    e_dram = cpu_s * np.array(dram_d)
    return _finish(_meta(dur), FUNCS, stacks, dict(THREADS), edges, np.array(rs), np.array(rt), np.array(rb),
                   samples, cpu_ns, e_pkg, e_dram, rng)


def big(seed: int = 1, n_stacks: int = 4000, n_rows: int = 200_000) -> Profile:
    """About a million samples in ~200k rows: a random call tree of ~800 functions, depth up to
    ~30, a Zipf-like popularity of stacks, 4 threads, 100 bins."""
    rng = np.random.default_rng(seed)
    nf = 800
    funcs = [FunctionInfo(f"f{i}", f"mod{i % 37}.Class{i % 11}.f{i}", f"/app/pkg/mod{i % 37}.py", 10 + i)
             for i in range(nf)]
    # random tree of stacks: each new stack extends a random earlier one by 1-3 frames
    stacks = [((0, 1),)]
    while len(stacks) < n_stacks:
        parent = stacks[int(rng.integers(0, len(stacks)))]
        if len(parent) > 30:
            continue
        ext = tuple((int(rng.integers(1, nf)), int(rng.integers(1, 500))) for _ in range(int(rng.integers(1, 4))))
        stacks.append(parent + ext)
    tids = np.array([2001, 2002, 2003, 2004])
    threads = {int(t): f"thread-{i}" for i, t in enumerate(tids)}
    threads[2001] = "MainThread"
    nb = 100
    edges = np.linspace(0.0, 250.0, nb + 1)
    pop = 1.0 / np.arange(1, n_stacks + 1) ** 1.1
    pop /= pop.sum()
    rs = rng.choice(n_stacks, size=n_rows, p=pop)
    rt = tids[rng.integers(0, 4, n_rows)]
    rb = rng.integers(0, nb, n_rows)
    # one row per (stack, thread, bin)
    key = (rs.astype(np.int64) * 4 + np.searchsorted(tids, rt)) * nb + rb
    key = np.unique(key)
    rb = key % nb
    rt = tids[(key // nb) % 4]
    rs = key // (nb * 4)
    samples = rng.geometric(0.2, len(key)).astype(np.int64)
    scale_to = 1_000_000 / samples.sum()
    samples = np.maximum(1, np.round(samples * scale_to)).astype(np.int64)
    cpu_ns = samples * 1_000_000
    density = 5.0 + 40.0 * (rs % 7 == 0) + rng.random(len(key))  # some stacks draw far more power
    e_pkg = cpu_ns / 1e9 * density
    e_dram = cpu_ns / 1e9 * 1.2
    return _finish(_meta(250.0), funcs, stacks, threads, edges, rs, rt, rb, samples, cpu_ns, e_pkg, e_dram, rng)
