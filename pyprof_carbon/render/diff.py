"""Drawing a comparison: the differential flame graph (widths from AFTER, blue where energy was
significantly saved, red where it was significantly added), its HTML page, and the folded stacks
of both sides (flamegraph.pl's difffolded input). The statistics are pyprof_carbon/diff.py's."""
from __future__ import annotations

from html import escape
from typing import Dict, Tuple

import numpy as np

from .. import stats
from ..attributed_profile import Profile, sampling_error
from ..diff import METRICS, as_runs, compare, runs_on_metric, sampling_only_note, speed_covariates, speed_for
from .svg import svg_document
from .tree import children_of, fmt_num, frame_name, layout


def stack_energy(p: Profile) -> Dict[str, float]:
    out: Dict[str, float] = {}
    for stack, energy, _cpu, _n, _co2 in p.stack_table():
        key = ";".join(frame_name(p, fr).rsplit(" (", 1)[0] for fr in stack)  # lines may move: by function
        out[key] = out.get(key, 0.0) + energy
    return out


def mean_stack_energy(profiles) -> Dict[str, float]:
    profiles = as_runs(profiles)
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


# ---- differential flame graph -----------------------------------------------------------------
class DiffTree:
    """The union of all runs' stacks as one call tree (frames by qualname and file). Per node:
    the mean metric value (J) on each side (`before`, `after`) and, from `change(node)`, the
    change with its confidence interval over runs and the mean CO2."""

    def __init__(self, before, after, metric: str = "auto", confidence: float = 0.95, adjust: bool = True):
        before, after = as_runs(before), as_runs(after)
        self.speed = speed_covariates(before, after) if adjust else None
        self.metric, _, *rows_per_side = runs_on_metric(before, after, metric)
        self.parent, self.name, self.where, self.depth = [-1], ["all"], [""], [0]
        index: Dict[Tuple[int, Tuple[str, str]], int] = {}
        runs = []  # per run: (side, {node: [value, samples, co2]})
        for side, rows_per_run in enumerate(rows_per_side):
            for rows in rows_per_run:
                self_vals: Dict[int, np.ndarray] = {}
                for keys, v, n, co2, line in rows:
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
            c = stats.change(vals[0][0], vals[0][1], vals[1][0], vals[1][1], self.confidence,
                             speed_for(self.speed, vals[0][0], vals[1][0]))
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
        return children_of(self.parent)


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
              confidence: float = 0.95, adjust: bool = True) -> str:
    t = DiffTree(before, after, metric, confidence, adjust)
    eb, ea = t.before, t.after
    level = f"{100 * confidence:g}%"
    boxes = []
    for node, x, w, depth in layout(t, ea, width - 20, names=t.name):
        c = t.change(node)
        d = c["delta"]
        verdict = ("saved" if d < 0 else "added") if c["significant"] else "no significant change"
        tip = (f"{t.name[node]}" + (f" ({t.where[node]})" if t.where[node] else "") +
               f"\nbefore {fmt_num(eb[node], 'J')}, after {fmt_num(ea[node], 'J')}: {verdict}; "
               f"change {d:+.4g} J, {level} CI {c['lo']:+.4g} .. {c['hi']:+.4g} J ({_pct_text(c)}); "
               f"CO2eq {fmt_num(c['co2_before'], 'g')} -> {fmt_num(c['co2_after'], 'g')}")
        boxes.append((x, w, depth, t.name[node], tip, diff_color(eb[node], ea[node], c["significant"])))
    gone = sum(eb[i] for i in range(1, t.n) if ea[i] == 0 and eb[i] > 0 and ea[t.parent[i]] > 0)
    sub = (f"widths: {METRICS[t.metric]} AFTER ({fmt_num(ea[0], 'J')}); before {fmt_num(eb[0], 'J')}; "
           f"change {fmt_num(ea[0] - eb[0], 'J')}" + (f"; {fmt_num(gone, 'J')} in frames no longer seen (not drawn)" if gone else ""))
    legend = (f"color: blue = energy saved, red = energy added, only where the change is significant at {level}; "
              "white = no significant change")
    return svg_document(boxes, width, title or "Differential energy flame graph", sub, float(ea[0]), legend)


def flame_html(before, after, names: Tuple[str, str] = ("before", "after"), top: int = 30,
               metric: str = "auto", confidence: float = 0.95, adjust: bool = True) -> str:
    cmp = compare(before, after, metric, confidence, adjust)
    tot = cmp["total"]
    graph = flame_svg(before, after, metric=cmp["metric"], confidence=confidence, adjust=adjust).split("?>", 1)[1]
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
<div class="sum">Metric: {escape(cmp['metric_label'])}; {cmp['runs'][0]} vs {cmp['runs'][1]} runs; {escape(cmp['speed_note'])}.<br>
Energy {sign}: {fmt_num(tot['before'], 'J')} → {fmt_num(tot['after'], 'J')}
(<b class="{'up' if tot['delta'] > 0 else 'down'}">{tot['delta']:+.4g} J, {tot['pct']:+.1f}%</b>;
{level} CI {tot['lo']:+.4g} .. {tot['hi']:+.4g} J, {tot['pct_lo']:+.1f}% .. {tot['pct_hi']:+.1f}%{'' if tot['significant'] else ', not significant'});
CO2eq {fmt_num(tot['co2_before'], 'g')} → {fmt_num(tot['co2_after'], 'g')}</div>{note}
{graph}
<h2>Functions that changed most (self energy)</h2>
<table><tr><th class="l">function</th><th class="l">file</th><th>before</th><th>after</th><th>change</th><th>{level} CI</th><th>significant</th><th></th></tr>
{''.join(rows)}</table></body></html>
"""
