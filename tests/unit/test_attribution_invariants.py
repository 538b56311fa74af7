"""Invariants of attribution on synthetic recordings, for every policy and every scheduler
backend's timeline shape: conservation per domain, no negative joules, the profiler's own cost
apart; and the timelines the backends build from raw counters are monotonic after wrap and
failed-read correction."""
import numpy as np
import pytest

from pyprof_carbon.attribution import attribute
from pyprof_carbon.counters import MISSING, Ticks, unwrap_counter
from pyprof_carbon.sched import ebpf, perf, procfs
from pyprof_carbon.recording import Domain, EnergySeries, SchedTimeline
import synthetic
from test_attribution_reference import random_recording

POLICIES = ("share", "active", "dynamic")
BACKENDS = ("procfs", "perf", "ebpf")


def assert_conserved(rec, prof):
    for d in rec.domains:
        measured = float(rec.energy[d.name].energy_j[-1] - rec.energy[d.name].energy_j[0])
        rows = float(prof.row_energy_j[d.name].sum())
        assert prof.measured_j[d.name] == pytest.approx(measured, rel=1e-9, abs=1e-12)
        # the profiler's part of this domain is what remains once rows and unattributed are out
        prof_d = measured - rows - prof.unattributed_j[d.name]
        assert prof_d >= -1e-9 * max(measured, 1e-9)
    total = sum(prof.measured_j.values())
    parts = (sum(float(v.sum()) for v in prof.row_energy_j.values()) + prof.profiler_cost["energy_j"]
             + sum(prof.unattributed_j.values()))
    assert parts == pytest.approx(total, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", range(8))
def test_conservation_and_signs(policy, backend, seed):
    rec = random_recording(seed, backend, 300, 60, gpu=seed % 2 == 0)
    prof = attribute(rec, policy=policy)
    assert_conserved(rec, prof)
    for d, v in prof.row_energy_j.items():
        assert (v >= -1e-12).all(), d
    for d, u in prof.unattributed_j.items():
        assert u >= -1e-9 * max(prof.measured_j[d], 1e-9), d
    assert prof.profiler_cost["energy_j"] >= 0
    assert (prof.row_co2_g >= -1e-15).all()


@pytest.mark.parametrize("policy", POLICIES)
def test_profiler_cost_reported_apart(policy):
    """The profiler's CPU time is its own line: its share of the process's energy leaves the
    stacks; its cost is at most that share (its marginal energy), the rest stays unattributed."""
    rec = random_recording(1, "perf", 400, 50, gpu=False)
    base = attribute(rec, policy=policy)
    rec.sched.profiler_cpu_ns = np.zeros_like(rec.sched.profiler_cpu_ns)
    none = attribute(rec, policy=policy)
    assert none.profiler_cost["energy_j"] == 0
    assert base.profiler_cost["energy_j"] > 0
    assert base.profiler_cost["cpu_s"] > 0 and none.profiler_cost["cpu_s"] == 0
    rows_base = sum(float(v.sum()) for v in base.row_energy_j.values())
    rows_none = sum(float(v.sum()) for v in none.row_energy_j.values())
    share = rows_none - rows_base
    assert share > 0
    assert base.profiler_cost["energy_j"] <= share * (1 + 1e-9)
    rest = sum(base.unattributed_j.values()) - sum(none.unattributed_j.values())
    assert rest == pytest.approx(share - base.profiler_cost["energy_j"], rel=1e-6, abs=1e-12)


def test_idle_power_while_the_program_waits_is_neither_the_profilers_nor_a_samples():
    """A program burns 1 CPU for 1 s, then sleeps 9 s while only the profiler runs (1 % of a CPU)
    on an otherwise idle machine drawing 1 W + 4 W per busy CPU: the profiler's cost is its CPU
    time at 4 W, the sleep's energy is the waiting bucket, and the samples (all in the first
    second) get the first second's energy only."""
    step, n = 10_000_000, 1000
    T = np.arange(n + 1, dtype=np.int64) * step
    running = T <= 1_000_000_000
    prof_cpu = np.where(running, 0, (T - 1_000_000_000) // 100)
    proc = np.minimum(T, 1_000_000_000) + prof_cpu
    rec = synthetic.recording(n_samples=1000, seconds=1.0, tids=(11,))
    rec.samples["t_ns"] = np.arange(1, 1001, dtype=np.int64) * 1_000_000
    rec.samples["cpu_ns"] = np.full(1000, 1_000_000, np.int64)
    rec.sched = SchedTimeline(T, proc, proc, prof_cpu, ncpu=2, backend="perf")
    power_j = np.concatenate(([0.0], np.cumsum(1.0 * step / 1e9 + 4.0 * np.diff(proc) / 1e9)))
    rec.domains = [Domain("package", "test", True, "cpu", "")]
    rec.energy = {"package": EnergySeries(T, power_j)}
    prof = attribute(rec, policy="share")
    assert prof.profiler_cost["cpu_s"] == pytest.approx(0.09)
    assert prof.profiler_cost["energy_j"] == pytest.approx(4.0 * 0.09, rel=1e-6)
    assert float(prof.row_energy_j["package"].sum()) == pytest.approx(5.0, rel=0.01)
    assert prof.waiting_j["package"] == pytest.approx(9.0, rel=0.001)
    assert_conserved(rec, prof)
    # wall-clock samples (the `wall` engine) of the sleep: its idle energy goes on the sleeping stack
    t_wall = np.arange(1, 10_001, dtype=np.int64) * 1_000_000
    sleeping = t_wall > 1_000_000_000
    rec.samples = {"t_ns": t_wall, "cpu_ns": np.where(sleeping, 0, 1_000_000).astype(np.int64),
                   "tid": np.full(len(t_wall), 11, np.int32), "cpu": np.zeros(len(t_wall), np.int16),
                   "stack": sleeping.astype(np.int32)}
    rec.meta["engine"] = "wall"
    wall = attribute(rec, policy="share")
    by_stack = np.bincount(wall.row_stack, weights=wall.row_energy_j["package"], minlength=2)
    assert by_stack[1] == pytest.approx(9.0, rel=0.01)  # the sleeping stack
    assert by_stack[0] == pytest.approx(5.0, rel=0.01)
    assert wall.waiting_j["package"] == 0.0
    assert wall.profiler_cost["energy_j"] == pytest.approx(4.0 * 0.09, rel=1e-6)
    assert_conserved(rec, wall)


def test_no_sample_takes_the_energy_of_an_interval_it_did_not_run_in():
    """The program burns 1 CPU for 1 s (5 W) but is sampled only from 0.5 s on (a child's start-up
    before its sampler) and not between 0.501 and 0.6 s: the 3 J of those stretches is CPU time no
    sample covers, and the lone 1 ms sample gets at most its own interval's energy."""
    step, n = 10_000_000, 100
    T = np.arange(n + 1, dtype=np.int64) * step
    rec = synthetic.recording(n_samples=401, seconds=1.0, tids=(11,))
    # one sample alone in its interval at 0.501 s, then none until 0.601 s (a thread that could
    # not be sampled for 0.1 s), then every 1 ms
    rec.samples["t_ns"] = np.concatenate(([501], np.arange(601, 1001))).astype(np.int64) * 1_000_000
    rec.samples["cpu_ns"] = np.full(401, 1_000_000, np.int64)
    rec.samples["stack"] = np.where(np.arange(401) == 0, 1, 0).astype(np.int32)
    rec.sched = SchedTimeline(T, T, T, np.zeros_like(T), ncpu=2, backend="perf")
    rec.domains = [Domain("package", "test", True, "cpu", "")]
    rec.energy = {"package": EnergySeries(T, 5.0 * T / 1e9)}
    prof = attribute(rec, policy="share")
    names = [prof.functions[st[-1][0]].name for st in prof.stacks]
    by_row = np.bincount(prof.row_stack, weights=prof.row_energy_j["package"], minlength=len(prof.stacks))
    first = [i for i, st in enumerate(prof.stacks) if st == rec.stacks[1]]
    assert len(first) == 1 and by_row[first[0]] <= 5.0 * step / 1e9 * (1 + 1e-9)
    assert sum(e for e, nm in zip(by_row, names) if nm == "[not sampled]") >= 3.0 * (1 - 1e-9)
    assert_conserved(rec, prof)


def test_all_energy_to_the_process_when_alone():
    """share policy, process = machine, no profiler: every joule goes to a stack."""
    rec = random_recording(2, "ebpf", 500, 40, gpu=False)
    s = rec.sched
    s.process_cpu_ns = s.machine_busy_ns.copy()
    s.profiler_cpu_ns = np.zeros_like(s.profiler_cpu_ns)
    rec.samples["t_ns"] = np.sort(np.random.default_rng(0).integers(0, int(s.t_ns[-1]), len(rec.samples["t_ns"])))
    prof = attribute(rec, "share")
    for d in ("package", "dram"):
        assert prof.unattributed_j[d] == pytest.approx(0.0, abs=1e-9)
        assert prof.row_energy_j[d].sum() == pytest.approx(prof.measured_j[d], rel=1e-9)


# ---- timelines from raw counters --------------------------------------------------------------

def test_unwrap_counter_monotonic_across_wraps():
    wrap = 2**32
    true = np.cumsum(np.random.default_rng(0).integers(0, 2**30, 200)).astype(np.float64)
    raw = np.mod(true, wrap)
    out = unwrap_counter(raw, wrap)
    assert (np.diff(out) >= 0).all()
    assert out[-1] == pytest.approx(true[-1] - true[0])
    assert (np.diff(unwrap_counter(raw, None)) >= 0).all()  # unknown wrap: a step back counts 0


def ticks_for(owner, raw):
    raw = np.asarray(raw, dtype=np.uint64)
    return Ticks(np.arange(len(raw), dtype=np.int64) * 1_000_000 + 10**12, raw, {owner: slice(0, raw.shape[1])})


def test_perf_timeline_monotonic_with_failed_reads():
    n = 50
    rng = np.random.default_rng(3)
    busy = np.cumsum(rng.integers(0, 2_000_000, n)).astype(np.uint64) + 5
    proc = np.cumsum(rng.integers(0, 1_000_000, n)).astype(np.uint64)
    raw = np.stack([busy, proc, proc, proc // 10, np.zeros(n, np.uint64), np.full(n, 3, np.uint64)], axis=1)
    raw[7, 0] = MISSING
    raw[20, 1] = MISSING
    tl = perf.PerfSchedBackend().timeline(ticks_for("perf", raw))
    for arr in (tl.machine_busy_ns, tl.process_cpu_ns, tl.profiler_cpu_ns):
        assert arr[0] == 0 and (np.diff(arr) >= 0).all()
    assert tl.machine_busy_ns[-1] == int(busy[-1] - busy[0])
    assert "did not report 3 switches" in tl.resolution_note


def test_ebpf_timeline_adds_running_intervals_and_stays_monotonic():
    # one CPU: busy_ns, ours_ns, last_ts, cur ; then PROCESS_CPU, PROFILER_CPU
    t0 = 10**12
    t = t0 + np.arange(6) * 1_000_000
    rows = [
        # a thread of ours runs since t0 - 0.5 ms, switches out at t0 + 2.5 ms to an idle CPU
        (0, 0, t0 - 500_000, ebpf.CUR_KNOWN | ebpf.CUR_BUSY | ebpf.CUR_OURS),
        (0, 0, t0 - 500_000, ebpf.CUR_KNOWN | ebpf.CUR_BUSY | ebpf.CUR_OURS),
        (0, 0, t0 - 500_000, ebpf.CUR_KNOWN | ebpf.CUR_BUSY | ebpf.CUR_OURS),
        (3_000_000, 3_000_000, t0 + 2_500_000, ebpf.CUR_KNOWN),
        (3_000_000, 3_000_000, t0 + 2_500_000, ebpf.CUR_KNOWN),
        (3_000_000, 3_000_000, t0 + 2_500_000, ebpf.CUR_KNOWN),
    ]
    raw = np.array([[*r, 0, 0] for r in rows], dtype=np.uint64)
    ticks = Ticks(t.astype(np.int64), raw, {"ebpf": slice(0, 6)})
    tl = ebpf.EbpfBackend().timeline(ticks)
    want = np.array([0.5, 1.5, 2.5, 3.0, 3.0, 3.0]) * 1e6 - 0.5e6
    assert np.allclose(tl.machine_busy_ns, want)
    assert np.allclose(tl.process_cpu_ns, want)
    assert (np.diff(tl.machine_busy_ns) >= 0).all()


def test_procfs_timeline_monotonic_with_failed_reads():
    n = 30
    busy = (np.arange(n) * 10_000_000).astype(np.uint64)
    raw = np.stack([busy, busy // 2, busy // 20], axis=1)
    raw[4, 0] = MISSING
    tl = procfs.ProcfsBackend().timeline(ticks_for("procfs", raw))
    assert (np.diff(tl.machine_busy_ns) >= 0).all() and tl.machine_busy_ns[0] == 0


def test_the_profiler_process_work_while_the_program_runs_is_the_profilers_cost():
    """`run`'s own process (journal, imports) used 0.2 s of CPU during a 1 s program on a machine
    drawing 1 W + 4 W per busy CPU: 0.8 J more profiler cost (its marginal energy), taken from the
    unattributed rest; the stacks keep theirs."""
    step, n = 10_000_000, 100
    T = np.arange(n + 1, dtype=np.int64) * step
    rate = np.where(np.arange(n) % 2 == 0, 1.0, 0.5)  # the program's CPUs per interval (a slope to read)
    proc = np.concatenate(([0], np.cumsum(rate * step))).astype(np.int64)
    busy = proc + T // 5  # and the profiler process's 20 % of a CPU
    rec = synthetic.recording(n_samples=1000, seconds=1.0, tids=(11,))
    rec.samples["t_ns"] = np.arange(1, 1001, dtype=np.int64) * 1_000_000
    rec.samples["cpu_ns"] = np.full(1000, 1_000_000, np.int64)
    rec.sched = SchedTimeline(T, busy, proc, np.zeros_like(T), ncpu=2, backend="perf")
    power_j = np.concatenate(([0.0], np.cumsum(1.0 * step / 1e9 + 4.0 * np.diff(busy) / 1e9)))
    rec.domains = [Domain("package", "test", True, "cpu", "")]
    rec.energy = {"package": EnergySeries(T, power_j)}
    before = attribute(rec, policy="share")
    rec.meta["profiler_process_cpu_s"] = 0.2
    after = attribute(rec, policy="share")
    assert after.profiler_cost["cpu_s"] == pytest.approx(before.profiler_cost["cpu_s"] + 0.2)
    assert after.profiler_cost["energy_j"] - before.profiler_cost["energy_j"] == pytest.approx(0.8, rel=1e-3)
    assert before.unattributed_j["package"] - after.unattributed_j["package"] == pytest.approx(0.8, rel=1e-3)
    assert float(after.row_energy_j["package"].sum()) == pytest.approx(float(before.row_energy_j["package"].sum()))
    assert_conserved(rec, after)
