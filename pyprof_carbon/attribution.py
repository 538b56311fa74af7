"""Attribution: a Recording becomes a Profile of joules and grams per stack and thread
(the math in docs/attribution.md, summarised in docs/design.md#attribution).

Per energy domain, per meter interval i = [T_i, T_i+1) carrying dE_i:
  1. process share  s_i = min(1, C_i / B_i)  (C: this process's CPU time, B: the machine's busy CPU
     time; when the scheduler backend's resolution is coarser than the cadence, both are summed over
     a window of `smoothing` around the interval, so a tick-quantized B does not make s_i jump).
     Policy `share`:   A_i = dE_i * s_i
     Policy `active`:  A_i = dE_i * min(1, B_i / (ncpu * dt_i)) * s_i    (idle power not handed out)
     Policy `dynamic`: A_i = max(0, dE_i - P_base * dt_i) * s_i          (baseline power subtracted)
  2. the profiler's share of the process's part, A_i * P_i / C_i (P: collector + signal handler
     CPU), is not the program's; of it, the profiler's own cost is its marginal energy,
     min(A_i P_i / C_i, k P_i), k = the domain's marginal joules per busy CPU-second over the run
     (marginal_power): what its CPU time added, not the idle power of a machine that waited
     (the rest of its share stays unattributed). The program's part, A_i (C_i - P_i) / C_i, goes
     to the samples whose CPU time was spent in interval i: sample s stands for
     q_s of CPU time spread over the span since its thread's previous sample, and gets each
     interval's energy in proportion to the CPU time its span puts there (GPU domains: wall time
     instead of CPU time, so a thread waiting on the GPU is charged; the `wall` engine samples
     waiting threads; a device that reports the process's share, NVML, gives A_i from that share
     instead of the CPU share, and `active` treats it like `share`). An interval no span covers
     hands its energy to the nearest later one (or earlier, at the end of the run), so nothing is
     lost.
     Split `power` (default, measured domains only): inside an interval, samples are weighted by
     their call stack's power per CPU-second, estimated from the whole run (power_weights), so
     an interval in which a 10 W and a 40 W function both ran is not split as if they drew alike.
  3. unattributed = dE - stacks - profiler: energy of the machine not spent by this process; the
     part of it in intervals where the program used no CPU is shown as "while the program waited"
     (with the `wall` engine, whose samples show where the program waited, that part goes to the
     samples instead, by wall time, as GPU energy does).
Conservation per domain: stacks + profiler + unattributed = measured, to rounding (tests assert it).
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional

from ._lazy import numpy as np

from .errors import UserError
from .attributed_profile import FunctionInfo, Profile
from .recording import total_domains
from .recording import Recording

POLICIES = ("share", "active", "dynamic")  # the default first (the command line's help says so)
SPLITS = ("power", "cpu")
DEFAULT_POLICY = POLICIES[0]
DEFAULT_SPLIT = SPLITS[0]
OUTSIDE_REGIONS = "(outside any region)"
POWER_ITERATIONS = 4  # EM steps of power_weights; the estimate moves < 0.1 % after the third here
MIN_WEIGHT = 1e-3     # a function estimated at zero power still takes energy where it ran alone
SMOOTHING_NS = 500_000_000  # window for tick-resolution backends: 50 procfs ticks, so B is within ~2%


# Samples taken at a time by the per-sample steps that need several temporaries each (a span's
# CPU per interval, its energy): the end of a long run then needs a bounded number of bytes per
# sample, not a dozen float64 copies of every column at once.
CHUNK = 1 << 16


def windowed_diff(cum: np.ndarray, t: np.ndarray, window_ns: int) -> np.ndarray:
    """Increase of a cumulative series over each interval widened by window_ns/2 on each side."""
    if window_ns <= 0:
        return np.diff(cum)
    lo = np.clip(np.searchsorted(t, t[:-1] - window_ns // 2, side="left"), 0, len(t) - 1)
    hi = np.clip(np.searchsorted(t, t[1:] + window_ns // 2, side="right") - 1, 0, len(t) - 1)
    return cum[hi] - cum[lo]


def process_energy(dE, dt_ns, dB_w, dC_w, ncpu, policy, baseline_w, device_share=None) -> np.ndarray:
    """A_i: the part of each interval's energy that belongs to this process (step 1), from the
    machine's busy and the process's CPU time over the (possibly widened) interval. A device that
    reports the process's share itself (NVML) gives `device_share`, used instead of the CPU share;
    its idle fraction is unknown, so `active` treats it like `share`."""
    if device_share is not None:
        share = device_share
    else:
        share = np.clip(np.divide(dC_w, dB_w, out=np.zeros_like(dE), where=dB_w > 0), 0.0, 1.0)
        share = np.where((dB_w <= 0) & (dC_w > 0), 1.0, share)  # process ran, machine count lagged
    if policy == "share" or (policy == "active" and device_share is not None):
        base = dE
    elif policy == "active":
        util = np.clip(np.divide(dB_w, ncpu * dt_ns, out=np.zeros_like(dE), where=dt_ns > 0), 0.0, 1.0)
        base = dE * util
    elif policy == "dynamic":
        base = np.maximum(dE - baseline_w * dt_ns / 1e9, 0.0)
    else:
        raise ValueError(f"unknown attribution policy {policy!r}")
    return base * share


def codes(values: np.ndarray, dense_limit: int = 1 << 24):
    """(sorted distinct values, index of each value among them), as np.unique(return_inverse=True);
    by a lookup table, without sorting, when the values are non-negative ints below dense_limit
    (thread ids, row keys of a normal profile)."""
    values = np.asarray(values, dtype=np.int64)
    if len(values) == 0:
        return values, np.zeros(0, np.int64)
    lo, hi = int(values.min()), int(values.max())
    if lo < 0 or hi >= dense_limit:
        return np.unique(values, return_inverse=True)
    present = np.zeros(hi + 1, bool)
    present[values] = True
    uniq = np.flatnonzero(present)
    index = np.zeros(hi + 1, np.int64)
    index[uniq] = np.arange(len(uniq))
    return uniq, index[values]


def thread_order(t: np.ndarray, tid: np.ndarray) -> np.ndarray:
    """Indices that sort the samples by (thread, time). Recordings keep samples in time order, so
    a stable radix sort of small thread codes is enough (lexsort otherwise)."""
    if len(t) > 1 and (t[1:] >= t[:-1]).all():
        _, code = codes(tid)
        if code.max() < 1 << 16:
            return np.argsort(code.astype(np.uint16), kind="stable")
    return np.lexsort((t, tid))


def previous_sample_time(t: np.ndarray, tid: np.ndarray, q: np.ndarray) -> np.ndarray:
    """For each sample, when the same thread's previous sample was taken (its CPU time q was
    spent since then); a thread's first sample assumes it ran continuously just before."""
    order = thread_order(t, tid)
    ts, ids = t[order], tid[order]
    prev = np.empty(len(t), dtype=np.float64)
    prev_sorted = np.concatenate(([0.0], ts[:-1].astype(np.float64)))
    first = np.concatenate(([True], ids[1:] != ids[:-1])) if len(t) else np.zeros(0, bool)
    prev_sorted[first] = ts[first] - q[order[first]]
    prev[order] = prev_sorted
    return prev


def marginal_power(dE: np.ndarray, dt_ns: np.ndarray, dB: np.ndarray) -> float:
    """A domain's marginal joules per busy CPU-ns: the least-squares slope of its power against
    the machine's busy CPUs over the run's intervals, within [0, its mean joules per busy CPU-ns]
    (the slope of a constant meter is 0; without spread in load, the mean is the bound kept)."""
    ok = dt_ns > 0
    mean = float(dE.sum() / dB.sum()) if dB.sum() > 0 else 0.0
    if ok.sum() < 3:
        return mean
    x, y = dB[ok] / dt_ns[ok], dE[ok] / dt_ns[ok]
    vx = float(np.var(x))
    if vx <= 1e-6:  # under a thousandth of a CPU of spread: no slope to read
        return mean
    return float(np.clip(np.mean((x - x.mean()) * (y - y.mean())) / vx, 0.0, mean))


def hand_on(energy: np.ndarray, has: np.ndarray) -> np.ndarray:
    """Move the energy of intervals where `has` is False to the nearest later interval where it is
    True (or the nearest earlier one, at the end of the run)."""
    n = len(energy)
    ar = np.arange(n)
    nxt = np.minimum.accumulate(np.where(has, ar, n)[::-1])[::-1]
    prv = np.maximum.accumulate(np.where(has, ar, -1))
    target = np.where(nxt < n, nxt, prv)
    return np.bincount(target, weights=energy, minlength=n)


def spread_to_samples(user_j: np.ndarray, T: np.ndarray, t: np.ndarray, t_prev: np.ndarray,
                      q: np.ndarray, *also: np.ndarray):
    """Step 2: each interval's energy onto the samples whose CPU time fell in it.

    Sample s stands for q_s of CPU time spent between its thread's previous sample and itself,
    taken as spread evenly over that span (density q_s / span). Interval i's energy is shared in
    proportion to the CPU time each sample's span puts inside it; so a sample is charged at the
    energy price of the intervals its CPU time was really spent in, not only of the one it lands
    in. Exact integrals of piecewise-linear functions; conservation holds to rounding.
    Further per-interval quantities (`also`, e.g. grams of CO2) are spread the same way; then a
    tuple is returned, one array per quantity."""
    if len(t) == 0 or len(T) < 2:
        zeros = tuple(np.zeros(len(t)) for _ in (user_j, *also))
        return zeros if also else zeros[0]
    cpu_in = cpu_per_interval(T, t, t_prev, q)
    has = cpu_in > 1.0  # under 1 ns of CPU is none: rounding of area differences is not CPU time
    out = []
    for values in (user_j, *also):
        e = np.zeros(len(t))
        out.append(e)
        if not has.any():
            continue
        moved = hand_on(values, has)
        price = np.divide(moved, cpu_in, out=np.zeros_like(moved), where=has)  # per CPU-ns
        G = np.concatenate(([0.0], np.cumsum(price * np.diff(T))))  # integral of the price over time
        for a in range(0, len(t), CHUNK):
            tc, pc = t[a:a + CHUNK].astype(np.float64), t_prev[a:a + CHUNK]
            e[a:a + CHUNK] = q[a:a + CHUNK] / np.maximum(tc - pc, 1.0) * (np.interp(tc, T, G) - np.interp(pc, T, G))
    return tuple(out) if also else out[0]


def cpu_per_interval(T: np.ndarray, t: np.ndarray, t_prev: np.ndarray, q: np.ndarray) -> np.ndarray:
    """CPU time of all samples' spans in each interval [T_i, T_i+1) (each span's q spread evenly)."""
    if len(t) == 0 or len(T) < 2:
        return np.zeros(max(len(T) - 1, 0))
    total = np.zeros(len(T))
    for a in range(0, len(t), CHUNK):  # the CPU of spans adds up: chunk by chunk, transients stay bounded
        tc, pc = t[a:a + CHUNK].astype(np.float64), t_prev[a:a + CHUNK]
        dens = q[a:a + CHUNK] / np.maximum(tc - pc, 1.0)
        times = np.concatenate((pc, tc))
        order = np.argsort(times)  # ties need no order: they add no area (diff of times is 0)
        times = times[order]
        density_after = np.cumsum(np.concatenate((dens, -dens))[order])
        area = np.concatenate(([0.0], np.cumsum(density_after[:-1] * np.diff(times))))
        total += np.interp(T, times, area)
    return np.diff(total)


def sampled_fraction(T: np.ndarray, cpu_in: np.ndarray, user_cpu: np.ndarray) -> np.ndarray:
    """Per interval: the part of the program's own CPU time (user_cpu: its processes' CPU time
    less the profiler's) that samples cover, over a window of SMOOTHING_NS around the interval (a
    span spreads its CPU time evenly, so single intervals under- and overshoot). The rest was
    never sampled (a child interpreter's start-up before its sampler, a thread that could not be
    sampled): its energy is shown as its own row, not handed to samples that did not spend it."""
    sampled = windowed_diff(np.concatenate(([0.0], np.cumsum(cpu_in))), T, SMOOTHING_NS)
    spent = windowed_diff(np.concatenate(([0.0], np.cumsum(user_cpu))), T, SMOOTHING_NS)
    return np.clip(np.divide(sampled, spent, out=np.ones_like(spent), where=spent > 0), 0.0, 1.0)


def home_interval(T: np.ndarray, t: np.ndarray, t_prev: np.ndarray) -> np.ndarray:
    """Per sample: the meter interval holding the midpoint of its span."""
    return np.clip(np.searchsorted(T, (t + t_prev) / 2, side="right") - 1, 0, len(T) - 2)


def core_fraction(T, t, t_prev, q, on_core) -> np.ndarray:
    """Per interval: the fraction of the samples' CPU time spent on one core's CPUs (samples record
    their CPU), each sample's time placed in the interval holding its span's midpoint."""
    n = len(T) - 1
    home = home_interval(T, t, t_prev)
    all_q = np.bincount(home, weights=q, minlength=n)
    return np.divide(np.bincount(home, weights=q * on_core, minlength=n), all_q, out=np.zeros(n), where=all_q > 0)


def core_time(dB, dC, frac, ncpu: int, core_cpus: int):
    """Machine busy and process CPU time on one core's CPUs, per interval (a per-core domain): the
    process's part of the core is frac of its CPU time; other processes' busy time is taken as
    spread evenly over the CPUs, since the timeline keeps machine totals, not per-CPU busy time."""
    mine = dC * frac
    return mine + np.maximum(dB - dC, 0.0) * core_cpus / ncpu, mine


def power_weights(user_j: np.ndarray, T: np.ndarray, t: np.ndarray, t_prev: np.ndarray,
                  q: np.ndarray, cls: np.ndarray, iterations: int = POWER_ITERATIONS) -> np.ndarray:
    """Per-sample weight: the power per CPU-second of the sample's class (its call stack: the same
    function can draw differently from different callers, on different data), relative to the
    run's mean, for splitting each interval's energy among its samples.

    Model: interval i's energy is sum over classes f of P_f * c_if (c_if: CPU time of class f in
    i). P is the maximum-likelihood estimate by EM (the multiplicative updates of Poisson
    regression): P_f <- sum_i U_i * P_f c_if / (sum_g P_g c_ig) / C_f. The first step, from equal
    powers, is the plain CPU-time split's average power per function; later steps stop intervals
    shared by two functions from pulling their powers together. Each sample's CPU time is placed
    in the interval holding its span's midpoint (c_if is only needed to estimate P; the final
    split uses the exact spans)."""
    n = len(T) - 1
    i = home_interval(T, t, t_prev)
    F = int(cls.max()) + 1 if len(cls) else 1
    C = np.bincount(cls, weights=q, minlength=F)
    P = np.ones(F)
    for _ in range(iterations):
        w = q * P[cls]
        den = np.bincount(i, weights=w, minlength=n)
        price = np.divide(user_j, den, out=np.zeros(n), where=den > 0)
        E = np.bincount(cls, weights=w * price[i], minlength=F)
        P = np.divide(E, C, out=np.ones(F), where=C > 0)
    mean = float(P @ C) / float(C.sum()) if C.sum() > 0 else 0.0
    if mean <= 0:
        return np.ones(len(t))
    return np.maximum(P / mean, MIN_WEIGHT)[cls]


def attribute(rec: Recording, policy: Optional[str] = None, intensity=None, pue: float = 1.0,
              baseline_w: Optional[Dict[str, float]] = None, nbins: int = 100,
              compare=None, split: Optional[str] = None, region_filter: Optional[str] = None,
              native_threads: Optional[str] = None) -> Profile:
    """Joules (and CO2) per sample, summed into a Profile. `policy`, `split` and `native_threads`
    None: the ones recorded with the run (meta `attribution`, `split`, `native_threads`), else the
    defaults. `region_filter`: keep only the samples taken inside that named region's spans (the
    region table always covers the whole run)."""
    from . import carbon, native_threads as native

    policy = policy or rec.meta.get("attribution") or DEFAULT_POLICY
    split = split or rec.meta.get("split") or DEFAULT_SPLIT
    native_threads = native_threads or rec.meta.get("native_threads") or native.MODES[0]
    if native_threads not in native.MODES:
        raise ValueError(f"unknown native-threads mode {native_threads!r}")
    if native_threads == "caller":
        rec = native.by_cause(rec)

    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}")

    s, sched = rec.samples, rec.sched
    t = s["t_ns"].astype(np.int64, copy=False)
    q = s["cpu_ns"].astype(np.float64)
    cpu_measured = bool(len(q) and q.sum() > 0)
    if len(q) and not cpu_measured:
        q = np.ones(len(q))  # no CPU time measured at all: weigh samples equally
    tid = s["tid"]  # as stored (int32): thread_order codes it
    has_gpu = any(d.kind == "gpu" for d in rec.domains)
    waits_on_stacks = rec.meta.get("engine") == "wall"  # waiting threads were sampled too
    wall = wall_weights(t, tid) if has_gpu or waits_on_stacks else None
    t_prev_cpu = np.maximum(previous_sample_time(t, tid, q), t - q)  # CPU time is spent just before its sample
    t_prev_wall = t - wall if wall is not None else None
    cls = s["stack"].astype(np.int32, copy=False) if split == "power" else None
    window = SMOOTHING_NS if sched.backend == "procfs" else 0
    baseline_w = baseline_w or rec.meta.get("baseline_w", {})
    if intensity is None:  # re-rendering: the intensity resolved when the run was recorded
        intensity = carbon.IntensitySource.from_meta(rec.meta["intensity"])
    mono0, unix0 = rec.meta.get("start_monotonic_ns", 0), rec.meta.get("start_unix_s", 0.0)
    per_sample: Dict[str, np.ndarray] = {}
    co2_per_sample = np.zeros(len(t))
    measured, unattributed, timeline, waiting = {}, {}, {}, {}
    # `run`'s profiler process worked while the program ran (its journal, its imports): CPU time
    # of the machine outside the program's tree, so far in the unattributed rest; its marginal
    # energy is the profiler's cost too (meta `profiler_process_cpu_s`, measured by `run`)
    outside_cpu_ns = float(rec.meta.get("profiler_process_cpu_s") or 0.0) * 1e9
    outside_j: Dict[str, float] = {}
    unsampled, unsampled_co2 = {}, {}  # domain -> (per-interval J, T), per-interval g
    profiler_j = 0.0
    sched_t = sched.t_ns.astype(np.float64)
    domain_info = {d.name: d for d in rec.domains}
    counted = set(total_domains(list(domain_info), domain_info))
    for d in rec.domains:
        es = rec.energy[d.name]
        T = es.t_ns.astype(np.float64)
        if len(T) < 2:
            per_sample[d.name] = np.zeros(len(t))
            measured[d.name] = unattributed[d.name] = 0.0
            continue
        dE = np.diff(es.energy_j)
        dt_ns = np.diff(T)
        cum = {k: np.interp(T, sched_t, getattr(sched, k).astype(np.float64))
               for k in ("machine_busy_ns", "process_cpu_ns", "profiler_cpu_ns")}
        dC, dP = np.diff(cum["process_cpu_ns"]), np.diff(cum["profiler_cpu_ns"])  # the profiler's part of C
        dB_w = windowed_diff(cum["machine_busy_ns"], T, window)
        dC_w = windowed_diff(cum["process_cpu_ns"], T, window)
        # GPU energy follows wall time, so a thread waiting on the GPU is charged
        t_prev, weight = (t_prev_wall, wall) if d.kind == "gpu" else (t_prev_cpu, q)
        ncpu = sched.ncpu
        if d.cpus and len(t):  # a core's own counter (AMD core:N): only that core's samples share it
            ncpu = len(d.cpus)
            on_core = np.isin(s["cpu"], d.cpus)
            frac = core_fraction(T, t, t_prev, weight, on_core)
            dB_w, dC_w = core_time(dB_w, dC_w, frac, sched.ncpu, ncpu)
            weight = weight * on_core
        device_share = es.share[1:] if es.share is not None else None  # NVML (docs/attribution.md, GPU domains)
        A = process_energy(dE, dt_ns, dB_w, dC_w, ncpu, policy, baseline_w.get(d.name, 0.0), device_share)
        if device_share is not None:
            prof = prof_share = np.zeros_like(A)  # the profiler does not use the device
        else:
            prof_share = A * np.clip(np.divide(dP, dC, out=np.zeros_like(dE), where=dC > 0), 0.0, 1.0)
            k = marginal_power(dE, dt_ns, np.diff(cum["machine_busy_ns"]))
            prof = np.minimum(prof_share, k * dP)
            if d.kind != "gpu" and not d.cpus:
                outside_j[d.name] = k * outside_cpu_ns  # the profiler's own process: see below
        user = A - prof_share
        if device_share is None and d.kind != "gpu" and not d.cpus and cpu_measured:  # CPU time no sample covers
            own = np.maximum(dC - dP, 0.0)
            cpu_in = cpu_per_interval(T, t, t_prev, weight)
            covered = cpu_in > 1.0  # as in spread_to_samples
            # no sample is given the energy of an interval none of them ran in: the program's CPU
            # there is "not sampled"; with none (a tick-rate backend's window reaching into a
            # wait), it stays unattributed, part of what the machine spent while the program waited
            f = np.where(covered, sampled_fraction(T, cpu_in, own), 0.0)
            unsampled[d.name] = (user * (1.0 - f) * (covered | (own > 0)), T)
            user = user * f
        # CO2 is priced per interval, at the intensity in force then (docs/attribution.md; carbon.co2_g)
        user_co2 = carbon.co2_g(user, unix0 + (T[:-1] - mono0) / 1e9, intensity, pue)
        if d.name in unsampled:
            unsampled_co2[d.name] = carbon.co2_g(unsampled[d.name][0], unix0 + (T[:-1] - mono0) / 1e9, intensity, pue)
        if cls is not None and d.measured and len(t):  # an estimate has no per-function power to find
            weight = weight * power_weights(user, T, t, t_prev, weight, cls)
        e_s, c_s = spread_to_samples(user, T, t, t_prev, weight, user_co2)
        waited = dC - dP <= 0  # the program used no CPU: what the machine spent then is not its
        idle = np.where(waited, dE - prof, 0.0)
        if waits_on_stacks and d.kind != "gpu" and not d.cpus and len(t):
            # wall-clock samples show where the program waited: the idle stretches go on those stacks
            e_w, c_w = spread_to_samples(idle, T, t, t_prev_wall, wall,
                                         carbon.co2_g(idle, unix0 + (T[:-1] - mono0) / 1e9, intensity, pue))
            if e_w.sum() > 0:  # all of it (spread_to_samples conserves): none is left waiting
                e_s, c_s, idle = e_s + e_w, c_s + c_w, np.zeros_like(idle)
        per_sample[d.name] = e_s
        measured[d.name] = float(dE.sum())
        if d.name in counted:  # a domain inside another is shown, not added (no joule counted twice)
            co2_per_sample += c_s
            profiler_j += float(prof.sum())
        unattributed[d.name] = float(dE.sum() - e_s.sum() - prof.sum()
                                     - (unsampled[d.name][0].sum() if d.name in unsampled else 0.0))
        timeline[d.name] = power_timeline(T, es.energy_j, mono0)
        waiting[d.name] = float(idle.sum())

    for d, e in outside_j.items():
        e = min(e, max(unattributed[d] - waiting[d], 0.0))  # taken from the rest while the program ran
        unattributed[d] -= e
        if d in counted:
            profiler_j += e

    spans = rec.meta.get("regions", [])
    region_rows = region_table(t, per_sample, co2_per_sample, s["cpu_ns"], counted, spans)
    keep = None
    if region_filter is not None:
        names = [r["name"] for r in region_rows[:-1]]
        if region_filter not in names:
            raise UserError(f"no region named {region_filter!r} in this recording"
                            + (f" (it has: {', '.join(names)})" if names else " (it has none)"))
        keep = in_spans(t, [(r["start_ns"], r["end_ns"]) for r in spans if r["name"] == region_filter])
    profile = aggregate(rec, t, per_sample, co2_per_sample, nbins, keep)
    if region_filter is None:
        add_unsampled(profile, unsampled, unsampled_co2, counted, mono0)
    if region_rows:  # CPU time no sample covers is in no region's spans: it is outside them
        region_rows[-1]["energy_j"] += sum(float(v.sum()) for d, (v, _) in unsampled.items() if d in counted)
        region_rows[-1]["co2_g"] += sum(float(unsampled_co2[d].sum()) for d in unsampled if d in counted)
    profile.meta["region_table"] = region_rows
    if region_filter is not None:
        profile.meta["region_filter"] = region_filter
    profile.measured_j, profile.unattributed_j, profile.timeline = measured, unattributed, timeline
    profile.waiting_j = waiting
    total_prof_cpu = float(sched.profiler_cpu_ns[-1] - sched.profiler_cpu_ns[0]) / 1e9 if len(sched.t_ns) else 0.0
    total_prof_cpu += outside_cpu_ns / 1e9
    profile.profiler_cost = {"cpu_s": total_prof_cpu, "energy_j": profiler_j}
    total_j = float(sum(v.sum() for d, v in per_sample.items() if d in counted))
    profile.meta.update(
        sched={"backend": sched.backend, "ncpu": sched.ncpu, "resolution_note": sched.resolution_note},
        attribution=policy, split=split, pue=pue, intensity=intensity.to_meta(),
        meters=[{"domain": d.name, "meter": d.meter, "measured": d.measured, "notes": d.notes}
                for d in rec.domains],
        elsewhere=carbon.same_work_elsewhere(total_j, pue, intensity, compare))
    return profile


def wall_weights(t: np.ndarray, tid: np.ndarray) -> np.ndarray:
    """Wall time each sample stands for: the gap since the same thread's previous sample (the
    first sample of a thread gets its thread's median gap)."""
    w = np.zeros(len(t))
    if len(t) == 0:
        return w
    order = thread_order(t, tid)
    ts, ids = t[order].astype(np.float64), tid[order]
    gap = np.diff(ts, prepend=np.nan)
    first = np.concatenate(([True], ids[1:] != ids[:-1]))
    gap[first] = np.nan
    med = np.nanmedian(gap) if np.isfinite(gap).any() else 1.0
    gap[~np.isfinite(gap)] = med
    w[order] = gap
    return w


def power_timeline(T: np.ndarray, E: np.ndarray, t0_ns: float, max_points: int = 1000):
    """(t_s, W) per display interval: at most max_points intervals on a uniform grid."""
    n = min(len(T) - 1, max_points)
    grid = np.linspace(T[0], T[-1], n + 1)
    e = np.interp(grid, T, E)
    dt = np.diff(grid) / 1e9
    power = np.divide(np.diff(e), dt, out=np.zeros(n), where=dt > 0)
    return (grid[:-1] - t0_ns) / 1e9, power


def in_spans(t: np.ndarray, spans) -> np.ndarray:
    """Which times fall inside any of the [start, end) spans (overlapping spans merged)."""
    inside = np.zeros(len(t), dtype=bool)
    merged = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    if merged and len(t):
        starts = np.array([m[0] for m in merged], dtype=np.int64)
        ends = np.array([m[1] for m in merged], dtype=np.int64)
        k = np.searchsorted(starts, t, side="right") - 1
        inside = (k >= 0) & (t < ends[np.maximum(k, 0)])
    return inside


def region_table(t, per_sample, co2, cpu_ns, counted, spans) -> List[dict]:
    """Energy, CO2, CPU time and samples of each named region (samples taken inside its spans, by
    any thread), then of the time outside every region; non-overlapping regions and that last
    row add up to the run's total. Empty when the program marked no region."""
    if not spans:
        return []
    energy = np.zeros(len(t))
    for d in per_sample:
        if d in counted:
            energy = energy + per_sample[d]
    cpu_ns = np.asarray(cpu_ns, dtype=np.float64)
    rows, anywhere = [], np.zeros(len(t), dtype=bool)

    def row(name, m, n_spans, span_s):
        return {"name": name, "energy_j": float(energy[m].sum()), "co2_g": float(co2[m].sum()),
                "cpu_s": float(cpu_ns[m].sum()) / 1e9, "samples": int(m.sum()), "spans": n_spans, "wall_s": span_s}

    for name in dict.fromkeys(r["name"] for r in spans):
        mine = [(r["start_ns"], r["end_ns"]) for r in spans if r["name"] == name]
        m = in_spans(t, mine)
        anywhere |= m
        rows.append(row(name, m, len(mine), sum(b - a for a, b in mine) / 1e9))
    rows.append(row(OUTSIDE_REGIONS, ~anywhere, 0, 0.0))
    return rows


def aggregate(rec: Recording, t, per_sample, co2, nbins, keep=None) -> Profile:
    """Sum samples into rows of (stack, thread, time bin); `keep`: a mask of the samples to use."""
    s = rec.samples
    if keep is not None:
        s = {k: v[keep] for k, v in s.items()}
        t, co2 = t[keep], co2[keep]
        per_sample = {d: v[keep] for d, v in per_sample.items()}
    functions, stacks, stack = process_roots(rec, s)
    t0 = float(rec.meta.get("start_monotonic_ns", rec.sched.t_ns[0] if len(rec.sched.t_ns) else 0))
    t1 = float(rec.sched.t_ns[-1]) if len(rec.sched.t_ns) else t0 + 1
    dur = max(t1 - t0, 1.0)
    nb = max(1, nbins)
    edges = np.linspace(0.0, dur / 1e9, nb + 1)
    tids, tid_idx = codes(s["tid"])
    # the row key of each sample, (stack, thread, bin), built in place: one int64 column at a time
    key = stack.astype(np.int64, copy=False)  # process_roots made it: ours to change
    key *= max(len(tids), 1)
    key += tid_idx
    del tid_idx
    key *= nb
    if len(t):
        b = t - t0
        b /= dur
        b *= nb
        key += np.clip(b.astype(np.int64), 0, nb - 1)
        del b
    uniq, inv = codes(key)
    del key
    rows = len(uniq)
    names = {int(th["tid"]): th.get("name") or th.get("comm") or str(th["tid"])
             for th in rec.meta.get("threads", [])}
    return Profile(
        meta=dict(rec.meta), functions=functions, stacks=stacks, thread_names=names,
        bin_edges_s=edges,
        row_stack=(uniq // (max(len(tids), 1) * nb)).astype(np.int32),
        row_tid=tids[(uniq // nb) % max(len(tids), 1)] if rows else np.zeros(0, np.int64),
        row_bin=(uniq % nb).astype(np.int32),
        row_energy_j={d: np.bincount(inv, weights=v, minlength=rows) for d, v in per_sample.items()},
        row_co2_g=np.bincount(inv, weights=co2, minlength=rows),
        row_cpu_ns=np.bincount(inv, weights=s["cpu_ns"].astype(np.float64), minlength=rows).astype(np.int64),
        row_samples=np.bincount(inv, minlength=rows).astype(np.int64),
        measured_j={}, unattributed_j={}, timeline={}, domain_info={d.name: d for d in rec.domains})


PROCESS_FILE = "<process>"  # the file of a process's root frame (renderers may fold them away)


def process_label(p: dict) -> str:
    """A process's name as a root frame: its script or module and arguments, without the
    interpreter or the pid (so that the same process matches across runs in `diff`)."""
    argv = [str(a) for a in p.get("argv") or []]
    words = argv[1:] if argv and os.path.basename(argv[0]).startswith("python") else argv
    words = [os.path.basename(words[0]), *words[1:]] if words and not words[0].startswith("-") else words
    kind = {"fork": "forked process"}.get(p.get("how", ""), "process")
    return f"[{kind}] {' '.join(words)[:120]}".rstrip()


def process_roots(rec: Recording, s: dict):
    """(functions, stacks, sample stack ids): with several processes in the run, every stack gets
    its process as the root frame, so flame graphs show one tree per process under `all`."""
    stack = s["stack"].astype(np.int64)
    processes = rec.meta.get("processes") or []
    if len(processes) < 2 or "pid" not in s:
        return rec.functions, rec.stacks, stack
    functions = list(rec.functions)
    root_of = {}
    for p in processes:
        info = FunctionInfo(process_label(p), process_label(p), PROCESS_FILE, 0)
        if info not in functions:
            functions.append(info)
        root_of[int(p["pid"])] = functions.index(info)
    pairs, inv = codes(s["pid"].astype(np.int64) * (len(rec.stacks) + 1) + stack)
    stacks = [((root_of[int(k) // (len(rec.stacks) + 1)], 0),) + tuple(rec.stacks[int(k) % (len(rec.stacks) + 1)])
              for k in pairs]
    return functions, stacks, inv.astype(np.int64)


NOT_SAMPLED = FunctionInfo("[not sampled]", "[not sampled]", "", 0)


def add_unsampled(profile: Profile, unsampled: Dict[str, tuple], co2: Dict[str, np.ndarray], counted,
                  t0_ns: float) -> None:
    """The energy of the program's CPU time that no sample covers, as one row per time bin of a
    `[not sampled]` stack (thread 0): counted in the program's total, on no function's stack."""
    if not unsampled or not any(float(v.sum()) > 0 for v, _ in unsampled.values()):
        return
    edges_ns = t0_ns + profile.bin_edges_s * 1e9
    nb = len(edges_ns) - 1
    per_bin = {}
    co2_bins = np.zeros(nb)
    for d, (values, T) in unsampled.items():
        b = np.clip(np.searchsorted(edges_ns, (T[:-1] + T[1:]) / 2, side="right") - 1, 0, nb - 1)
        per_bin[d] = np.bincount(b, weights=values, minlength=nb)
        if d in counted:
            co2_bins += np.bincount(b, weights=co2[d], minlength=nb)
    functions = list(profile.functions)
    if NOT_SAMPLED not in functions:
        functions.append(NOT_SAMPLED)
    profile.functions = functions
    profile.stacks = list(profile.stacks) + [((functions.index(NOT_SAMPLED), 0),)]
    sid = len(profile.stacks) - 1
    bins = np.arange(nb)
    profile.row_stack = np.concatenate((profile.row_stack, np.full(nb, sid, np.int32)))
    profile.row_tid = np.concatenate((profile.row_tid, np.zeros(nb, profile.row_tid.dtype)))
    profile.row_bin = np.concatenate((profile.row_bin, bins.astype(np.int32)))
    for d in profile.row_energy_j:
        profile.row_energy_j[d] = np.concatenate((profile.row_energy_j[d], per_bin.get(d, np.zeros(nb))))
    profile.row_co2_g = np.concatenate((profile.row_co2_g, co2_bins))
    profile.row_cpu_ns = np.concatenate((profile.row_cpu_ns, np.zeros(nb, np.int64)))
    profile.row_samples = np.concatenate((profile.row_samples, np.zeros(nb, np.int64)))
    profile.thread_names.setdefault(0, "(CPU time no sample covers)")
