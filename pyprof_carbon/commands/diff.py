"""`pyprof-carbon diff BEFORE AFTER`: what an optimization saved (or cost), per function, as a
text table or a differential flame graph (--format html|svg), with a CI gate (--fail-if-increase)."""
from __future__ import annotations

import os
import sys


FORMATS = ("text", "collapsed", "html", "svg")


def register(sub) -> None:
    p = sub.add_parser("diff", help="compare two recordings: joules and CO2 saved or added per function",
                       description="Compare two recordings by function and by stack. Widths of the flame graph "
                                   "are AFTER's energy; blue frames saved energy, red ones added it.")
    p.add_argument("before", help="recording before the change (.pcarbon)")
    p.add_argument("after", help="recording after the change (.pcarbon)")
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="text table (default); html or svg: differential flame graph; "
                        "collapsed: difffolded stacks (stack before_uJ after_uJ)")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    p.add_argument("--top", type=int, default=15, help="rows in the table of changed functions")
    p.add_argument("--fail-if-increase", type=float, metavar="PCT", default=None,
                   help="exit 1 when total energy rose by more than PCT percent (a CI gate)")
    p.add_argument("--attribution", choices=("share", "active", "dynamic"), default=None)
    try:
        from .. import carbon
        add = getattr(carbon, "add_arguments", None)
    except ImportError:  # pragma: no cover - carbon is part of the package
        add = None
    if add:
        add(p)
    p.set_defaults(func=main, pue=None)


def text_report(before, after, top: int, style=None) -> str:
    from ..diff import by_function, totals
    from ..render.svg import fmt_num
    from ..render.text import visible  # names from the recordings: no control character reaches the terminal
    try:
        from ..render.text import Style, table
    except ImportError:  # pragma: no cover
        Style = table = None
    tot = totals(before, after)
    rows = []
    changed = [r for r in by_function(before, after) if r["self_energy_j_before"] or r["self_energy_j_after"]]
    hot = (style.hot if style is not None else (lambda s: s))
    for r in changed[:top]:
        d = r["self_delta_j"]
        sign = hot(f"{d:+.4g}") if d > 0 else f"{d:+.4g}"
        co2 = r["co2_delta_g"]
        rows.append([f"{r['self_energy_j_before']:.4g}", f"{r['self_energy_j_after']:.4g}", sign,
                     f"{r['self_delta_err_j']:.2g}", ("+" if co2 > 0 else "-" if co2 < 0 else "") + fmt_num(abs(co2), "g"),
                     visible(r["qualname"])])
    head = (f"Energy: {fmt_num(tot['energy_j_before'], 'J')} -> {fmt_num(tot['energy_j_after'], 'J')} "
            f"({tot['delta_j']:+.4g} ± {tot['delta_err_j']:.2g} J, {tot['delta_pct']:+.1f}%); CO2eq "
            f"{fmt_num(tot['co2_g_before'], 'g')} -> {fmt_num(tot['co2_g_after'], 'g')}")
    cols = ["before J", "after J", "change J", "± J", "CO2eq change", "function (self energy)"]
    if table is not None and style is not None:
        lines = [style.bold(head), ""] + table(cols, rows, ">>>>><", style)
    else:
        widths = [max(len(str(x)) for x in col) for col in zip(cols, *rows)]
        fmt_row = lambda r: "  ".join(str(c).rjust(w) if i < 5 else str(c) for i, (c, w) in enumerate(zip(r, widths)))
        lines = [head, "", fmt_row(cols)] + [fmt_row(r) for r in rows]
    note = "within sampling error" if abs(tot["delta_j"]) <= 2 * tot["delta_err_j"] else None
    if note:
        lines.append(f"(the total change is {note}: ± is the combined sampling error, 1σ)")
    return "\n".join(lines) + "\n"


def main(args) -> int:
    from .. import diff
    from .report import profile_from_args  # loaded lazily: report's loading and attribution

    before = profile_from_args(args.before, args)
    after = profile_from_args(args.after, args)
    tot = diff.totals(before, after)
    names = (os.path.basename(args.before), os.path.basename(args.after))
    if args.format == "collapsed":
        out = diff.difffolded(before, after)
    elif args.format == "svg":
        out = diff.flame_svg(before, after, title=f"Energy diff: {names[0]} → {names[1]}")
    elif args.format == "html":
        out = diff.flame_html(before, after, names=names, top=max(args.top, 30))
    else:
        style = None
        try:
            from ..render.text import Style, use_color
            style = Style(use_color(vars(args), sys.stdout if not args.output else None))
        except ImportError:  # pragma: no cover
            pass
        out = text_report(before, after, args.top, style)
    if args.output and args.output != "-":
        from ..safe_write import write_file
        write_file(args.output, out)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(out)
    if args.fail_if_increase is not None and tot["delta_pct"] > args.fail_if_increase:
        print(f"pyprof-carbon: energy rose {tot['delta_pct']:.1f}% (> {args.fail_if_increase:g}%)", file=sys.stderr)
        return 1
    return 0
