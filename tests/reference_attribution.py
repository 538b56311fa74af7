"""A pure-Python reference of the attribution math (docs/attribution.md), written from the specification
with plain loops over intervals and samples, independently of pyprof_carbon/attribution.py's
numpy code; tests check the fast path against it.

Per energy domain, meter interval i = [T_i, T_i+1) carries dE_i:
  1. the scheduler's cumulative series are taken at T by linear interpolation; over the interval
     (widened by 0.5 s on each side for the tick-resolution `procfs` backend) B = machine busy,
     C = this process, and s = min(1, C / B) (1 when B is 0 but C is not, 0 when both are 0).
     share:   A = dE * s
     active:  A = dE * min(1, B / (ncpu * dt)) * s
     dynamic: A = max(0, dE - baseline_w * dt) * s
  2. the profiler's share is A * min(1, P / C) over the plain interval (P: profiler CPU); its
     cost is min(that share, k * P), k = the slope of a least-squares line of dE/dt against
     B/dt over the plain intervals with dt > 0, clipped to [0, sum dE / sum B] (that bound
     itself with fewer than 3 intervals or a variance of B/dt of at most 1e-6); the rest of the
     share is unattributed. U = A - the profiler's share goes to the samples. Sample k of thread h at t_k stands for q_k ns of CPU time spent
     in [a_k, t_k], a_k = max(the thread's previous sample time, t_k - q_k) (the first sample of a
     thread: t_k - q_k), evenly (density q_k / max(t_k - a_k, 1)). The CPU time of all samples in
     interval i is cpu_i; an interval with none (under 1 ns) hands U_i to the nearest later one that has some
     (else the nearest earlier one); each interval's price U_i / cpu_i per CPU-ns is paid by each
     sample for the CPU time its window puts in the interval.
     GPU domains use wall time: the window of a sample is the gap since its thread's previous
     sample (the first sample of a thread: the median gap of all threads), and q_k is that gap.
     Split `power` (measured domains): before step 2, each sample's q_k is multiplied by the
     power per CPU-second of its call stack f relative to the run's mean. The powers P_f come
     from POWER_ITERATIONS EM steps from P = 1: with each sample's q placed in the interval holding
     its window's midpoint, E_f = sum over samples k of f of U_i(k) * P_f q_k / (sum over samples j
     in i(k) of P_f(j) q_j), P_f = E_f / (sum of q over f's samples); weights below 1e-3 are 1e-3.
     Per-core domains (d.cpus, AMD core:N): only samples taken on those CPUs share it; in step 1
     C becomes C * (the fraction of the samples' q, placed by window midpoint, that is on the
     core in interval i) and B becomes that C plus (B - C) * len(cpus) / ncpu; `active` uses
     len(cpus) for ncpu.
     A domain whose series carries the process's share of the device (NVML): A = base * share at
     the interval's end reading (base: dE, or dE minus the baseline for `dynamic`), no profiler part.
     Before that, the part of U that samples cannot cover is set apart as "not sampled": with
     raw_i the CPU time of the samples' windows in interval i (before power weighting) and
     spent_i = C - P over the plain interval, f_i = min(1, sum raw / sum spent) over the intervals
     within SMOOTHING_NS / 2 of i (1 when nothing was spent; CPU domains only, not per-core ones);
     samples share U_i * f_i, and U_i * (1 - f_i) is not sampled.
  3. unattributed = sum dE - sum of sample energy - the profiler's part - the not-sampled part.
"""
from __future__ import annotations

import bisect
import statistics
from typing import Dict, List, Tuple

SMOOTHING_NS = 500_000_000
MIN_CPU_NS = 1.0  # an interval with less CPU time of samples than this counts as having none
POWER_ITERATIONS = 4
MIN_WEIGHT = 1e-3


def power_weights(user: List[float], T: List[float], wins, cls: List[int]) -> List[float]:
    n = len(T) - 1
    home = []
    for a, b, _ in wins:
        mid = (a + b) / 2
        home.append(min(max(bisect.bisect_right(T, mid) - 1, 0), n - 1))
    C: Dict[int, float] = {}
    for (_, _, qq), f in zip(wins, cls):
        C[f] = C.get(f, 0.0) + qq
    P = {f: 1.0 for f in C}
    for _ in range(POWER_ITERATIONS):
        den = [0.0] * n
        for (_, _, qq), f, i in zip(wins, cls, home):
            den[i] += P[f] * qq
        E = {f: 0.0 for f in C}
        for (_, _, qq), f, i in zip(wins, cls, home):
            if den[i] > 0:
                E[f] += user[i] * P[f] * qq / den[i]
        P = {f: (E[f] / C[f] if C[f] > 0 else 1.0) for f in C}
    total_q = sum(C.values())
    mean = sum(P[f] * C[f] for f in C) / total_q if total_q > 0 else 0.0
    if mean <= 0:
        return [1.0] * len(cls)
    return [max(P[f] / mean, MIN_WEIGHT) for f in cls]


def marginal_slope(E: List[float], T: List[float], busy: List[float]) -> float:
    xs, ys = [], []
    for i in range(len(T) - 1):
        dt = T[i + 1] - T[i]
        if dt > 0:
            xs.append((busy[i + 1] - busy[i]) / dt)
            ys.append((E[i + 1] - E[i]) / dt)
    total_b = busy[-1] - busy[0]
    bound = (E[-1] - E[0]) / total_b if total_b > 0 else 0.0
    if len(xs) < 3:
        return bound
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    vx = sum((x - mx) ** 2 for x in xs) / len(xs)
    if vx <= 1e-6:
        return bound
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / len(xs) / vx
    return min(max(slope, 0.0), bound)


def interp(x: float, xs: List[float], ys: List[float]) -> float:
    """Linear interpolation, constant beyond the ends (like numpy.interp)."""
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    j = bisect.bisect_right(xs, x)
    x0, x1, y0, y1 = xs[j - 1], xs[j], ys[j - 1], ys[j]
    if x1 == x0:
        return y1
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def windows_cpu(samples) -> List[Tuple[float, float, float]]:
    """(start, end, q) of each sample's CPU-time window."""
    t, q, tid = samples
    last: Dict[int, float] = {}
    out = [None] * len(t)
    for k in sorted(range(len(t)), key=lambda k: (tid[k], t[k], k)):
        prev = last.get(tid[k])
        start = t[k] - q[k] if prev is None else max(prev, t[k] - q[k])
        out[k] = (start, t[k], q[k])
        last[tid[k]] = t[k]
    return out


def windows_wall(samples) -> List[Tuple[float, float, float]]:
    t, _q, tid = samples
    gaps: Dict[int, float] = {}
    last: Dict[int, float] = {}
    for k in sorted(range(len(t)), key=lambda k: (tid[k], t[k], k)):
        if tid[k] in last:
            gaps[k] = t[k] - last[tid[k]]
        last[tid[k]] = t[k]
    med = statistics.median(gaps.values()) if gaps else 1.0
    out = []
    for k in range(len(t)):
        g = gaps.get(k, med)
        out.append((t[k] - g, t[k], g))
    return out


def attribute_reference(rec, policy: str = "share", baseline_w=None, split: str = "power"):
    """-> (per-sample joules per domain, measured, unattributed, profiler joules, joules of the
    program's CPU time no sample covers, per domain)."""
    baseline_w = baseline_w if baseline_w is not None else rec.meta.get("baseline_w", {})
    s = rec.samples
    t = [float(x) for x in s["t_ns"]]
    q = [float(x) for x in s["cpu_ns"]]
    cpu_measured = sum(q) > 0
    if q and not cpu_measured:
        q = [1.0] * len(q)
    tid = [int(x) for x in s["tid"]]
    cls = [int(k) for k in s["stack"]]
    sched = rec.sched
    st = [float(x) for x in sched.t_ns]
    series = {k: [float(x) for x in getattr(sched, k)] for k in ("machine_busy_ns", "process_cpu_ns", "profiler_cpu_ns")}
    window = SMOOTHING_NS if sched.backend == "procfs" else 0
    per_sample: Dict[str, List[float]] = {}
    measured: Dict[str, float] = {}
    unattributed: Dict[str, float] = {}
    profiler_j = 0.0
    not_sampled: Dict[str, float] = {}
    # Overlapping domains (Domain.inside, .contains) are not added: one is left out when a domain
    # it lies inside, or one it contains, is present. A recording saved before domains declared
    # these gets them from its domain names when loaded (recording.load), so there is no other case.
    names = {d.name for d in rec.domains}
    counted = {d.name for d in rec.domains if not names & {*d.inside, *d.contains}}
    for d in rec.domains:
        es = rec.energy[d.name]
        T = [float(x) for x in es.t_ns]
        E = [float(x) for x in es.energy_j]
        n = len(T) - 1
        if n < 1:
            per_sample[d.name] = [0.0] * len(t)
            measured[d.name] = unattributed[d.name] = 0.0
            continue
        cum = {k: [interp(x, st, v) for x in T] for k, v in series.items()}

        def over(k, i, widen):
            if not widen:
                return cum[k][i + 1] - cum[k][i]
            lo_t, hi_t = T[i] - widen // 2, T[i + 1] + widen // 2
            lo = min(bisect.bisect_left(T, lo_t), len(T) - 1)
            hi = min(max(bisect.bisect_right(T, hi_t) - 1, 0), len(T) - 1)
            return cum[k][hi] - cum[k][lo]

        wins = windows_wall((t, q, tid)) if d.kind == "gpu" else windows_cpu((t, q, tid))
        ncpu = sched.ncpu
        frac = None
        if d.cpus and wins:  # per-core domain
            on = [int(c) in d.cpus for c in s["cpu"]]
            all_q, core_q = [0.0] * n, [0.0] * n
            for (a, b, qq), o in zip(wins, on):
                i = min(max(bisect.bisect_right(T, (a + b) / 2) - 1, 0), n - 1)
                all_q[i] += qq
                core_q[i] += qq if o else 0.0
            frac = [core_q[i] / all_q[i] if all_q[i] > 0 else 0.0 for i in range(n)]
            ncpu = len(d.cpus)
            wins = [(a, b, qq if o else 0.0) for (a, b, qq), o in zip(wins, on)]
        user = [0.0] * n
        prof_total = unsampled_total = 0.0
        k_marginal = marginal_slope(E, T, cum["machine_busy_ns"])
        for i in range(n):
            dE = E[i + 1] - E[i]
            dt = T[i + 1] - T[i]
            if es.share is not None:  # the device's own share of this process (NVML); no profiler part
                base = max(0.0, dE - baseline_w.get(d.name, 0.0) * dt / 1e9) if policy == "dynamic" else dE
                user[i] = base * float(es.share[i + 1])
                continue
            B, C = over("machine_busy_ns", i, window), over("process_cpu_ns", i, window)
            if frac is not None:  # the process's part on the core; others' busy time spread evenly
                B, C = C * frac[i] + max(B - C, 0.0) * ncpu / sched.ncpu, C * frac[i]
            if B > 0:
                share = min(1.0, max(0.0, C / B))
            else:
                share = 1.0 if C > 0 else 0.0
            if policy == "share":
                base = dE
            elif policy == "active":
                util = min(1.0, max(0.0, B / (ncpu * dt))) if dt > 0 else 0.0
                base = dE * util
            elif policy == "dynamic":
                base = max(0.0, dE - baseline_w.get(d.name, 0.0) * dt / 1e9)
            else:
                raise ValueError(policy)
            A = base * share
            c_plain = cum["process_cpu_ns"][i + 1] - cum["process_cpu_ns"][i]
            p_plain = cum["profiler_cpu_ns"][i + 1] - cum["profiler_cpu_ns"][i]
            prof_share = A * min(1.0, max(0.0, p_plain / c_plain)) if c_plain > 0 else 0.0
            prof_total += min(prof_share, k_marginal * p_plain)
            user[i] = A - prof_share
        if es.share is None and d.kind != "gpu" and not d.cpus and wins and cpu_measured:
            # the part of the program's CPU time (less the profiler's) that the samples' windows
            # cover, over intervals widened by SMOOTHING_NS; the rest of U is "not sampled"
            raw_in = [sum(qq / max(b - a, 1.0) * overlap(a, b, T[i], T[i + 1]) for a, b, qq in wins) for i in range(n)]
            spent = [max(0.0, (cum["process_cpu_ns"][i + 1] - cum["process_cpu_ns"][i])
                         - (cum["profiler_cpu_ns"][i + 1] - cum["profiler_cpu_ns"][i])) for i in range(n)]
            for i in range(n):
                lo_t, hi_t = T[i] - SMOOTHING_NS // 2, T[i + 1] + SMOOTHING_NS // 2
                lo = min(bisect.bisect_left(T, lo_t), len(T) - 1)
                hi = min(max(bisect.bisect_right(T, hi_t) - 1, 0), len(T) - 1)
                cov, sp = sum(raw_in[lo:hi]), sum(spent[lo:hi])
                f = min(1.0, max(0.0, cov / sp)) if sp > 0 else 1.0
                if raw_in[i] <= MIN_CPU_NS:  # no sample ran in this interval: none gets its energy
                    f = 0.0
                if raw_in[i] > MIN_CPU_NS or spent[i] > 0:  # else it stays unattributed
                    unsampled_total += user[i] * (1.0 - f)
                user[i] *= f
        if split == "power" and d.measured and wins:
            m = power_weights(user, T, wins, cls)
            wins = [(a, b, qq * mk) for (a, b, qq), mk in zip(wins, m)]
        dens = [qq / max(b - a, 1.0) for a, b, qq in wins]
        cpu_in = [0.0] * n
        for k, (a, b, _) in enumerate(wins):
            for i in range(n):
                cpu_in[i] += dens[k] * overlap(a, b, T[i], T[i + 1])
        has = [c > MIN_CPU_NS for c in cpu_in]
        energy = [0.0] * len(t)
        if any(has):
            moved = [0.0] * n
            for i in range(n):
                j = next((j for j in range(i, n) if has[j]), None)
                if j is None:
                    j = max(j for j in range(0, i + 1) if has[j])
                moved[j] += user[i]
            price = [moved[i] / cpu_in[i] if has[i] else 0.0 for i in range(n)]
            for k, (a, b, _) in enumerate(wins):
                energy[k] = dens[k] * sum(price[i] * overlap(a, b, T[i], T[i + 1]) for i in range(n))
        per_sample[d.name] = energy
        total = E[-1] - E[0]
        measured[d.name] = total
        if d.name in counted:  # e.g. core:N inside package: its profiler cost is in package's
            profiler_j += prof_total
        unattributed[d.name] = total - sum(energy) - prof_total - unsampled_total
        not_sampled[d.name] = unsampled_total
    return per_sample, measured, unattributed, profiler_j, not_sampled
