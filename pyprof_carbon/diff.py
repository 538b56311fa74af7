"""Comparing profiles: joules and CO2 saved or added, per function and in total, with a
confidence interval over repeated runs.

Each side is one or more runs (Profiles). `compare` puts every run on one metric (`METRICS`),
keys functions by (qualname, file) so an edited function still matches, and gives each function
and the total a mean per side and a confidence interval for the change (stats.change).
docs/diff.md explains the choices. The differential flame graphs and folded stacks are drawn by
render/diff.py."""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from . import speed_probe, stats
from .attributed_profile import Profile, sampling_error


# ---- several runs per side, on one metric ---------------------------------------------------
METRICS = {
    "energy": "attributed energy",
    "cpu": "CPU-time-proportional energy (CPU seconds x the pooled J per CPU-second of all runs)",
}


def as_runs(x) -> List[Profile]:
    return [x] if isinstance(x, Profile) else list(x)


def any_measured(profiles: Sequence[Profile]) -> bool:
    return any(m.get("measured") for p in profiles for m in p.meta.get("meters", []))


def choose_metric(profiles: Sequence[Profile]) -> str:
    """`cpu` when every joule is a model estimate: the model's energy is CPU time times constants
    plus a share of the machine's idle and other processes' load, which only adds noise between
    runs, so CPU time carries all its information. `energy` as soon as a meter measures: then
    power per CPU-second is real information (the caller attributes it with the `dynamic` policy,
    which leaves the baseline power out)."""
    return "energy" if any_measured(profiles) else "cpu"


def joules_per_cpu_s(profiles: Sequence[Profile]) -> float:
    """One conversion factor for all runs of both sides, so CPU time alone decides the change."""
    e = sum(p.totals()["energy_j"]["total"] for p in profiles)
    c = sum(p.totals()["cpu_s"] for p in profiles)
    return e / c if c > 0 else 0.0


def speed_covariates(before: Sequence[Profile], after: Sequence[Profile]):
    """(before's, after's) speed probe per run, for stats.change's covariate, or None when a run
    has none (the observer engine, a run under MIN_PROBES ms of CPU, an older recording)."""
    zb = [speed_probe.covariate(p.meta) for p in before]
    za = [speed_probe.covariate(p.meta) for p in after]
    return None if None in zb + za else (zb, za)


def speed_for(speed, before: Sequence[float], after: Sequence[float]):
    """The covariate for one function's (or frame's) runs: a function some run did not sample
    (value 0) has no speed to scale, and is compared unadjusted (None)."""
    return speed if speed is not None and min(before) > 0 and min(after) > 0 else None


def script_file(p: Profile) -> Optional[str]:
    """The file of the run's script: the `<module>` whose path ends with the one the run was given
    (meta `command`: `script.py ...` or `-m package ...`; `..` and `.` left out), or None (a
    notebook cell, a test, a recording without its command)."""
    cmd = [str(a) for a in p.meta.get("command") or []]
    if len(cmd) >= 2 and cmd[0] == "-m":
        parts = cmd[1].split(".")
        tails = [parts + ["__main__.py"], parts[:-1] + [parts[-1] + ".py"]]
    elif cmd and cmd[0].endswith(".py"):
        tails = [[c for c in cmd[0].replace(os.sep, "/").split("/") if c not in ("", ".", "..")]]
    else:
        return None
    for f in p.functions:
        if f.qualname == "<module>":
            parts = f.file.replace(os.sep, "/").split("/")
            if any(t and parts[-len(t):] == t for t in tails):
                return f.file
    return None


def common_script(before: Sequence[Profile], after: Sequence[Profile]) -> Optional[str]:
    """The script path every run's own script is keyed as (AFTER's most common, else BEFORE's), so
    that `before.py` against an edited copy `after.py` matches its functions by name."""
    for side in (after, before):
        files = [f for f in map(script_file, side) if f is not None]
        if files:
            return max(set(files), key=files.count)
    return None


def stack_rows(p: Profile, metric: str, w: float, script: Optional[str] = None):
    """(frames as (qualname, file) root -> leaf, value in J on the metric, samples, CO2 g, line of
    leaf). Frames in the run's own script are keyed with the file `script` (common_script)."""
    own = script_file(p) if script is not None else None
    file_of = lambda f: script if own is not None and f.file == own else f.file
    out = []
    for stack, e, cpu, n, co2 in p.stack_table():
        keys = tuple((p.functions[f].qualname, file_of(p.functions[f])) for f, _ in stack)
        leaf_line = p.functions[stack[-1][0]].line if stack else 0
        out.append((keys, e if metric == "energy" else cpu * w, n, co2, leaf_line))
    return out


def runs_on_metric(before: Sequence[Profile], after: Sequence[Profile], metric: str):
    """Every run's stacks on one metric, the program's script keyed as one file on both sides:
    (the metric, choose_metric's for `auto`; its J per CPU-second for `cpu`, else 1; BEFORE's
    stack_rows per run; AFTER's). The table (compare) and the flame graph (render/diff.py) both
    start here."""
    if metric == "auto":
        metric = choose_metric(list(before) + list(after))
    w = joules_per_cpu_s(list(before) + list(after)) if metric == "cpu" else 1.0
    script = common_script(before, after)
    return (metric, w, [stack_rows(p, metric, w, script) for p in before],
            [stack_rows(p, metric, w, script) for p in after])


def _side_values(rows_per_run, keys, pick):
    """Per key: the run values and their sampling variances, for stats.change."""
    out = {}
    for rows in rows_per_run:
        total = sum(r[1] for r in rows)
        n_total = sum(r[2] for r in rows)
        acc: Dict[tuple, list] = {}
        for r in rows:
            for k in pick(r):
                a = acc.setdefault(k, [0.0, 0.0, 0.0])
                a[0] += r[1]; a[1] += r[2]; a[2] += r[3]
        for k in keys:
            v, n, co2 = acc.get(k, (0.0, 0.0, 0.0))
            o = out.setdefault(k, ([], [], []))
            o[0].append(v)
            o[1].append(sampling_error(n, n_total, total) ** 2)
            o[2].append(co2)
    return out


def total_vars(values: Sequence[float], rows_per_run, n_before: int, n_after: int) -> List[float]:
    """The total's error within each run, for stats.change's floor. The total is measured, not
    sampled: its CPU time is the sum of every sample's CPU time (the thread's CPU clock), its energy
    the meters' readings times the process's share. So with runs enough to measure the spread
    between them (2 per side), that spread is its whole error: 0 here. With one run on a side
    there is no spread, and the interval shown is the one a total estimated from N samples would
    have (1/sqrt(N) of it), labeled as sampling error only."""
    if n_before >= 2 and n_after >= 2:
        return [0.0] * len(values)
    return [t * t / max(sum(r[2] for r in rows), 1) for t, rows in zip(values, rows_per_run)]


def compare(before, after, metric: str = "auto", confidence: float = 0.95, adjust: bool = True) -> dict:
    """Totals and per-function (self) changes of AFTER against BEFORE, each one or more Profiles.

    Returns {"metric", "metric_label", "j_per_cpu_s", "confidence", "runs", "sampling_only",
    "speed_adjusted", "total": stats.change + CO2, "functions": [stats.change + qualname, file, line,
    status]}, functions sorted by the size of their change. `adjust`: adjust for each run's speed
    probe where every run has one and there are runs enough (stats.change)."""
    before, after = as_runs(before), as_runs(after)
    speed = speed_covariates(before, after) if adjust else None
    metric, w, rows_a, rows_b = runs_on_metric(before, after, metric)
    leaf = lambda r: (r[0][-1],) if r[0] else ()
    seen_a = {r[0][-1] for rows in rows_a for r in rows if r[0]}
    seen_b = {r[0][-1] for rows in rows_b for r in rows if r[0]}
    keys = seen_a | seen_b
    lines = {r[0][-1]: r[4] for rows in rows_a + rows_b for r in rows if r[0]}
    va, vb = _side_values(rows_a, keys, leaf), _side_values(rows_b, keys, leaf)
    functions = []
    for k in keys:
        c = stats.change(va[k][0], va[k][1], vb[k][0], vb[k][1], confidence, speed_for(speed, va[k][0], vb[k][0]))
        c.update(qualname=k[0], file=k[1], line=lines.get(k, 0),
                 status="added" if k not in seen_a else "removed" if k not in seen_b else "",
                 co2_before=float(np.mean(va[k][2])), co2_after=float(np.mean(vb[k][2])))
        functions.append(c)
    functions.sort(key=lambda r: (-abs(r["delta"]), r["qualname"], r["file"]))
    everything = lambda r: [()]
    ta, tb = _side_values(rows_a, [()], everything)[()], _side_values(rows_b, [()], everything)[()]
    ta = (ta[0], total_vars(ta[0], rows_a, len(before), len(after)), ta[2])
    tb = (tb[0], total_vars(tb[0], rows_b, len(before), len(after)), tb[2])
    total = stats.change(ta[0], ta[1], tb[0], tb[1], confidence, speed)
    total.update(co2_before=float(np.mean(ta[2])), co2_after=float(np.mean(tb[2])),
                 energy_before=float(np.mean([p.totals()["energy_j"]["total"] for p in before])),
                 energy_after=float(np.mean([p.totals()["energy_j"]["total"] for p in after])))
    return {"metric": metric, "metric_label": METRICS[metric], "j_per_cpu_s": w, "confidence": confidence,
            "runs": (len(before), len(after)), "sampling_only": total["sampling_only"],
            "speed_adjusted": total["adjusted"], "speed_note": speed_note(adjust, speed, total),
            "total": total, "functions": functions}


def speed_note(adjust: bool, speed, total: dict) -> str:
    if total["adjusted"]:
        return "adjusted for each run's machine speed (the speed probe; docs/diff.md)"
    if not adjust:
        return "not adjusted for the machine's speed (--no-speed-adjust)"
    if speed is None:
        return "not adjusted for the machine's speed: a run has no speed probe"
    return "not adjusted for the machine's speed: it needs 2 runs per side and 5 in all"


def sampling_only_note() -> str:
    return ("one recording on a side: the interval is the sampling error only and ignores run-to-run "
            "noise; give several runs per side (a directory or several paths) to include it")
