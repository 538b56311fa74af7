"""Comparing profiles: joules and CO2 saved or added, per function and per stack, with a
confidence interval over repeated runs, and a differential flame graph (widths from AFTER, blue
where energy was significantly saved, red where it was significantly added).

Each side is one or more runs (Profiles). `compare` puts every run on one metric (`METRICS`),
keys functions by (qualname, file) so an edited function still matches, and gives each function
and the total a mean per side and a confidence interval for the change (stats.change).
docs/diff.md explains the choices."""
from __future__ import annotations

import math
from html import escape
from typing import Dict, List, Sequence, Tuple

import numpy as np

from . import stats
from .attributed_profile import Profile, sampling_error


def _key(f: dict):
    return (f["qualname"], f["file"])


def by_function(before: Profile, after: Profile) -> List[dict]:
    """Per function: self and total energy before and after, the change, and its uncertainty."""
    a = {_key(f): f for f in before.function_table()}
    b = {_key(f): f for f in after.function_table()}
    rows = []
    for k in set(a) | set(b):
        fa, fb = a.get(k, {}), b.get(k, {})
        row = {"qualname": k[0], "file": k[1], "line": (fb or fa).get("line", 0)}
        for what in ("self_energy_j", "total_energy_j", "co2_g", "self_cpu_s"):
            row[f"{what}_before"] = fa.get(what, 0.0)
            row[f"{what}_after"] = fb.get(what, 0.0)
        row["self_delta_j"] = row["self_energy_j_after"] - row["self_energy_j_before"]
        row["total_delta_j"] = row["total_energy_j_after"] - row["total_energy_j_before"]
        row["co2_delta_g"] = row["co2_g_after"] - row["co2_g_before"]
        row["self_delta_err_j"] = math.hypot(fa.get("self_energy_err_j", 0.0), fb.get("self_energy_err_j", 0.0))
        rows.append(row)
    rows.sort(key=lambda r: (-abs(r["self_delta_j"]), r["qualname"]))
    return rows


def total_error(p: Profile) -> float:
    """Sampling error of a profile's total: a total estimated from N samples is known to about
    1/sqrt(N) of itself (run-to-run variation is not known from one run and is not included)."""
    t = p.totals()
    n = t["samples"]
    return t["energy_j"]["total"] / math.sqrt(n) if n > 0 else 0.0


def totals(before: Profile, after: Profile) -> dict:
    ta, tb = before.totals(), after.totals()
    ea, eb = ta["energy_j"]["total"], tb["energy_j"]["total"]
    err = math.hypot(total_error(before), total_error(after))  # the two profiles' errors combined
    return {"energy_j_before": ea, "energy_j_after": eb, "delta_j": eb - ea, "delta_err_j": err,
            "delta_pct_err": 100.0 * err / ea if ea > 0 else 0.0,
            "delta_pct": 100.0 * (eb - ea) / ea if ea > 0 else float("inf") if eb > 0 else 0.0,
            "co2_g_before": ta["co2_g"], "co2_g_after": tb["co2_g"], "co2_delta_g": tb["co2_g"] - ta["co2_g"],
            "cpu_s_before": ta["cpu_s"], "cpu_s_after": tb["cpu_s"]}


def stack_energy(p: Profile) -> Dict[str, float]:
    from .render.collapsed import frame_name
    out: Dict[str, float] = {}
    for stack, energy, _cpu, _n, _co2 in p.stack_table():
        key = ";".join(frame_name(p, fr).rsplit(" (", 1)[0] for fr in stack)  # lines may move: by function
        out[key] = out.get(key, 0.0) + energy
    return out


def mean_stack_energy(profiles) -> Dict[str, float]:
    profiles = _runs(profiles)
    out: Dict[str, float] = {}
    for p in profiles:
        for k, e in stack_energy(p).items():
            out[k] = out.get(k, 0.0) + e / len(profiles)
    return out


def difffolded(before, after) -> str:
    """`stack before_uJ after_uJ` per stack (flamegraph.pl's difffolded input), means over runs."""
    a, b = mean_stack_energy(before), mean_stack_energy(after)
    return "".join(f"{k} {int(round(a.get(k, 0) * 1e6))} {int(round(b.get(k, 0) * 1e6))}\n"
                   for k in sorted(set(a) | set(b)))


def by_stack(before: Profile, after: Profile) -> List[dict]:
    """Per stack (frames by function): energy before and after and the change, largest change first."""
    a, b = stack_energy(before), stack_energy(after)
    rows = [{"stack": k, "energy_j_before": a.get(k, 0.0), "energy_j_after": b.get(k, 0.0),
             "delta_j": b.get(k, 0.0) - a.get(k, 0.0)} for k in set(a) | set(b)]
    rows.sort(key=lambda r: (-abs(r["delta_j"]), r["stack"]))
    return rows


# ---- several runs per side, on one metric ---------------------------------------------------
METRICS = {
    "energy": "attributed energy",
    "cpu": "CPU-time-proportional energy (CPU seconds x the pooled J per CPU-second of all runs)",
}


def _runs(x) -> List[Profile]:
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


def _stack_rows(p: Profile, metric: str, w: float):
    """(frames as (qualname, file) root -> leaf, value in J on the metric, samples, CO2 g, line of leaf)."""
    out = []
    for stack, e, cpu, n, co2 in p.stack_table():
        keys = tuple((p.functions[f].qualname, p.functions[f].file) for f, _ in stack)
        leaf_line = p.functions[stack[-1][0]].line if stack else 0
        out.append((keys, e if metric == "energy" else cpu * w, n, co2, leaf_line))
    return out


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


def compare(before, after, metric: str = "auto", confidence: float = 0.95) -> dict:
    """Totals and per-function (self) changes of AFTER against BEFORE, each one or more Profiles.

    Returns {"metric", "metric_label", "j_per_cpu_s", "confidence", "runs", "sampling_only",
    "total": stats.change + CO2, "functions": [stats.change + qualname, file, line, status]},
    functions sorted by the size of their change."""
    before, after = _runs(before), _runs(after)
    if metric == "auto":
        metric = choose_metric(before + after)
    w = joules_per_cpu_s(before + after) if metric == "cpu" else 1.0
    rows_a = [_stack_rows(p, metric, w) for p in before]
    rows_b = [_stack_rows(p, metric, w) for p in after]
    leaf = lambda r: (r[0][-1],) if r[0] else ()
    seen_a = {r[0][-1] for rows in rows_a for r in rows if r[0]}
    seen_b = {r[0][-1] for rows in rows_b for r in rows if r[0]}
    keys = seen_a | seen_b
    lines = {r[0][-1]: r[4] for rows in rows_a + rows_b for r in rows if r[0]}
    va, vb = _side_values(rows_a, keys, leaf), _side_values(rows_b, keys, leaf)
    functions = []
    for k in keys:
        c = stats.change(va[k][0], va[k][1], vb[k][0], vb[k][1], confidence)
        c.update(qualname=k[0], file=k[1], line=lines.get(k, 0),
                 status="added" if k not in seen_a else "removed" if k not in seen_b else "",
                 co2_before=float(np.mean(va[k][2])), co2_after=float(np.mean(vb[k][2])))
        functions.append(c)
    functions.sort(key=lambda r: (-abs(r["delta"]), r["qualname"], r["file"]))
    everything = lambda r: [()]
    ta, tb = _side_values(rows_a, [()], everything)[()], _side_values(rows_b, [()], everything)[()]
    # the total's sampling error, as total_error(): a total estimated from N samples is known to
    # about 1/sqrt(N) of itself (a function's binomial error would be 0 for the whole)
    ta = (ta[0], [t * t / max(sum(r[2] for r in rows), 1) for t, rows in zip(ta[0], rows_a)], ta[2])
    tb = (tb[0], [t * t / max(sum(r[2] for r in rows), 1) for t, rows in zip(tb[0], rows_b)], tb[2])
    total = stats.change(ta[0], ta[1], tb[0], tb[1], confidence)
    total.update(co2_before=float(np.mean(ta[2])), co2_after=float(np.mean(tb[2])),
                 energy_before=float(np.mean([p.totals()["energy_j"]["total"] for p in before])),
                 energy_after=float(np.mean([p.totals()["energy_j"]["total"] for p in after])))
    return {"metric": metric, "metric_label": METRICS[metric], "j_per_cpu_s": w, "confidence": confidence,
            "runs": (len(before), len(after)), "sampling_only": total["sampling_only"],
            "total": total, "functions": functions}


# ---- differential flame graph -----------------------------------------------------------------
class DiffTree:
    """The union of all runs' stacks as one call tree (frames by qualname and file). Per node:
    the mean metric value (J) on each side (`before`, `after`) and, from `change(node)`, the
    change with its confidence interval over runs and the mean CO2."""

    def __init__(self, before, after, metric: str = "auto", confidence: float = 0.95):
        before, after = _runs(before), _runs(after)
        if metric == "auto":
            metric = choose_metric(before + after)
        w = joules_per_cpu_s(before + after) if metric == "cpu" else 1.0
        self.metric = metric
        self.parent, self.name, self.where, self.depth = [-1], ["all"], [""], [0]
        index: Dict[Tuple[int, Tuple[str, str]], int] = {}
        runs = []  # per run: (side, {node: [value, samples, co2]})
        for side, profiles in ((0, before), (1, after)):
            for p in profiles:
                self_vals: Dict[int, np.ndarray] = {}
                for keys, v, n, co2, line in _stack_rows(p, metric, w):
                    node = 0
                    for depth, k in enumerate(keys):
                        child = index.get((node, k))
                        if child is None:
                            child = index[(node, k)] = len(self.parent)
                            self.parent.append(node)
                            self.name.append(k[0])
                            self.where.append(f"{k[1]}:{line}" if k[1] and depth == len(keys) - 1 else k[1])
                            self.depth.append(self.depth[node] + 1)
                        node = child
                    self_vals.setdefault(node, np.zeros(3))[:] += (v, n, co2)
                runs.append((side, self_vals))
        self.n = len(self.parent)
        self.confidence = confidence
        # per side: (value, samples, CO2) totals per node, one column per run
        self.runs = [np.stack([self._totals(sv) for sd, sv in runs if sd == side], axis=2) for side in (0, 1)]
        self.before = self.runs[0][:, 0, :].mean(axis=1)
        self.after = self.runs[1][:, 0, :].mean(axis=1)
        self._changes: Dict[int, dict] = {}

    def change(self, node: int) -> dict:
        """stats.change of one node, computed when asked: a graph draws only its wide nodes."""
        c = self._changes.get(node)
        if c is None:
            vals = []
            for t in self.runs:
                v, n, co2 = t[node, 0], t[node, 1], t[node, 2]
                var = [sampling_error(n[r], t[0, 1, r], t[0, 0, r]) ** 2 for r in range(t.shape[2])]
                vals.append((list(v), var, float(co2.mean())))
            c = stats.change(vals[0][0], vals[0][1], vals[1][0], vals[1][1], self.confidence)
            c["co2_before"], c["co2_after"] = vals[0][2], vals[1][2]
            self._changes[node] = c
        return c

    def _totals(self, self_vals) -> np.ndarray:
        t = np.zeros((self.n, 3))
        for node, v in self_vals.items():
            t[node] = v
        for i in range(self.n - 1, 0, -1):
            t[self.parent[i]] += t[i]
        return t

    def children(self):
        ch = [[] for _ in range(self.n)]
        for i in range(1, self.n):
            ch[self.parent[i]].append(i)
        return ch


def diff_color(before_j: float, after_j: float, significant: bool = True) -> str:
    """White unless the change is significant; then blue saved, red added, deeper with the
    relative change."""
    m = max(before_j, after_j)
    r = (after_j - before_j) / m if m > 0 and significant else 0.0
    light = 96 - 46 * min(abs(r), 1.0)
    return f"hsl({0 if r > 0 else 215},{80 if r else 0}%,{light:.0f}%)"


def _pct_text(c: dict) -> str:
    if c["before"] <= 0:
        return "new"
    return f"{c['pct']:+.1f}%, {c['pct_lo']:+.1f}% .. {c['pct_hi']:+.1f}%"


def flame_svg(before, after, width: int = 1200, title: str = "", metric: str = "auto",
              confidence: float = 0.95) -> str:
    from .render.format import fmt_num
    from .render.svg import svg_document
    t = DiffTree(before, after, metric, confidence)
    ch = t.children()
    eb, ea = t.before, t.after
    level = f"{100 * confidence:g}%"
    boxes = []
    if ea[0] > 0:
        scale = (width - 20) / ea[0]
        todo = [(0, 0.0)]
        while todo:
            node, x = todo.pop()
            w = ea[node] * scale
            if w < 0.3:
                continue
            c = t.change(node)
            d = c["delta"]
            verdict = ("saved" if d < 0 else "added") if c["significant"] else "no significant change"
            tip = (f"{t.name[node]}" + (f" ({t.where[node]})" if t.where[node] else "") +
                   f"\nbefore {fmt_num(eb[node], 'J')}, after {fmt_num(ea[node], 'J')}: {verdict}; "
                   f"change {d:+.4g} J, {level} CI {c['lo']:+.4g} .. {c['hi']:+.4g} J ({_pct_text(c)}); "
                   f"CO2eq {fmt_num(c['co2_before'], 'g')} -> {fmt_num(c['co2_after'], 'g')}")
            boxes.append((x, w, t.depth[node], t.name[node], tip, diff_color(eb[node], ea[node], c["significant"])))
            cx = x
            for k in sorted(ch[node], key=lambda k: t.name[k]):
                todo.append((k, cx))
                cx += ea[k] * scale
    gone = sum(eb[i] for i in range(1, t.n) if ea[i] == 0 and eb[i] > 0 and ea[t.parent[i]] > 0)
    sub = (f"widths: {METRICS[t.metric]} AFTER ({fmt_num(ea[0], 'J')}); before {fmt_num(eb[0], 'J')}; "
           f"change {fmt_num(ea[0] - eb[0], 'J')}" + (f"; {fmt_num(gone, 'J')} in frames no longer seen (not drawn)" if gone else ""))
    legend = (f"color: blue = energy saved, red = energy added, only where the change is significant at {level}; "
              "white = no significant change")
    return svg_document(boxes, width, title or "Differential energy flame graph", sub, float(ea[0]), legend)


def flame_html(before, after, names: Tuple[str, str] = ("before", "after"), top: int = 30,
               metric: str = "auto", confidence: float = 0.95) -> str:
    from .render.format import fmt_num
    cmp = compare(before, after, metric, confidence)
    tot = cmp["total"]
    graph = flame_svg(before, after, metric=cmp["metric"], confidence=confidence).split("?>", 1)[1]
    level = f"{100 * confidence:g}%"
    rows = []
    changed = [r for r in cmp["functions"] if r["before"] or r["after"]]
    for r in changed[:top]:
        d = r["delta"]
        cls = ("up" if d > 0 else "down") if r["significant"] else ""
        rows.append(f"<tr><td class='l'>{escape(r['qualname'])}</td><td class='l f'>{escape(r['file'])}</td>"
                    f"<td>{fmt_num(r['before'], 'J')}</td><td>{fmt_num(r['after'], 'J')}</td>"
                    f"<td class='{cls}'>{d:+.4g} J</td><td>{r['lo']:+.3g} .. {r['hi']:+.3g} J</td>"
                    f"<td class='{cls}'>{'yes' if r['significant'] else ''}</td><td>{escape(r['status'])}</td></tr>")
    sign = "rose" if tot["delta"] > 0 else "fell"
    note = f"<p class='f'>{escape(sampling_only_note())}</p>" if cmp["sampling_only"] else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>pyprof-carbon diff: {escape(names[0])} → {escape(names[1])}</title>
<style>body{{font:14px/1.45 system-ui,sans-serif;margin:16px 24px;color:#1f2328;background:#fbfbf8}}
h1{{font-size:19px}} .sum{{font-size:15px;margin:8px 0 14px}} table{{border-collapse:collapse;margin-top:10px}}
th,td{{padding:3px 9px;border-bottom:1px solid #eee;text-align:right}} th{{background:#f4f5f7}} .l{{text-align:left}}
.f{{color:#666}} .up{{color:#c92a2a}} .down{{color:#1864ab}} svg{{max-width:100%;height:auto;background:#fff;border:1px solid #ddd}}</style>
</head><body><h1>Energy diff <small>{escape(names[0])} → {escape(names[1])}</small></h1>
<div class="sum">Metric: {escape(cmp['metric_label'])}; {cmp['runs'][0]} vs {cmp['runs'][1]} runs.<br>
Energy {sign}: {fmt_num(tot['before'], 'J')} → {fmt_num(tot['after'], 'J')}
(<b class="{'up' if tot['delta'] > 0 else 'down'}">{tot['delta']:+.4g} J, {tot['pct']:+.1f}%</b>;
{level} CI {tot['lo']:+.4g} .. {tot['hi']:+.4g} J, {tot['pct_lo']:+.1f}% .. {tot['pct_hi']:+.1f}%{'' if tot['significant'] else ', not significant'});
CO2eq {fmt_num(tot['co2_before'], 'g')} → {fmt_num(tot['co2_after'], 'g')}</div>{note}
{graph}
<h2>Functions that changed most (self energy)</h2>
<table><tr><th class="l">function</th><th class="l">file</th><th>before</th><th>after</th><th>change</th><th>{level} CI</th><th>significant</th><th></th></tr>
{''.join(rows)}</table></body></html>
"""


def sampling_only_note() -> str:
    return ("one recording on a side: the interval is the sampling error only and ignores run-to-run "
            "noise; give several runs per side (a directory or several paths) to include it")
