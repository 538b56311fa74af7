"""Per-core domains (AMD core:N): a core's energy goes to the samples taken on that core's CPUs."""
import numpy as np
import pytest

from pyprof_carbon.attribution import attribute
from pyprof_carbon.recording import Domain, EnergySeries, FunctionInfo, Recording, SchedTimeline
from synthetic import WORLD


def two_core_recording(others_busy=0.0):
    """`a` runs on CPU 0 (core 0, 5 W), `b` on CPU 1 (core 1, 15 W), each all the time; other
    processes add `others_busy` CPUs of busy time."""
    seconds, step = 1.0, 100_000
    T = np.arange(0, int(seconds * 1e9) + 1, 1_000_000, dtype=np.int64)
    t = np.arange(step, int(seconds * 1e9) + 1, step, dtype=np.int64)
    n = len(t)
    t2 = np.concatenate((t, t))
    order = np.argsort(t2, kind="stable")
    cpu = np.concatenate((np.zeros(n), np.ones(n)))[order].astype(np.int16)
    samples = {"t_ns": t2[order], "cpu_ns": np.full(2 * n, step, np.int64),
               "tid": np.concatenate((np.full(n, 11), np.full(n, 12)))[order].astype(np.int32),
               "cpu": cpu, "stack": cpu.astype(np.int32)}
    funcs = [FunctionInfo("a", "a", "/s/app.py", 1), FunctionInfo("b", "b", "/s/app.py", 10)]
    stacks = [((0, 2),), ((1, 11),)]
    proc = 2 * T
    sched = SchedTimeline(T, proc + (others_busy * T).astype(np.int64), proc, np.zeros_like(T), ncpu=3, backend="ebpf")
    domains = [Domain("core:0", "test", True, "cpu", cpus=(0,)), Domain("core:1", "test", True, "cpu", cpus=(1,))]
    energy = {"core:0": EnergySeries(T, 5.0 * T / 1e9), "core:1": EnergySeries(T, 15.0 * T / 1e9)}
    meta = {"start_unix_s": 1.7e9, "start_monotonic_ns": 0, "duration_s": seconds, "threads": [], "intensity": WORLD}
    return Recording(meta, funcs, stacks, samples, domains, energy, sched)


def per_function(prof, domain):
    return np.bincount(prof.row_stack, weights=prof.row_energy_j[domain], minlength=2)


@pytest.mark.parametrize("split", ["power", "cpu"])
def test_each_core_charges_only_its_own_samples(split):
    prof = attribute(two_core_recording(), split=split)
    a0, b0 = per_function(prof, "core:0")
    a1, b1 = per_function(prof, "core:1")
    assert a0 == pytest.approx(5.0, rel=1e-3) and b0 == 0.0
    assert b1 == pytest.approx(15.0, rel=1e-3) and a1 == 0.0
    # the core-blind split would give each function half of each core
    assert prof.unattributed_j["core:0"] == pytest.approx(0.0, abs=5e-3)


def test_others_busy_time_takes_its_share_of_each_core():
    """A third CPU's worth of other processes, spread evenly over the 3 CPUs: each core was 1/3
    theirs' and 1 of ours, so we get 3/4 of it."""
    prof = attribute(two_core_recording(others_busy=1.0), policy="share")
    a0, _ = per_function(prof, "core:0")
    assert a0 == pytest.approx(5.0 * 3 / 4, rel=1e-3)
    for d in ("core:0", "core:1"):
        total = prof.row_energy_j[d].sum() + prof.unattributed_j[d]
        assert total == pytest.approx(prof.measured_j[d], rel=1e-9)


def test_domain_cpus_survive_a_saved_recording(tmp_path):
    from pyprof_carbon.recording import load
    rec = two_core_recording()
    rec.save(str(tmp_path / "r.pcarbon"))
    again = load(str(tmp_path / "r.pcarbon"))
    assert [d.cpus for d in again.domains] == [(0,), (1,)]
