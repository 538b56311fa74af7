"""`pyprof-carbon diff BEFORE AFTER`: what an optimization saved (or cost), per function."""
from __future__ import annotations

import sys

from ..errors import UserError


def register(sub) -> None:
    from .. import carbon
    p = sub.add_parser("diff", help="compare two recordings: joules and CO2 saved or added per function")
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--format", choices=("text", "collapsed"), default="text",
                   help="text table, or `collapsed`: difffolded stacks (stack before_uJ after_uJ)")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--fail-if-increase", type=float, metavar="PCT", default=None,
                   help="exit 1 when total energy rose by more than PCT percent (a CI gate)")
    p.add_argument("--attribution", choices=("share", "active", "dynamic"), default=None)
    carbon.add_arguments(p)
    p.set_defaults(func=main, pue=None)


def main(args) -> int:
    from ..diff import by_function, difffolded, totals
    from ..render.text import Style, fmt_g, fmt_j, table, use_color
    from .report import profile_from_args

    before = profile_from_args(args.before, args)
    after = profile_from_args(args.after, args)
    tot = totals(before, after)
    if args.format == "collapsed":
        out = difffolded(before, after)
    else:
        style = Style(use_color(vars(args), sys.stdout if not args.output else None))
        rows = []
        for r in by_function(before, after)[:args.top]:
            d = r["self_delta_j"]
            sign = style.hot(f"{d:+.4g}") if d > 0 else f"{d:+.4g}"
            rows.append([f"{r['self_energy_j_before']:.4g}", f"{r['self_energy_j_after']:.4g}", sign,
                         f"{r['self_delta_err_j']:.2g}", fmt_g(r["co2_delta_g"]), r["qualname"]])
        lines = [style.bold(f"Energy: {fmt_j(tot['energy_j_before'])} -> {fmt_j(tot['energy_j_after'])} "
                            f"({tot['delta_j']:+.4g} J, {tot['delta_pct']:+.1f}%); CO2eq "
                            f"{fmt_g(tot['co2_g_before'])} -> {fmt_g(tot['co2_g_after'])}"), ""]
        lines += table(["before J", "after J", "change J", "± J", "CO2eq change", "function (self energy)"],
                       rows, ">>>>><", style)
        out = "\n".join(lines) + "\n"
    if args.output:
        try:
            with open(args.output, "w") as f:
                f.write(out)
        except OSError as e:
            raise UserError(f"cannot write {args.output}: {e.strerror}") from None
    else:
        sys.stdout.write(out)
    if args.fail_if_increase is not None and tot["delta_pct"] > args.fail_if_increase:
        print(f"pyprof-carbon: energy rose {tot['delta_pct']:.1f}% (> {args.fail_if_increase:g}%)", file=sys.stderr)
        return 1
    return 0
