"""One self-contained HTML report: an interactive energy flame graph (widths in joules, or CO2,
CPU time, samples; colors by power density where a meter measured it, else by module), the
hottest functions line by line, a top-functions table, a per-thread view, a power timeline per
domain whose dragged range re-computes everything for that range, and the run's metadata,
meters, carbon intensity source, profiler cost and "same work elsewhere" table.

The first view answers "where did the energy go in my code": import machinery is one
`import <module>` frame and library frames are folded under the library call the user's code made
(render/folding.py); a toggle unfolds them.

No network: our own JS and CSS (render/assets/) are inlined. The rows are aggregated before
they are embedded: call stacks are merged by function into a tree, frames below a small share of
the run are folded into their caller, and time bins are coarsened until the rows fit a budget,
so a profile of a million samples stays a file of a few MB.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from html import escape
from typing import Dict, List, Optional, Tuple

import types

import numpy as np

from ..attributed_profile import Profile
from .folding import USER, collapse_imports, fold_tree, kind, package_of
from .svg import measured_domains
from .tree import CallTree, fmt_num

ASSETS = os.path.join(os.path.dirname(__file__), "assets")
MAX_NODES = 6000      # call tree nodes embedded at most
MIN_SHARE = 2e-5      # a node below this share of energy, CPU and samples folds into its caller
MAX_ROWS = 60_000     # (node, thread, bin) rows embedded at most: bins are coarsened to fit
MAX_TIMELINE = 800    # points per power domain
HOT_FUNCTIONS = 5     # functions shown line by line
MAX_SOURCE_LINES = 60  # a longer function shows only its sampled lines and their neighbours


def _asset(name: str) -> str:
    with open(os.path.join(ASSETS, name), encoding="utf-8") as f:
        return f.read()


def _quantize(v: np.ndarray) -> Tuple[List[int], float]:
    """Integers in a unit of total/1e9 (so rounding loses at most a billionth per row)."""
    v = np.asarray(v, np.float64)
    tot = float(np.abs(v).sum())
    unit = tot / 1e9 if tot > 0 else 1.0
    return np.rint(v / unit).astype(np.int64).tolist(), unit


def compact(profile: Profile, max_nodes: int = MAX_NODES, min_share: float = MIN_SHARE,
            max_rows: int = MAX_ROWS) -> dict:
    """The data the page's script needs, aggregated (see module docstring)."""
    functions, stacks = collapse_imports(profile.functions, profile.stacks)
    tree = CallTree(types.SimpleNamespace(stacks=stacks))
    row_node = tree.node_of_stack[profile.row_stack] if len(profile.row_stack) else np.zeros(0, np.int64)
    e_row = profile.row_energy_total
    cols = {"e": e_row, "co2": profile.row_co2_g, "cpu": profile.row_cpu_ns.astype(np.float64),
            "n": profile.row_samples.astype(np.float64)}
    measured = measured_domains(profile)
    counted = profile.counted_domains()
    color_by = "density" if measured else "module"
    if measured and set(counted) - set(measured):
        # the color is the power density of the measured domains only: a model's joules per
        # CPU-second are its own assumption, not a property of the code
        cols["em"] = np.sum([profile.row_energy_j[d] for d in counted if d in measured], axis=0)
    share = np.zeros(tree.n)
    for v in cols.values():
        tot = tree.totals(np.bincount(row_node, weights=v, minlength=tree.n))
        if tot[0] > 0:
            share = np.maximum(share, tot / tot[0])
    thr = min_share
    keep = share >= thr
    if keep.sum() > max_nodes:  # strictly above the next one: ties never split a parent from its child
        thr = float(np.sort(share)[::-1][max_nodes])
        keep = share > thr
    keep[0] = True
    # a folded node's rows go to its nearest kept ancestor (parents come before children)
    target = np.arange(tree.n)
    par = tree.parent
    for i in range(1, tree.n):
        if not keep[i]:
            target[i] = target[par[i]]
    kept = np.nonzero(keep)[0]
    new_id = np.full(tree.n, -1, np.int64)
    new_id[kept] = np.arange(len(kept))
    node_parent = [int(new_id[par[i]]) if i else -1 for i in kept]
    node_func = [int(tree.func[i]) for i in kept]
    row_node = new_id[target[row_node]]

    tids = sorted({int(t) for t in np.unique(profile.row_tid)})
    row_thread = np.searchsorted(np.array(tids, np.int64), profile.row_tid) if tids else np.zeros(0, np.int64)
    edges = np.asarray(profile.bin_edges_s, np.float64)
    nb = max(len(edges) - 1, 1)
    factor = 1
    while True:
        nbc = int(math.ceil(nb / factor))
        row_bin = np.asarray(profile.row_bin, np.int64) // factor
        key = (row_node * max(len(tids), 1) + row_thread) * nbc + row_bin
        uniq, inv = np.unique(key, return_inverse=True)
        if len(uniq) <= max_rows or nbc == 1:
            break
        factor *= 2
    bin_edges = list(edges[::factor]) + ([float(edges[-1])] if (len(edges) - 1) % factor else [])
    node = uniq // (max(len(tids), 1) * nbc)
    rows = {"node": np.diff(node, prepend=0).tolist(),  # delta-coded (rows are sorted by node)
            "thread": ((uniq // nbc) % max(len(tids), 1)).tolist(), "bin": (uniq % nbc).tolist()}
    units = {}
    for k, v in cols.items():
        agg = np.bincount(inv, weights=v, minlength=len(uniq))
        if k == "n":
            rows[k], units[k] = np.rint(agg).astype(np.int64).tolist(), 1.0
        else:
            rows[k], units[k] = _quantize(agg)
    units["cpu"] /= 1e9  # -> seconds

    used = sorted({f for f in node_func if f >= 0})
    fmap = {f: i for i, f in enumerate(used)}
    funcs = [[functions[f].qualname, functions[f].file, functions[f].line, kind(functions[f].file),
              package_of(functions[f].file)] for f in used]
    node_func = [fmap[f] if f >= 0 else -1 for f in node_func]
    fold, fparent, ffunc, hidden = fold_tree(node_parent, node_func, [f[3] for f in funcs], [f[4] for f in funcs])

    meters = {m.get("domain"): m for m in profile.meta.get("meters") or [] if isinstance(m, dict)}
    timeline = []
    for d, (t, w) in (profile.timeline or {}).items():
        t, w = np.asarray(t, np.float64), np.asarray(w, np.float64)
        if len(t) > MAX_TIMELINE:  # average into MAX_TIMELINE points
            k = int(math.ceil(len(t) / MAX_TIMELINE))
            n = len(t) // k * k
            t = np.concatenate([t[:n:k], t[n:][:1]])
            w = np.concatenate([w[:n].reshape(-1, k).mean(axis=1), [w[n:].mean()] if len(w) > n else []])
        m = meters.get(d, {})
        timeline.append({"domain": d, "t": [round(x, 4) for x in t.tolist()],
                         "w": [float(f"{x:.4g}") for x in w.tolist()],
                         "measured": bool(m.get("measured", False)), "meter": m.get("meter", "?")})
    return {
        "funcs": funcs, "parent": node_parent, "func": node_func,
        "threads": [{"tid": t, "name": profile.thread_names.get(t, str(t))} for t in tids],
        "bins": [round(float(x), 6) for x in bin_edges], "rows": rows, "units": units,
        "timeline": timeline, "duration": float(edges[-1]) if len(edges) else 0.0,
        "regions": region_spans(profile),
        "machine_w": machine_power(profile, np.asarray(bin_edges, np.float64)),
        "folded": {"nodes": int(tree.n - len(kept)), "share": thr, "bin_factor": factor},
        "fold": {"map": fold, "parent": fparent, "func": ffunc, "hidden": hidden},
        "color": color_by, "measured": measured,
        "estimated": [d for d in counted if d not in measured],
    }


def machine_power(profile: Profile, bin_edges: np.ndarray) -> List[float]:
    """The whole machine's average power per time bin (the counted domains added), from the
    meters' timeline: the process's area on the power chart is drawn under it, never above."""
    tl = profile.timeline or {}
    doms = [d for d in profile.counted_domains(tl) if len(tl[d][0]) >= 2]
    if not doms or len(bin_edges) < 2:
        return []
    energy = np.zeros(len(bin_edges))
    for d in doms:
        t, w = np.asarray(tl[d][0], np.float64), np.asarray(tl[d][1], np.float64)
        ends = np.append(t, t[-1] + (t[-1] - t[-2]))  # the timeline holds interval starts; same width last
        cum = np.concatenate([[0.0], np.cumsum(w * np.diff(ends))])
        energy += np.interp(bin_edges, ends, cum)  # energy up to each bin edge
    width = np.diff(bin_edges)
    return [float(f"{x:.4g}") for x in np.divide(np.diff(energy), width, out=np.zeros(len(width)), where=width > 0)]


# ---- the static parts: metadata, meters, carbon -----------------------------------------------
def _kv(rows: List[Tuple[str, object]]) -> str:
    return "<dl class='kv'>" + "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in rows
                                       if v not in (None, "", [])) + "</dl>"


def _table(head: List[str], rows: List[List[str]], cls: str = "") -> str:
    h = "".join(f"<th>{escape(x)}</th>" for x in head)
    b = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<div class='scroll'><table class='static {cls}'><thead><tr>{h}</tr></thead><tbody>{b}</tbody></table></div>"


def _iso(unix_s) -> Optional[str]:
    if unix_s is None:
        return None
    import datetime
    return datetime.datetime.fromtimestamp(float(unix_s), datetime.timezone.utc).isoformat(timespec="seconds")


def _details(profile: Profile) -> str:
    meta = profile.meta or {}
    tot = profile.totals()
    cmd = meta.get("command")
    cmd = " ".join(map(str, cmd)) if isinstance(cmd, (list, tuple)) else cmd
    rate = meta.get("rate_hz") or {}
    rate_s = (f"{rate.get('achieved', 0):.0f} Hz achieved of {rate.get('requested', 0):.0f} Hz requested"
              if isinstance(rate, dict) and rate else rate)
    sched = meta.get("sched") or {}
    sched_s = (f"{sched.get('backend', '?')}, {sched.get('ncpu', '?')} CPUs"
               + (f" ({sched['resolution_note']})" if sched.get("resolution_note") else "")) if isinstance(sched, dict) else sched
    run = _kv([("command", cmd), ("python", meta.get("python")), ("pyprof-carbon", meta.get("tool_version")),
               ("started", meta.get("start_time") or _iso(meta.get("start_unix_s"))),
               ("duration", fmt_num(float(meta["duration_s"]), "s") if meta.get("duration_s") is not None else None),
               ("sampling", rate_s), ("engine", meta.get("engine")), ("lost samples", meta.get("lost_samples")),
               ("scheduler accounting", sched_s), ("attribution policy", f"{meta.get('attribution')}, split by {meta.get('split', 'cpu')}"),
               ("samples", f"{tot['samples']:,}"), ("CPU time", fmt_num(tot["cpu_s"], "s"))])
    meter_rows = []
    meters = meta.get("meters") or [{"domain": d} for d in profile.domains]
    for m in meters:
        d = m.get("domain", "?")
        attributed = tot["energy_j"].get(d, 0.0)
        meter_rows.append([d, m.get("meter", "?"), "measured" if m.get("measured") else "estimated",
                           fmt_num(profile.measured_j.get(d, float("nan")), "J") if d in profile.measured_j else "–",
                           fmt_num(attributed, "J"),
                           fmt_num(profile.unattributed_j[d], "J") if d in profile.unattributed_j else "–",
                           fmt_num(profile.waiting_j[d], "J") if d in profile.waiting_j else "–",
                           m.get("notes") or ""])
    meters_html = _table(["domain", "meter", "kind", "measured over the run", "this process (attributed)",
                          "not this process", "of it while the program waited", "notes"], meter_rows)
    it = meta.get("intensity") or {}
    carbon = _kv([("region", f"{it.get('name', '?')} ({it.get('code', '?')})" if it else None),
                  ("intensity", f"{it['g_per_kwh']:.4g} gCO2eq/kWh" if "g_per_kwh" in it else None),
                  ("chosen by", it.get("origin")), ("source", ", ".join(str(x) for x in (it.get("source"), it.get("year")) if x)),
                  ("kind", it.get("kind")), ("live", "yes" if it.get("live") else None),
                  ("PUE", meta.get("pue")), ("CO2eq of this run", fmt_num(tot["co2_g"], "g"))])
    cost = profile.profiler_cost or {}
    cost_html = _kv([("profiler CPU time", fmt_num(cost["cpu_s"], "s") if "cpu_s" in cost else None),
                     ("profiler energy (not charged to your code)",
                      fmt_num(cost["energy_j"], "J") if "energy_j" in cost else None)])
    if not cost:
        cost_html = "<p class='muted'>not recorded</p>"
    ew = meta.get("elsewhere") or []
    ew_html = _table(["region", "gCO2eq/kWh", "CO2eq for the same energy", ""],
                     [[f"{r.get('name', '?')} ({r.get('code', '?')})", f"{r.get('g_per_kwh', 0):.4g}",
                       fmt_num(float(r.get("co2_g", 0.0)), "g"), r.get("note", "")] for r in ew]) \
        if ew else "<p class='muted'>no comparison regions</p>"
    return (f"<div class='grid2'><div><h3>Run</h3>{run}</div><div><h3>Carbon</h3>{carbon}"
            f"<h3>Profiler's own cost</h3>{cost_html}</div></div>"
            f"<h3>Meters</h3>{meters_html}<h3>Same work elsewhere</h3>{ew_html}")


def line_energy(profile: Profile):
    """(self, total) joules per (function, line): self where the line was the running one, total
    also where it was waiting on a call (once per stack, so recursion counts once)."""
    e_stack = np.bincount(profile.row_stack, weights=profile.row_energy_total, minlength=len(profile.stacks))
    self_j: Dict[Tuple[int, int], float] = {}
    total_j: Dict[Tuple[int, int], float] = {}
    for sid, stack in enumerate(profile.stacks):
        e = float(e_stack[sid])
        if not stack or e == 0:
            continue
        self_j[stack[-1]] = self_j.get(stack[-1], 0.0) + e
        for fr in set(stack):
            total_j[fr] = total_j.get(fr, 0.0) + e
    return self_j, total_j


def _source(path: str) -> Optional[List[str]]:
    try:  # read now, at report time: the file may have changed since the run, or not be here
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()
    except (OSError, ValueError):
        return None


def hot_lines(profile: Profile, n: int = HOT_FUNCTIONS) -> str:
    """The hottest functions of the user's code (by self energy; any code if none is the user's),
    line by line with the joules of each line beside the source, like Scalene."""
    self_j, total_j = line_energy(profile)
    rows = [r for r in profile.function_table() if r["self_energy_j"] > 0]
    idx = {(fn.qualname, fn.file, fn.line): i for i, fn in enumerate(profile.functions)}
    mine = [r for r in rows if kind(r["file"]) == USER] or rows
    if not mine:
        return "<p class='muted'>no energy recorded</p>"
    out = []
    for r in mine[:n]:
        f = idx[(r["qualname"], r["file"], r["line"])]
        lines = {ln: total_j[(ff, ln)] for (ff, ln) in total_j if ff == f and ln > 0}
        if not lines:
            continue
        src = _source(r["file"])
        lo, hi = min([r["line"]] + list(lines)) if r["line"] > 0 else min(lines), max(lines)
        show = list(range(lo, hi + 1))
        if len(show) > MAX_SOURCE_LINES:  # only the sampled lines and one line around each
            show = sorted({x for ln in lines for x in (ln - 1, ln, ln + 1) if lo <= x <= hi})
        top = max(lines.values())
        body, prev = [], None
        for ln in show:
            if prev is not None and ln > prev + 1:
                body.append("<tr class='gap'><td></td><td></td><td></td><td>…</td></tr>")
            prev = ln
            e, se = lines.get(ln, 0.0), self_j.get((f, ln), 0.0)
            code = src[ln - 1] if src and 0 < ln <= len(src) else ""
            bar = f"<span class='bar' style='width:{50 * e / top:.0f}px'></span>" if e > 0 else ""
            body.append(f"<tr{' class=hot' if e > 0 else ''}><td class='ln'>{ln}</td><td>{bar}{fmt_num(e, 'J') if e else ''}</td>"
                        f"<td>{fmt_num(se, 'J') if se else ''}</td><td class='src'>{escape(code)}</td></tr>")
        note = "" if src else " <span class='muted'>(source not readable now: line numbers only)</span>"
        out.append(f"<details{'' if out else ' open'}><summary><b class='mono'>{escape(r['qualname'])}</b> "
                   f"<span class='muted'>{escape(r['file'])}:{r['line']}</span> · self {fmt_num(r['self_energy_j'], 'J')}, "
                   f"total {fmt_num(r['total_energy_j'], 'J')}{note}</summary><div class='scroll'><table class='lines'>"
                   f"<thead><tr><th>line</th><th>J (with calls)</th><th>J (self)</th><th class='l'>source</th></tr></thead>"
                   f"<tbody>{''.join(body)}</tbody></table></div></details>")
    return "".join(out)


def _summary(profile: Profile) -> str:
    tot = profile.totals()
    e = {d: v for d, v in tot["energy_j"].items() if d != "total"}
    counted = profile.counted_domains(e)
    parts = " + ".join(f"{d} {fmt_num(e[d], 'J')}" for d in counted)
    inside = ", ".join(f"{d} {fmt_num(v, 'J')}" for d, v in e.items() if d not in counted)
    cards = [("energy", fmt_num(tot["energy_j"]["total"], "J"), parts + (f"; not added: {inside}" if inside else "")),
             ("CO2eq", fmt_num(tot["co2_g"], "g"), (profile.meta.get("intensity") or {}).get("name", "")),
             ("CPU time", fmt_num(tot["cpu_s"], "s"), f"{tot['samples']:,} samples"),
             ("wall time", fmt_num(tot["wall_s"], "s"), ""),
             avg_power(profile)]
    return "".join(f"<div class='card'><div class='k'>{escape(k)}</div><div class='v'>{escape(v)}</div>"
                   f"<div class='s'>{escape(s)}</div></div>" for k, v, s in cards)


def avg_power(profile: Profile) -> Tuple[str, str, str]:
    """The process's average power over the wall time (its joules ≤ the machine's, so it is never
    above the machine's figure beside it), and its power while it runs on a CPU."""
    tot = profile.totals()
    wall = tot["wall_s"] or (float(profile.bin_edges_s[-1]) if len(profile.bin_edges_s) else 0.0)
    e = tot["energy_j"]["total"]
    if not wall > 0:
        return ("avg power", "–", "")
    machine = profile.sum_counted(profile.measured_j) if profile.measured_j else 0.0
    sub = [f"machine {fmt_num(machine / wall, 'W')}" if machine > 0 else "",
           f"{fmt_num(e / tot['cpu_s'], 'W')} while running" if tot["cpu_s"] else ""]
    return ("avg power", fmt_num(e / wall, "W"), "; ".join(x for x in sub if x))


# Inside <script>, "</script", "<!--" and "<script" change how the HTML parser reads what follows,
# whatever the JSON means; with every <, > and & written as a JSON escape no name can close or
# confuse the block, and JSON.parse gives the same strings back. U+2028/9 for older JS engines.
_SCRIPT_SAFE = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026",
                0x2028: "\\u2028", 0x2029: "\\u2029"}


def script_json(data) -> str:
    """JSON to embed in a <script> element: no sequence in it is markup."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False).translate(_SCRIPT_SAFE)


MAX_REGION_SPANS = 2000  # bands drawn on the timeline; a region entered in a hot loop is summed in its table row


def region_spans(profile: Profile) -> List[dict]:
    """Named regions' spans in seconds since the start, for the timeline's bands."""
    t0 = profile.meta.get("start_monotonic_ns", 0)
    return [{"name": r["name"], "t0": round((r["start_ns"] - t0) / 1e9, 6), "t1": round((r["end_ns"] - t0) / 1e9, 6)}
            for r in (profile.meta.get("regions") or [])[:MAX_REGION_SPANS]]


def region_section(profile: Profile) -> str:
    """Energy, CO2 and CPU time per named region (the whole run), or nothing."""
    rows = profile.meta.get("region_table") or []
    if not rows:
        return ""
    body = [[escape(r["name"]), fmt_num(r["energy_j"], "J"), fmt_num(r["co2_g"], "g"), fmt_num(r["cpu_s"], "s"),
             f"{r['samples']:,}", str(r["spans"] or "")] for r in rows]
    return ("<section id='regions'><h2>Regions <span class='muted small'>pyprof_carbon.region(NAME): the "
            "samples taken inside each region's spans, whole run; shaded on the power timeline</span></h2>"
            + _table(["region", "energy", "CO2eq", "CPU", "samples", "spans"], body) + "</section>")


@dataclasses.dataclass(frozen=True)
class Options:
    title: str = ""  # the page's title; empty: "pyprof-carbon — COMMAND"


def render(profile: Profile, options: Options = Options()) -> str:
    data = compact(profile)
    meta = profile.meta or {}
    cmd = meta.get("command")
    cmd = " ".join(map(str, cmd)) if isinstance(cmd, (list, tuple)) else (cmd or "")
    title = options.title or f"pyprof-carbon — {cmd}".strip(" —")
    payload = script_json(data)
    return _asset("report.html").format(
        title=escape(title), cmd=escape(cmd or "profile"), summary=_summary(profile), details=_details(profile),
        css=_asset("report.css"), js=_asset("report.js"), data=payload, lines=hot_lines(profile),
        regions=region_section(profile),
        folded=escape(f"{data['folded']['nodes']:,} call tree nodes below {data['folded']['share']:.2g} of the run "
                      f"folded into their callers; time bins × {data['folded']['bin_factor']}"
                      if data["folded"]["nodes"] or data["folded"]["bin_factor"] > 1 else ""))
