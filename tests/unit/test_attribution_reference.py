"""The vectorized attribution (pyprof_carbon.attribution) against the pure-Python reference
(tests/reference_attribution.py) on random synthetic recordings."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyprof_carbon.attribution import attribute
from pyprof_carbon.recording import Domain, EnergySeries, FunctionInfo, Recording, SchedTimeline
from reference_attribution import attribute_reference
from synthetic import WORLD


def random_recording(seed: int, backend: str, n_samples: int, n_intervals: int, gpu: bool,
                     zero_q: bool = False, cores: bool = False) -> Recording:
    rng = np.random.default_rng(seed)
    # irregular meter ticks (and a second, coarser domain), sched ticks of their own
    T = np.concatenate(([0], np.cumsum(rng.integers(200_000, 3_000_000, n_intervals)))).astype(np.int64)
    T2 = T[::3] if len(T[::3]) > 1 else T
    S = np.unique(np.concatenate((T[:: 2], [T[-1]], rng.integers(0, T[-1], 5)))).astype(np.int64)
    busy = np.concatenate(([0], np.cumsum(rng.integers(0, 4_000_000, len(S) - 1))))
    proc = np.concatenate(([0], np.cumsum(rng.integers(0, 3_000_000, len(S) - 1))))
    if rng.random() < 0.5:
        proc = np.minimum(proc, busy)
    prof = (proc * rng.uniform(0, 0.2)).astype(np.int64)
    t = np.sort(rng.integers(-2_000_000, T[-1] + 2_000_000, n_samples)).astype(np.int64)
    q = rng.integers(0, 3_000_000, n_samples).astype(np.int64)
    if zero_q:
        q[:] = 0
    tids = np.array([11, 12, 13], np.int32)[rng.integers(0, 3, n_samples)]
    funcs = [FunctionInfo("main", "main", "/s/app.py", 1), FunctionInfo("a", "a", "/s/app.py", 10),
             FunctionInfo("b", "b", "/s/app.py", 20)]
    stacks = [((0, 5),), ((0, 5), (1, 12)), ((0, 6), (2, 22))]
    samples = {"t_ns": t, "cpu_ns": q, "tid": tids, "cpu": rng.integers(0, 2, n_samples).astype(np.int16),
               "stack": rng.integers(0, 3, n_samples).astype(np.int32)}
    e1 = np.concatenate(([0.0], np.cumsum(rng.uniform(0, 0.05, len(T) - 1) * (rng.random(len(T) - 1) > 0.1))))
    e2 = np.concatenate(([0.0], np.cumsum(rng.uniform(0, 0.02, len(T2) - 1))))
    domains = [Domain("package", "test", True, "cpu"), Domain("dram", "test", True, "dram")]
    energy = {"package": EnergySeries(T, e1), "dram": EnergySeries(T2, e2)}
    if gpu:
        domains.append(Domain("gpu:0", "test", True, "gpu"))
        share = rng.uniform(0, 1, len(T)) if rng.random() < 0.5 else None  # NVML's per-process share
        energy["gpu:0"] = EnergySeries(T, np.cumsum(np.concatenate(([0.0], rng.uniform(0, 0.1, len(T) - 1)))), share)
    if cores:  # AMD-style per-core counters, one CPU each
        for c in (0, 1):
            domains.append(Domain(f"core:{c}", "test", True, "cpu", cpus=(c,), inside=("package",)))
            energy[f"core:{c}"] = EnergySeries(T, np.cumsum(np.concatenate(([0.0], rng.uniform(0, 0.02, len(T) - 1)))))
    sched = SchedTimeline(S, busy, proc, prof, ncpu=2, backend=backend)
    meta = {"start_unix_s": 1.7e9, "start_monotonic_ns": 0, "duration_s": T[-1] / 1e9,
            "threads": [], "intensity": WORLD, "baseline_w": {"package": rng.uniform(0, 20), "dram": 1.0}}
    return Recording(meta, funcs, stacks, samples, domains, energy, sched)


def per_stack_thread(rec, values):
    out = {}
    for k in range(rec.n_samples):
        key = (int(rec.samples["stack"][k]), int(rec.samples["tid"][k]))
        out[key] = out.get(key, 0.0) + values[k]
    return out


def check_against_reference(rec, policy, split="power"):
    prof = attribute(rec, policy=policy, split=split)
    ref, measured, unattributed, profiler_j, not_sampled = attribute_reference(rec, policy, split=split)
    scale = max(measured.values()) or 1.0
    for d in measured:
        assert prof.measured_j[d] == pytest.approx(measured[d], rel=1e-9, abs=1e-12)
        assert prof.unattributed_j[d] == pytest.approx(unattributed[d], rel=1e-6, abs=1e-9 * scale)
        want = per_stack_thread(rec, ref[d])
        got = {}
        for r in range(len(prof.row_stack)):
            key = (int(prof.row_stack[r]), int(prof.row_tid[r]))
            got[key] = got.get(key, 0.0) + float(prof.row_energy_j[d][r])
        unsampled_rows = [s for s, st in enumerate(prof.stacks) if prof.functions[st[-1][0]].name == "[not sampled]"]
        got_unsampled = sum(got.pop(k) for k in list(got) if k[0] in unsampled_rows)
        assert got_unsampled == pytest.approx(not_sampled.get(d, 0.0), rel=1e-6, abs=1e-9 * scale), d
        for key in set(want) | set(got):
            assert got.get(key, 0.0) == pytest.approx(want.get(key, 0.0), rel=1e-6, abs=1e-9 * scale), (d, key)
    assert prof.profiler_cost["energy_j"] == pytest.approx(profiler_j, rel=1e-6, abs=1e-9 * scale)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), backend=st.sampled_from(["procfs", "perf", "ebpf"]),
       policy=st.sampled_from(["share", "active", "dynamic"]), n_samples=st.integers(0, 120),
       n_intervals=st.integers(1, 40), gpu=st.booleans(), split=st.sampled_from(["power", "cpu"]),
       cores=st.booleans())
def test_vectorized_matches_reference(seed, backend, policy, n_samples, n_intervals, gpu, split, cores):
    check_against_reference(random_recording(seed, backend, n_samples, n_intervals, gpu, cores=cores), policy, split)


@pytest.mark.parametrize("policy", ["share", "active", "dynamic"])
def test_no_cpu_time_measured_weighs_samples_equally(policy):
    check_against_reference(random_recording(5, "perf", 50, 20, False, zero_q=True), policy)


def test_reference_is_not_trivially_equal():
    """The comparison has teeth: a different policy gives different numbers on the same recording."""
    rec = random_recording(3, "perf", 200, 30, False)
    a, *_ = attribute_reference(rec, "share")
    b, *_ = attribute_reference(rec, "dynamic")
    assert sum(a["package"]) > 0 and abs(sum(a["package"]) - sum(b["package"])) > 1e-6


def test_power_split_differs_from_cpu_split():
    """The two splits are compared separately above; they do give different answers."""
    rec = random_recording(3, "perf", 200, 30, False)
    a, *_ = attribute_reference(rec, "share", split="power")
    b, *_ = attribute_reference(rec, "share", split="cpu")
    assert sum(a["package"]) == pytest.approx(sum(b["package"]), rel=1e-9)  # same energy handed out
    assert max(abs(x - y) for x, y in zip(a["package"], b["package"])) > 1e-6  # handed differently
