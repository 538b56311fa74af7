"""Comparing two profiles: joules and CO2 saved or added, per function and per stack, and a
differential flame graph (widths from AFTER, blue where energy was saved, red where it was added,
like flamegraph.pl's difffolded)."""
from __future__ import annotations

import math
from html import escape
from typing import Dict, List, Tuple

import numpy as np

from .profile import Profile, sampling_error


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


def difffolded(before: Profile, after: Profile) -> str:
    """`stack before_uJ after_uJ` per stack (flamegraph.pl's difffolded input)."""
    a, b = stack_energy(before), stack_energy(after)
    return "".join(f"{k} {int(round(a.get(k, 0) * 1e6))} {int(round(b.get(k, 0) * 1e6))}\n"
                   for k in sorted(set(a) | set(b)))


def by_stack(before: Profile, after: Profile) -> List[dict]:
    """Per stack (frames by function): energy before and after and the change, largest change first."""
    a, b = stack_energy(before), stack_energy(after)
    rows = [{"stack": k, "energy_j_before": a.get(k, 0.0), "energy_j_after": b.get(k, 0.0),
             "delta_j": b.get(k, 0.0) - a.get(k, 0.0)} for k in set(a) | set(b)]
    rows.sort(key=lambda r: (-abs(r["delta_j"]), r["stack"]))
    return rows


# ---- differential flame graph -----------------------------------------------------------------
class DiffTree:
    """The union of both profiles' stacks as one call tree (frames by qualname and file), with
    per node totals of energy, samples and CO2 before and after."""

    def __init__(self, before: Profile, after: Profile):
        self.parent, self.name, self.where, self.depth = [-1], ["all"], [""], [0]
        index: Dict[Tuple[int, Tuple[str, str]], int] = {}
        cols = []
        for p in (before, after):
            self_vals: Dict[int, np.ndarray] = {}
            for stack, e, _cpu, n, co2 in p.stack_table():
                node = 0
                for fr in stack:
                    fn = p.functions[fr[0]]
                    k = (node, (fn.qualname, fn.file))
                    child = index.get(k)
                    if child is None:
                        child = index[k] = len(self.parent)
                        self.parent.append(node)
                        self.name.append(fn.qualname)
                        self.where.append(f"{fn.file}:{fn.line}" if fn.file else "")
                        self.depth.append(self.depth[node] + 1)
                    node = child
                self_vals.setdefault(node, np.zeros(3))[:] += (e, n, co2)
            cols.append(self_vals)
        self.n = len(self.parent)
        self.before, self.after = (self._totals(c) for c in cols)

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


def diff_color(before_j: float, after_j: float) -> str:
    """White for no change; blue saved, red added, deeper with the relative change."""
    m = max(before_j, after_j)
    r = (after_j - before_j) / m if m > 0 else 0.0
    light = 96 - 46 * min(abs(r), 1.0)
    return f"hsl({0 if r > 0 else 215},{80 if r else 0}%,{light:.0f}%)"


def flame_svg(before: Profile, after: Profile, width: int = 1200, title: str = "") -> str:
    from .render.svg import fmt_num, svg_document
    t = DiffTree(before, after)
    ch = t.children()
    eb, ea = t.before[:, 0], t.after[:, 0]
    nb, na = t.before[0, 1], t.after[0, 1]
    boxes = []
    if ea[0] > 0:
        scale = (width - 20) / ea[0]
        todo = [(0, 0.0)]
        while todo:
            node, x = todo.pop()
            w = ea[node] * scale
            if w < 0.3:
                continue
            d = ea[node] - eb[node]
            err = math.hypot(sampling_error(t.before[node, 1], nb, eb[0]), sampling_error(t.after[node, 1], na, ea[0]))
            pct = f" ({100 * d / eb[node]:+.1f}%)" if eb[node] > 0 else " (new)"
            tip = (f"{t.name[node]}" + (f" ({t.where[node]})" if t.where[node] else "") +
                   f"\nbefore {fmt_num(eb[node], 'J')}, after {fmt_num(ea[node], 'J')}: "
                   f"{'saved' if d < 0 else 'added'} {fmt_num(abs(d), 'J')} ± {fmt_num(err, 'J')}{pct}; "
                   f"CO2eq {fmt_num(t.before[node, 2], 'g')} -> {fmt_num(t.after[node, 2], 'g')}")
            boxes.append((x, w, t.depth[node], t.name[node], tip, diff_color(eb[node], ea[node])))
            cx = x
            for k in sorted(ch[node], key=lambda k: t.name[k]):
                todo.append((k, cx))
                cx += ea[k] * scale
    gone = sum(eb[i] for i in range(1, t.n) if ea[i] == 0 and eb[i] > 0 and ea[t.parent[i]] > 0)
    sub = (f"widths: energy AFTER ({fmt_num(ea[0], 'J')}); before {fmt_num(eb[0], 'J')}; "
           f"change {fmt_num(ea[0] - eb[0], 'J')}" + (f"; {fmt_num(gone, 'J')} in frames no longer seen (not drawn)" if gone else ""))
    legend = "color: blue = energy saved, red = energy added, white = unchanged (relative to the larger of before/after)"
    return svg_document(boxes, width, title or "Differential energy flame graph", sub, float(ea[0]), legend)


def flame_html(before: Profile, after: Profile, names: Tuple[str, str] = ("before", "after"), top: int = 30) -> str:
    from .render.svg import fmt_num
    tot = totals(before, after)
    graph = flame_svg(before, after).split("?>", 1)[1]
    rows = []
    changed = [r for r in by_function(before, after) if r["self_energy_j_before"] or r["self_energy_j_after"]]
    for r in changed[:top]:
        d = r["self_delta_j"]
        cls = "up" if d > 0 else "down" if d < 0 else ""
        rows.append(f"<tr><td class='l'>{escape(r['qualname'])}</td><td class='l f'>{escape(r['file'])}:{r['line']}</td>"
                    f"<td>{fmt_num(r['self_energy_j_before'], 'J')}</td><td>{fmt_num(r['self_energy_j_after'], 'J')}</td>"
                    f"<td class='{cls}'>{d:+.4g} J</td><td>± {fmt_num(r['self_delta_err_j'], 'J')}</td>"
                    f"<td class='{cls}'>{'+' if r['co2_delta_g'] > 0 else '-' if r['co2_delta_g'] < 0 else ''}"
                    f"{fmt_num(abs(r['co2_delta_g']), 'g')}</td></tr>")
    sign = "rose" if tot["delta_j"] > 0 else "fell"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>pyprof-carbon diff: {escape(names[0])} → {escape(names[1])}</title>
<style>body{{font:14px/1.45 system-ui,sans-serif;margin:16px 24px;color:#1f2328;background:#fbfbf8}}
h1{{font-size:19px}} .sum{{font-size:15px;margin:8px 0 14px}} table{{border-collapse:collapse;margin-top:10px}}
th,td{{padding:3px 9px;border-bottom:1px solid #eee;text-align:right}} th{{background:#f4f5f7}} .l{{text-align:left}}
.f{{color:#666}} .up{{color:#c92a2a}} .down{{color:#1864ab}} svg{{max-width:100%;height:auto;background:#fff;border:1px solid #ddd}}</style>
</head><body><h1>Energy diff <small>{escape(names[0])} → {escape(names[1])}</small></h1>
<div class="sum">Energy {sign}: {fmt_num(tot['energy_j_before'], 'J')} → {fmt_num(tot['energy_j_after'], 'J')}
(<b class="{'up' if tot['delta_j'] > 0 else 'down'}">{tot['delta_j']:+.4g} J ± {fmt_num(tot['delta_err_j'], 'J')},
{tot['delta_pct']:+.1f}%</b>); CO2eq {fmt_num(tot['co2_g_before'], 'g')} → {fmt_num(tot['co2_g_after'], 'g')}</div>
{graph}
<h2>Functions that changed most (self energy)</h2>
<table><tr><th class="l">function</th><th class="l">file</th><th>before</th><th>after</th><th>change</th><th>±</th><th>CO2eq</th></tr>
{''.join(rows)}</table></body></html>
"""
