"""The `power` split: meter intervals shared by functions of different power are split by their
estimated power, not by CPU time alone (attribution.power_weights)."""
import numpy as np
import pytest

from pyprof_carbon.attribution import attribute
from pyprof_carbon.recording import Domain, EnergySeries, FunctionInfo, Recording, SchedTimeline
from synthetic import WORLD

LOW_W, HIGH_W = 10.0, 40.0


def gil_handover_recording(measured=True, slice_ns=5_000_000, interval_ns=1_000_000, seconds=2.0):
    """One CPU's worth of work: `low` (10 W) and `high` (40 W) alternate every 5 ms, as two
    threads handing the GIL over do, with each hand-over inside a 1 ms meter interval (offset by
    0.3 ms), so about 1/5 of the intervals hold both. Samples every 50 µs of CPU time. The exact
    energy of each function is known."""
    end = int(seconds * 1e9)
    T = np.arange(0, end + 1, interval_ns, dtype=np.int64)
    step = 50_000
    t = np.arange(step, end + 1, step, dtype=np.int64)
    phase = ((t - 1 - 300_000) // slice_ns) % 2  # which function ran in (t - step, t]
    power = np.where(phase == 0, LOW_W, HIGH_W)
    # energy: integral of the power, which changes at the hand-overs (between samples' windows)
    e = np.concatenate(([0.0], np.cumsum(power * step / 1e9)))
    energy_t = np.concatenate(([0], t))
    E = np.interp(T, energy_t, e)
    truth = {f: float(np.sum(power[phase == k] * step / 1e9)) for k, f in ((0, "low"), (1, "high"))}
    funcs = [FunctionInfo("low", "low", "/s/app.py", 1), FunctionInfo("high", "high", "/s/app.py", 10)]
    stacks = [((0, 2),), ((1, 11),)]
    n = len(t)
    samples = {"t_ns": t, "cpu_ns": np.full(n, step, np.int64), "tid": np.where(phase == 0, 11, 12).astype(np.int32),
               "cpu": np.zeros(n, np.int16), "stack": phase.astype(np.int32)}
    sched = SchedTimeline(T, T.copy(), T.copy(), np.zeros_like(T), ncpu=1, backend="ebpf")
    meta = {"start_unix_s": 1.7e9, "start_monotonic_ns": 0, "duration_s": seconds, "threads": [],
            "intensity": WORLD}
    dom = Domain("package", "test", measured, "cpu", "")
    return Recording(meta, funcs, stacks, samples, [dom], {"package": EnergySeries(T, E)}, sched), truth


def low_share(prof):
    e = np.bincount(prof.row_stack, weights=prof.row_energy_j["package"], minlength=2)
    return e[0] / e.sum()


def test_power_split_recovers_truth_where_cpu_split_cannot():
    rec, truth = gil_handover_recording()
    want = truth["low"] / (truth["low"] + truth["high"])  # 0.2
    cpu = low_share(attribute(rec, split="cpu"))
    power = low_share(attribute(rec, split="power"))
    # the CPU split pulls toward 0.5: 1/5 of the intervals are mixed, each mixed one mis-split
    assert cpu - want > 0.01, (cpu, want)
    assert abs(power - want) < 0.002, (power, want)


def test_power_split_conserves_energy():
    rec, _ = gil_handover_recording()
    prof = attribute(rec, split="power")
    total = float(prof.row_energy_j["package"].sum())
    assert total + prof.unattributed_j["package"] + prof.profiler_cost["energy_j"] == \
        pytest.approx(prof.measured_j["package"], rel=1e-9)
    assert (prof.row_energy_j["package"] >= 0).all()


def test_estimated_domains_are_split_by_cpu_time():
    """An estimate (model meter) has no per-function power in it: only CPU time splits it."""
    rec, _ = gil_handover_recording(measured=False)
    assert low_share(attribute(rec, split="power")) == pytest.approx(low_share(attribute(rec, split="cpu")), abs=1e-12)


def test_equal_powers_give_the_cpu_split():
    rec, _ = gil_handover_recording()
    flat = np.arange(len(rec.energy["package"].t_ns)) * 0.02  # 20 W whatever runs
    rec.energy["package"] = EnergySeries(rec.energy["package"].t_ns, flat)
    a, b = attribute(rec, split="power"), attribute(rec, split="cpu")
    assert np.allclose(a.row_energy_j["package"], b.row_energy_j["package"], rtol=1e-6)
