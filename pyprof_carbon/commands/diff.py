"""`pyprof-carbon diff BEFORE AFTER`: what a change saved (or cost), per function and in total,
with a confidence interval over repeated runs, as a text table, JSON or a differential flame
graph (--format html|svg), and a CI gate (--fail-if-increase) that fails only on a significant rise.

Each side is a recording, a directory of recordings, or several paths (--before P... --after P...).
"""
from __future__ import annotations

import glob
import json
import math
import os
import sys
from typing import List

from ..attribution import POLICIES
from ..errors import UserError
from .options import add_carbon_options, carbon_overridden, intensity_from_args

FORMATS = ("text", "json", "collapsed", "html", "svg")


def register(sub) -> None:
    p = sub.add_parser("diff", help="compare recordings: joules and CO2 saved or added per function, with confidence",
                       description="Compare BEFORE and AFTER by function and in total. Each side is a recording, "
                                   "a directory of recordings (repeated runs) or, with --before/--after, several "
                                   "paths. With several runs per side the confidence interval includes the "
                                   "run-to-run variation (Welch t over runs, or an analysis of covariance on each run's measured "
                                   "machine speed when every run has it); with one it is sampling error only. "
                                   "Flame graph widths are AFTER's energy; blue frames significantly saved energy, "
                                   "red ones significantly added it.")
    p.add_argument("sides", nargs="*", metavar="BEFORE AFTER",
                   help="two paths, each a .pcarbon recording or a directory of them")
    p.add_argument("--before", nargs="+", action="extend", default=[], metavar="PATH",
                   help="recordings (or directories) of the BEFORE side, instead of the positional BEFORE")
    p.add_argument("--after", nargs="+", action="extend", default=[], metavar="PATH",
                   help="recordings (or directories) of the AFTER side")
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="text table (default); json; html or svg: differential flame graph; "
                        "collapsed: difffolded stacks (stack before_uJ after_uJ, means over runs)")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    p.add_argument("--top", type=int, default=15, help="rows in the table of changed functions")
    p.add_argument("--fail-if-increase", metavar="PCT", default=None,
                   help="a CI gate: exit 1 when total energy rose by more than PCT percent and the rise is "
                        "significant at the --confidence level (one-sided test)")
    p.add_argument("--confidence", default="95", metavar="LEVEL",
                   help="confidence level of the intervals and the gate, in percent (default 95)")
    p.add_argument("--metric", choices=("auto", "energy", "cpu"), default="auto",
                   help="what is compared: energy (attributed joules) or cpu (CPU-time-proportional joules); "
                        "auto: cpu when every meter is the model estimate, else energy (docs/diff.md)")
    p.add_argument("--attribution", choices=POLICIES, default=None,
                   help="attribution policy (default: dynamic when a meter measures, else as recorded)")
    p.add_argument("--no-speed-adjust", dest="speed_adjust", action="store_false",
                   help="do not adjust for each run's machine speed (the speed probe the sampler times: "
                        "by default, with 2+ runs per side, the part of the runs' spread it explains is "
                        "left out of the interval; docs/diff.md)")
    p.add_argument("--region-filter", metavar="NAME",
                   help="compare only what ran inside the named region (pyprof_carbon.region(NAME)) on both sides")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    add_carbon_options(p)
    p.set_defaults(func=main, pue=None)


def expand(paths: List[str]) -> List[str]:
    """Files as given; a directory stands for the .pcarbon files in it, in name order."""
    out = []
    for path in paths:
        if os.path.isdir(path):
            found = sorted(glob.glob(os.path.join(path, "*.pcarbon")))
            if not found:
                raise UserError(f"no .pcarbon recordings in directory {path}")
            out += found
        else:
            out.append(path)
    return out


def sides(args):
    if args.sides and (args.before or args.after):
        raise UserError("give BEFORE AFTER as two paths or use --before/--after, not both")
    if args.sides:
        if len(args.sides) != 2:
            raise UserError(f"diff takes two paths, BEFORE and AFTER (got {len(args.sides)}); "
                            "for several runs per side give directories or --before P... --after P...")
        return expand([args.sides[0]]), expand([args.sides[1]])
    if not args.before or not args.after:
        raise UserError("diff needs BEFORE and AFTER: two paths, or --before P... and --after P...")
    return expand(args.before), expand(args.after)


def parse_gate(text):
    """--fail-if-increase: a finite percentage >= 0 (nan, inf and negatives would make the gate
    meaningless or always fail)."""
    if text is None:
        return None
    try:
        v = float(str(text).rstrip("%"))
    except ValueError:
        raise UserError(f"--fail-if-increase must be a percentage, not {text!r}") from None
    if not math.isfinite(v) or v < 0:
        raise UserError(f"--fail-if-increase must be a finite percentage >= 0, not {text!r}")
    return v


def parse_confidence(text) -> float:
    """'95', '95%' or '0.95' -> 0.95; between 50 % and 99.99 %."""
    try:
        v = float(str(text).rstrip("%"))
    except ValueError:
        raise UserError(f"--confidence must be a percentage such as 95, not {text!r}") from None
    if v >= 1:
        v /= 100.0
    if not (0.5 <= v < 1.0) or not math.isfinite(v):
        raise UserError(f"--confidence must be between 50 and 99.99 (percent), not {text!r}")
    return v


def load_profiles(before: List[str], after: List[str], args):
    """Attribute every recording with one policy: `dynamic` when any meter measures (the baseline
    power, the same whatever the code does, is left out: less noise between runs), else the
    recorded one (the model meter is compared on CPU time anyway)."""
    from ..attribution import attribute
    from ..journal import load_any as load

    recs = [[load(p) for p in paths] for paths in (before, after)]
    measured = any(d.measured for side in recs for r in side for d in r.domains)
    intensity = intensity_from_args(args) if carbon_overridden(args) else None
    out = []
    for side in recs:
        profiles = []
        for rec in side:
            policy = args.attribution or ("dynamic" if measured else None)
            pue = args.pue if args.pue is not None else rec.meta.get("pue") or 1.0
            profiles.append(attribute(rec, policy=policy, intensity=intensity, pue=pue,
                                      compare=getattr(args, "compare", None),
                                      region_filter=getattr(args, "region_filter", None),
                                      native_threads=getattr(args, "native_threads", None)))
        out.append(profiles)
    return out[0], out[1]


def short_path(path: str, width: int = 40) -> str:
    rel = os.path.relpath(path) if path.startswith("/") else path
    p = rel if not rel.startswith("..") else path
    return p if len(p) <= width else "..." + p[-(width - 3):]


def text_report(cmp: dict, top: int, style=None) -> str:
    from ..render.tree import fmt_num
    from ..printable import visible
    from ..render.text import Style, table  # names from recordings: no control character reaches the terminal
    style = style or Style(False)
    tot, level = cmp["total"], f"{100 * cmp['confidence']:g}%"
    na, nb = cmp["runs"]
    lines = [style.bold(f"Energy: {fmt_num(tot['before'], 'J')} -> {fmt_num(tot['after'], 'J')} "
                        f"({tot['delta']:+.4g} J, {tot['pct']:+.1f}%); {level} CI {tot['lo']:+.4g} .. {tot['hi']:+.4g} J "
                        f"({tot['pct_lo']:+.1f}% .. {tot['pct_hi']:+.1f}%): "
                        f"{'significant' if tot['significant'] else 'not significant'}"),
             f"  metric: {cmp['metric_label']}" + (f", {cmp['j_per_cpu_s']:.3g} J per CPU-second" if cmp["metric"] == "cpu" else ""),
             f"  runs: {na} before, {nb} after; {cmp['speed_note']}",
             f"  CO2eq {fmt_num(tot['co2_before'], 'g')} -> {fmt_num(tot['co2_after'], 'g')}"]
    if cmp["sampling_only"]:
        from ..diff import sampling_only_note
        lines.append(f"  note: {sampling_only_note()}")
    rows = []
    for r in [r for r in cmp["functions"] if r["before"] or r["after"]][:top]:
        d = f"{r['delta']:+.4g}"
        pct = "new" if r["before"] <= 0 else f"{r['pct']:+.1f}%"
        rows.append([f"{r['before']:.4g}", f"{r['after']:.4g}", style.hot(d) if r["significant"] and r["delta"] > 0 else d,
                     pct, f"{r['lo']:+.3g} .. {r['hi']:+.3g}", "*" if r["significant"] else "",
                     r["status"], visible(short_path(r["file"])), visible(r["qualname"])])
    cols = ["before J", "after J", "change J", "%", f"{level} CI J", "sig", "", "file", "function (self energy)"]
    lines += [""] + table(cols, rows, ">>>>><<<<", style)
    lines.append(f"(sig *: the {level} interval excludes zero)")
    return "\n".join(lines) + "\n"


def strict_json(obj):
    """JSON has no Infinity or NaN (a new function's % change is infinite): they become null."""
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if isinstance(obj, (bool, int, str)) or obj is None:
        return obj
    v = float(obj)
    return v if math.isfinite(v) else None


def gate(cmp: dict, limit: float):
    """(exit status, one line for the CI log). Fails when the total rose by more than `limit` %
    and the rise is significant, as asv's `--factor` does: the limit says what size of rise
    matters, the test that it is not noise. "Did it rise?" is a one-sided question, so the test
    is one-sided at the confidence level (the lower bound of the change above zero)."""
    tot, level = cmp["total"], f"{100 * cmp['confidence']:g}%"
    what = (f"energy {tot['pct']:+.1f}% ({level} CI {tot['pct_lo']:+.1f}% .. {tot['pct_hi']:+.1f}%, "
            f"{cmp['runs'][0]} vs {cmp['runs'][1]} runs, {cmp['metric']} metric"
            + (", sampling error only" if cmp["sampling_only"] else "")
            + (", speed-adjusted" if cmp["speed_adjusted"] else "") + ")")
    if tot["pct"] > limit and tot["rise_significant"]:
        return 1, f"pyprof-carbon: FAIL: {what}: rose more than {limit:g}%, a significant rise at {level} (one-sided)"
    why = f"not above {limit:g}%" if tot["pct"] <= limit else f"the rise is not significant at {level} (one-sided)"
    return 0, f"pyprof-carbon: ok: {what}: {why}" + (more_runs_hint(cmp) if tot["pct"] > limit else "")


def more_runs_hint(cmp: dict) -> str:
    """For a rise above the limit that is not significant: about how many runs per side would make
    a rise of this size significant, at the spread these runs showed. The one-sided margin
    (change - lower bound) shrinks as 1/sqrt(runs), so n' = n (margin / change)^2 (the t quantile
    of the larger df a little smaller: a slight overestimate)."""
    tot = cmp["total"]
    if cmp["sampling_only"] or tot["delta"] <= 0:
        return ""
    runs = min(cmp["runs"])
    need = math.ceil(runs * ((tot["delta"] - tot["rise_lo"]) / tot["delta"]) ** 2)
    return f"; about {need} runs per side would tell a rise of this size from this noise" if need > runs else ""


def main(args) -> int:
    from .. import diff
    from ..render import diff as diff_render

    limit = parse_gate(args.fail_if_increase)
    confidence = parse_confidence(args.confidence)
    before_paths, after_paths = sides(args)
    before, after = load_profiles(before_paths, after_paths, args)
    cmp = diff.compare(before, after, args.metric, confidence, args.speed_adjust)
    name = lambda paths: os.path.basename(paths[0].rstrip("/")) + (f" (+{len(paths) - 1})" if len(paths) > 1 else "")
    names = (name(before_paths), name(after_paths))
    if args.format == "collapsed":
        out = diff_render.difffolded(before, after)
    elif args.format == "json":
        out = json.dumps(strict_json(dict(cmp, before=before_paths, after=after_paths)), indent=1) + "\n"
    elif args.format == "svg":
        out = diff_render.flame_svg(before, after, title=f"Energy diff: {names[0]} → {names[1]}",
                             metric=cmp["metric"], confidence=confidence, adjust=args.speed_adjust)
    elif args.format == "html":
        out = diff_render.flame_html(before, after, names=names, top=max(args.top, 30), metric=cmp["metric"],
                              confidence=confidence, adjust=args.speed_adjust)
    else:
        from ..render.text import Style, use_color
        out = text_report(cmp, args.top, Style(use_color(args.color, sys.stdout if not args.output else None)))
    if args.output and args.output != "-":
        from ..safe_write import write_file
        write_file(args.output, out)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(out)
    if limit is None:
        return 0
    status, line = gate(cmp, limit)
    print(line, file=sys.stderr)
    return status
